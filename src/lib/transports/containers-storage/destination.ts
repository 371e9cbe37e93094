/**
 * Writing into podman's storage: the image is staged as containers/image's `dir:` layout in a
 * temporary directory (dir-import.ts), and commit runs `podman pull dir:DIR` then
 * `podman tag ID NAME`.
 *
 * - podman stores the manifest bytes it reads, so the image keeps the source's manifest digest:
 *   `podman image inspect` lists NAME@<digest> in RepoDigests and `podman image exists NAME@<digest>`
 *   holds, as after `podman pull` or `skopeo copy … containers-storage:NAME`. The config bytes are
 *   kept too (image ID = config digest).
 * - The pull names nothing (a dir: image is known by its ID); the tag names it only once it is
 *   whole, and moves the name off any image that had it, as `podman pull` does.
 * - A pull that fails leaves nothing behind: what it wrote to the storage is removed
 *   (leftovers.ts), and a failure for want of space names the full storage.
 *
 * The result is checked with `podman image inspect --format json`: the name points at the config
 * digest, and lists the manifest digest podman was given.
 */
import { mkdir } from 'node:fs/promises'
import { type LoadRequest, openLoadingDestination } from '../../engine/load-destination.js'
import { destinationName } from '../../engine/local-image.js'
import { lastLines, runPodman } from '../../engine/podman-cli.js'
import { AirlockError } from '../../errors.js'
import { isValidDigest } from '../../reference.js'
import type { EngineOptions, ImageDestination, TransportContext } from '../transport.js'
import { DirImportDestination, manifestForPodman } from './dir-import.js'
import { type LeftoverReport, removeLeftovers } from './leftovers.js'
import type { ContainersStorageReference } from './transport.js'

export async function openPodmanDestination(
  ref: ContainersStorageReference,
  ctx: TransportContext,
): Promise<ImageDestination> {
  const name = destinationName(ref.image, 'containers-storage')
  const opts = ref.engineOptions(ctx)
  // Fail before any byte moves when podman or its storage is unusable.
  await runPodman(['version', '--format', 'json'], opts, { signal: ctx.signal })
  return openLoadingDestination(ref, name, opts, 'podman-load', ctx, {
    stage: { open: (dir) => DirImportDestination.create(ref, dir), preservesDigests: true },
    load: (req) => podmanLoad(req, opts),
    current: () => podmanCurrentDigest(name.toString(), opts, ctx.signal),
  })
}

interface PodmanInspect {
  Id: string
  Digest?: string
  RepoTags?: string[] | null
  RepoDigests?: string[] | null
}

async function podmanInspect(
  name: string,
  opts: EngineOptions,
  signal?: AbortSignal,
): Promise<{ found?: PodmanInspect; stderr: string }> {
  const res = await runPodman(['image', 'inspect', '--format', 'json', name], opts, { signal, reject: false })
  try {
    return { found: (JSON.parse(res.stdout.trim() || '[]') as PodmanInspect[])[0], stderr: res.stderr }
  } catch {
    return { stderr: res.stderr }
  }
}

/** The manifest digest podman recorded first for the image `name` points at. */
async function podmanCurrentDigest(
  name: string,
  opts: EngineOptions,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const { found } = await podmanInspect(name, opts, signal)
  return found?.Digest && isValidDigest(found.Digest) ? found.Digest : undefined
}

