/**
 * Reading from podman's storage: `podman push --compress ID dir:TMP` writes the image in the
 * manifest type podman stored it with, config bytes unchanged (so the image ID stays the config
 * digest) and layers gzip-compressed, into a temporary directory that close() removes. Nothing is
 * held in memory but manifests. See dir-export.ts for why not `oci:`.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { runPodman } from '../../engine/podman-cli.js'
import { resolveLocalImage } from '../../engine/resolve-image.js'
import { SpooledSource } from '../../engine/spooled-source.js'
import { makeTempDir } from '../../engine/temp-dir.js'
import type { ImageSource, TransportContext } from '../transport.js'
import { DirExportSource } from './dir-export.js'
import type { ContainersStorageReference } from './transport.js'

export async function openPodmanSource(
  ref: ContainersStorageReference,
  ctx: TransportContext,
): Promise<ImageSource> {
  const opts = ref.engineOptions(ctx)
  const image = await resolveLocalImage('podman', ref.query, opts)
  const tmp = await makeTempDir(opts, 'podman-export')
  try {
    const dir = join(tmp.path, 'image')
    const podmanTmp = join(tmp.path, 'podman-tmp')
    await mkdir(podmanTmp)
    await runPodman(
      [
        'push',
        '--quiet',
        '--remove-signatures',
        '--compress',
        '--compression-format',
        'gzip',
        image.id.slice('sha256:'.length),
        `dir:${dir}`,
      ],
      opts,
      { signal: ctx.signal, tmpDir: podmanTmp },
    )
    return new SpooledSource(ref, await DirExportSource.open(ref, dir, ctx.signal), tmp)
  } catch (err) {
    await tmp.remove()
    throw err
  }
}
