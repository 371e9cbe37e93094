/**
 * `airlock sif build SRC -o OUT.sif` (or `OUT.sif SRC`): an image into a SIF file, through apptainer/singularity when
 * one is installed (--builder auto) or with the built-in converter: layers are flattened in one
 * streaming pass (whiteouts applied, owners kept), apptainer's /.singularity.d is added, the tar
 * stream goes straight into tar2sqfs (or mksquashfs, which writes inside the SIF at the partition
 * offset), and the SIF container is written around the squashfs. Nothing is extracted to disk; the
 * output appears only when complete.
 */
import { lstat, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { copyImage } from '../copy/copy-image.js'
import { findExecutable } from '../engine/index.js'
import { AirlockError } from '../errors.js'
import type { Platform } from '../manifest.js'
import { sha256OfFile } from '../sha256-file.js'
import { transportNames } from '../transports/index.js'
import type { TransportContext } from '../transports/transport.js'
import { apptainerUri, buildWithApptainer, type ExternalBuilder, findBuilder } from './apptainer-builder.js'
import { flattenInto } from './flatten.js'
import { openImageForSif } from './open-image.js'
import { preflightSif } from './preflight.js'
import { archCode } from './sif-format.js'
import { writeSif } from './sif-writer.js'
import { defSource, singularityFiles } from './singularity-d.js'
import { makeSquashfs, type SquashfsTool } from './squashfs.js'

export type BuilderChoice = 'auto' | ExternalBuilder | 'builtin'

export interface SifBuildOptions {
  builder?: BuilderChoice
  platform?: Platform
  /** Byte-identical output for the same input (nil ID, fixed times, the image's creation time). */
  reproducible?: boolean
  /**
   * apptainer's build directory (APPTAINER_TMPDIR), and where a docker-archive is staged for it.
   * The built-in converter needs none: its squashfs is written next to the output.
   */
  tmpDir?: string
  squashfsTool?: 'auto' | SquashfsTool
  /** Build even when the preflight says the output will not fit. */
  ignoreFreeSpace?: boolean
  /** Replace an existing output (apptainer build --force); without it one is refused (exit 2). */
  overwrite?: boolean
  context?: TransportContext
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /**
   * Bytes of the flattened (uncompressed) root filesystem handed to the squashfs tool so far; total
   * is the compressed size of the layers, a different measure (the uncompressed size is not known
   * before the layers are read), so it is no denominator.
   */
  onBytes?: (n: number, total: number) => void
  /** The built-in converter's steps as they begin. */
  onPhase?: (phase: SifBuildPhase) => void
}

export type SifBuildPhase = 'reading layers' | 'building squashfs' | 'writing SIF'

export interface SifBuildResult {
  builder: 'builtin' | ExternalBuilder
  source: string
  output: string
  size: number
  sha256: string
  arch?: string
  squashfsTool?: SquashfsTool
  seconds: number
}

/**
 * A bare `.tar` is a docker-archive (as apptainer's docker-archive:// takes `docker save` output).
 * apptainer's URI forms are read as apptainer reads them: `docker-archive://x.tar` is the relative
 * path x.tar, `docker-archive:///abs/x.tar` the absolute one; likewise oci-archive://, oci:// and
 * docker-daemon://.
 */
export function sifSourceReference(src: string): string {
  const uri = /^(docker-archive|oci-archive|oci|docker-daemon):\/\/(.*)$/s.exec(src)
  if (uri) return `${uri[1]}:${uri[2]}`
  const prefix = /^([a-z][a-z0-9-]*):/.exec(src)?.[1]
  if (prefix && transportNames().includes(prefix)) return src
  if (/\.(tar|tar\.gz|tgz)$/i.test(src)) return `docker-archive:${src}`
  return src
}

export async function buildSif(
  src: string,
  out: string,
  opts: SifBuildOptions = {},
): Promise<SifBuildResult> {
  const started = performance.now()
  const source = sifSourceReference(src)
  const output = resolve(out)
  const exists = await lstat(output).then(
    () => true,
    () => false,
  )
  if (exists && !opts.overwrite) {
    throw new AirlockError('INVALID_INPUT', `${out} already exists; it was left as it is`, {
      hint: 'add -F (--force) to overwrite it, as apptainer build -F does, or choose another output',
    })
  }
  const choice = opts.builder ?? 'auto'
  const env = opts.env ?? process.env
  if (choice !== 'builtin') {
    const wanted =
      choice === 'auto'
        ? await findBuilder(env)
        : await findExecutable(choice, env).then((path) => (path ? { name: choice, path } : undefined))
    if (wanted) return external(source, output, wanted, { ...opts, overwrite: exists }, started)
    if (choice !== 'auto') {
      throw new AirlockError('NOT_FOUND', `${choice} is not installed or not on PATH`, {
        hint: 'install it, or use --builder builtin (needs tar2sqfs or mksquashfs)',
      })
    }
  }
  return builtin(source, output, opts, started)
}

async function external(
  source: string,
  output: string,
  builder: { name: ExternalBuilder; path: string },
  opts: SifBuildOptions,
  started: number,
): Promise<SifBuildResult> {
  let uri = apptainerUri(source)
  let scratch: string | undefined
  try {
    if (!uri) {
      // apptainer cannot read this transport (podman storage): hand it a docker-archive.
      scratch = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'airlock-sif-'))
      const file = join(scratch, 'image.tar')
      await copyImage(source, `docker-archive:${file}`, {
        platforms: opts.platform ? [opts.platform] : undefined,
        signal: opts.signal,
        source: opts.context,
      })
      uri = `docker-archive://${file}`
    }
    const r = await buildWithApptainer(uri, output, {
      builder,
      tmpDir: opts.tmpDir,
      env: opts.env,
      signal: opts.signal,
      force: opts.overwrite,
    })
    return {
      builder: builder.name,
      source,
      output,
      size: r.size,
      sha256: (await sha256OfFile(output, { signal: opts.signal })).sha256,
      seconds: (performance.now() - started) / 1000,
    }
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true })
  }
}