async function podmanLoad(req: LoadRequest, opts: EngineOptions): Promise<string> {
  const wanted = req.name.toString()
  const id = req.configDigest.slice('sha256:'.length)
  const manifest = manifestForPodman(req.manifest)
  const existed = (await runPodman(['image', 'exists', id], opts, { reject: false })).exitCode === 0
  const since = Date.now()
  const undo = () =>
    removeLeftovers(
      {
        dir: req.file,
        manifest,
        configDigest: req.configDigest,
        existed,
        since,
        scratch: `${req.file}-cleanup`,
      },
      opts,
    )
  // podman's temporary files next to the staged image, in the directory the destination removes.
  const podmanTmp = `${req.file}-podman-tmp`
  await mkdir(podmanTmp, { recursive: true })
  const pull = await runPodman(['pull', '--quiet', `dir:${req.file}`], opts, {
    signal: req.signal,
    reject: false,
    tmpDir: podmanTmp,
  })
  if (pull.exitCode !== 0 || req.signal?.aborted) {
    const report = await undo()
    req.signal?.throwIfAborted()
    throw pullError(wanted, pull.stderr, report)
  }
  const pulled = /^[a-f0-9]{64}$/m.exec(pull.stdout)?.[0]
  if (pulled !== id || req.signal?.aborted) {
    await undo()
    req.signal?.throwIfAborted()
    throw new AirlockError(
      'EXEC_FAILED',
      `podman pull of the staged ${wanted} stored ${pulled ? `image ${pulled}` : 'no image'}, not ${req.configDigest}`,
      {
        hint: 'nothing was named and what the pull stored was removed; run `podman pull dir:DIR` by hand to see what podman does',
      },
    )
  }
  const tag = await runPodman(['tag', id, wanted], opts, { reject: false })
  if (tag.exitCode !== 0) {
    if (!existed) await undo()
    throw new AirlockError(
      'EXEC_FAILED',
      `podman tag ${id.slice(0, 12)} ${wanted} failed: ${lastLines(tag.stderr)}`,
      {
        hint: existed
          ? 'the image was stored; name it by hand with podman tag'
          : 'what the load stored was removed',
      },
    )
  }
  const { found, stderr } = await podmanInspect(wanted, opts)
  const named = found ? (found.Id.startsWith('sha256:') ? found.Id : `sha256:${found.Id}`) : undefined
  if (named !== req.configDigest) {
    throw new AirlockError(
      'EXEC_FAILED',
      named
        ? `podman stored the image, but ${wanted} points at ${named}, not ${req.configDigest}`
        : `podman did not name the image ${wanted}: ${lastLines(stderr)}`,
      { hint: 'check `podman images`; another podman command may have moved the name meanwhile' },
    )
  }
  const repoDigest = `${req.name.name}@${manifest.digest}`
  if (!found?.RepoDigests?.includes(repoDigest)) {
    throw new AirlockError(
      'EXEC_FAILED',
      `podman stored ${wanted} (image ${id.slice(0, 12)}), but not under manifest digest ${manifest.digest}: it lists ${found?.RepoDigests?.join(', ') || 'no digest'}`,
      {
        hint: 'the image is there with its layers and ID; its manifest digest is not the one copied. Check the podman version (`podman version`)',
      },
    )
  }
  return named
}

/** The error for a failed `podman pull dir:`: podman's reason, the full disk named, what was undone. */
function pullError(wanted: string, stderr: string, report: LeftoverReport): AirlockError {
  const reason = lastLines(stderr).replace(/^Error: /, '')
  const undone =
    report.left === 0
      ? `What the load had written was removed${report.removed ? ` (${report.removed} layer${report.removed === 1 ? '' : 's'})` : ''}: podman's storage holds what it held before.`
      : `podman's storage keeps ${report.left > 0 ? `${report.left} layer(s)` : 'layers'} of this load that airlock could not remove${report.problem ? ` (${report.problem})` : ''}; they hold space but no image.`
  const full = /no space left on device|disk quota exceeded/i.exec(reason)
  if (full) {
    const graphRoot = report.store?.graphRoot
    const path = [...reason.slice(0, full.index).matchAll(/(\/[^\s:"']+)/g)].pop()?.[1]
    if (path && graphRoot && !`${path}/`.startsWith(`${graphRoot}/`)) {
      return new AirlockError(
        'IO_FAILED',
        `podman could not store ${wanted}: ${full[0].toLowerCase()} in podman's temporary directory (writing ${path}): ${reason}`,
        {
          hint: `podman stages images in its temporary directory (TMPDIR, or image_copy_tmp_dir in containers.conf; /var/tmp by default): free space there or point it at a larger file system. ${undone}`,
        },
      )
    }
    return new AirlockError(
      'IO_FAILED',
      `podman could not store ${wanted}: ${full[0].toLowerCase()} in podman's storage ${graphRoot ?? '(its graphroot)'}: ${reason}`,
      {
        hint: `free space there (podman rmi or podman image prune images you no longer need), or give podman a larger storage (--root, or graphroot in storage.conf), then load again. ${undone}`,
      },
    )
  }
  return new AirlockError('EXEC_FAILED', `podman could not store ${wanted}: ${reason}`, {
    hint: `the reason above is podman's own; nothing was named. ${undone}`,
  })
}