async function builtin(
  source: string,
  output: string,
  opts: SifBuildOptions,
  started: number,
): Promise<SifBuildResult> {
  const image = await openImageForSif(source, {
    platform: opts.platform,
    context: opts.context,
    signal: opts.signal,
  })
  let scratch: string | undefined
  try {
    archCode(image.arch) // an architecture SIF cannot name is refused before any work
    const tool = opts.squashfsTool ?? 'auto'
    await preflightSif(output, image.layerBytes, { force: opts.ignoreFreeSpace, env: opts.env })
    const created = opts.reproducible ? (image.created ?? new Date(0)) : new Date()
    const files = singularityFiles(image.config, {
      ...defSource(source),
      arch: image.arch,
      variant: image.variant,
      created,
    })
    let done = 0
    const flattening = {
      extra: files.extra,
      signal: opts.signal,
      layerNames: image.layerNames,
      impliedMtime: created,
    }
    // A fresh tar stream per call: flattenInto calls again when the layers need a plan (flatten-plan.ts).
    opts.onPhase?.('reading layers')
    const rootfs = <T>(consume: (tar: Readable) => Promise<T>) =>
      flattenInto(image.layers, flattening, (tar) => {
        done = 0
        opts.onPhase?.('building squashfs')
        return consume(tar)
      }).finally(() => opts.onPhase?.('writing SIF'))
    const squashOpts = {
      reproducible: opts.reproducible,
      mtime: created,
      signal: opts.signal,
      env: opts.env,
      onBytes: (n: number) => {
        done += n
        opts.onBytes?.(done, image.layerBytes)
      },
    }
    const plan = {
      definition: files.deffile.toString('utf8'),
      json: { 'inspect-metadata.json': files.inspectMetadataJson, 'oci-config.json': files.ociConfigJson },
      arch: image.arch,
      reproducible: opts.reproducible,
      ...(opts.reproducible ? {} : { createdAt: created }),
    }
    let usedTool: SquashfsTool
    let written: Awaited<ReturnType<typeof writeSif>>
    if (tool === 'mksquashfs') {
      // mksquashfs writes the partition inside the SIF's temporary file: no extra disk at all.
      usedTool = 'mksquashfs'
      written = await writeSif(
        output,
        plan,
        {
          writeAt: async (tempPath, offset) => {
            await rootfs((tar) =>
              makeSquashfs(tar, { file: tempPath, offset }, { ...squashOpts, tool: 'mksquashfs' }),
            )
          },
        },
        { signal: opts.signal },
      )
    } else {
      // tar2sqfs writes a squashfs file next to the output; the SIF header is then put in front of
      // it in place (fallocate --insert-range) where the filesystem allows, else it is copied in.
      scratch = await mkdtemp(join(dirname(output), `.${basename(output)}.build-`))
      const sq = join(scratch, 'rootfs.squashfs')
      usedTool = (await rootfs((tar) => makeSquashfs(tar, { file: sq }, { ...squashOpts, tool }))).tool
      written = await writeSif(output, plan, { file: sq, consume: true }, { signal: opts.signal })
    }
    return {
      builder: 'builtin',
      source,
      output,
      size: written.size,
      sha256: written.sha256,
      arch: image.arch,
      squashfsTool: usedTool,
      seconds: (performance.now() - started) / 1000,
    }
  } catch (err) {
    throw interrupted(err, output, opts.signal)
  } finally {
    // Before the error reaches the command: a signal handled there exits right after reporting it.
    await image.close()
    if (scratch) await rm(scratch, { recursive: true, force: true })
  }
}

/**
 * After an abort, whatever step noticed it first ("flattening the layers was interrupted", a tool
 * killed, a closed pipe) is reported as the interrupted build, with the signal the command names.
 */
function interrupted(err: unknown, output: string, signal: AbortSignal | undefined): unknown {
  if (!signal?.aborted) return err
  const by = /\bSIG[A-Z]+\b/.exec(String((signal.reason as Error | undefined)?.message ?? ''))?.[0]
  return new AirlockError(
    'INTERRUPTED',
    `building ${output} was interrupted${by ? ` by ${by}` : ''}; nothing was written, no temporary file is left`,
    { cause: err },
  )
}
