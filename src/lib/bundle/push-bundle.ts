/**
 * `airlock bundle push FILE --to REGISTRY[/PROJECT]`: every image of a bundle into a registry or
 * Harbor project, named by the mirror's rules (`--naming`, else the rule the bundle recorded from
 * its spec, else flatten as `airlock mirror` does), digests kept: the copy engine sends only blobs
 * the registry lacks, verifies each one as it streams out of the bundle, and tags an image only
 * after all its blobs and manifests are there. Without --to, images go where the spec that made the
 * bundle said. A failure never stops the other images (exit 3).
 */
import { BlobLedger } from '../copy/blob-ledger.js'
import { copyImage } from '../copy/copy-image.js'
import type { CopyEventHandler } from '../copy/events.js'
import { runPool } from '../copy/pool.js'
import { AirlockError, toAirlockError } from '../errors.js'
import { HarborClient } from '../harbor/client.js'
import { harborHost, projectName } from '../harbor/project-name.js'
import { parsePlatform } from '../manifest.js'
import { parseNaming, targetRepository } from '../mirror/naming.js'
import type { Naming } from '../mirror/types.js'
import { parseDockerRef } from '../reference.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import { ANN } from './layout.js'
import { Bundle, type BundleImage } from './open-bundle.js'
import { type BundleProgress, BundleProgressModel, planBlobs } from './progress.js'

export interface PushBundleOptions {
  /** `host[:port]` or `host[:port]/project[/path]`. */
  to?: string
  naming?: string
  /** Only these images (their references in the bundle; default all). */
  images?: string[]
  platforms?: string[]
  registry?: RegistryOptions
  /** Images pushed at once (default 2: blobs already go several at a time). */
  concurrency?: number
  jobs?: number
  dryRun?: boolean
  /**
   * Harbor's URL (its API), when the registry of --to is a Harbor: the project is then looked up
   * before anything is sent, and created with `createProject`.
   */
  harbor?: string
  createProject?: boolean
  signal?: AbortSignal
  onImage?: (r: PushedImage) => void
  /**
   * Bytes sent or checked so far, of `total`: every image's blobs read from the bundle before
   * anything is sent, each (target repository, digest) counted once; fixed from the first byte.
   */
  onProgress?: BundleProgress
}

export interface PushedImage {
  reference: string
  target: string
  action: 'pushed' | 'present' | 'planned' | 'failed'
  digest: string
  bytes: number
  blobs?: { total: number; sent: number; present: number }
  seconds: number
  error?: { code: string; message: string; hint?: string }
}

export interface PushBundleReport {
  bundle: string
  images: PushedImage[]
  totals: { images: number; pushed: number; present: number; failed: number; bytes: number }
  exitCode: number
}

interface Destination {
  host: string
  project?: string
}

export function parseTo(to: string): Destination {
  const text = to.replace(/^docker:\/\//, '').replace(/\/+$/, '')
  const slash = text.indexOf('/')
  const host = harborHost(slash < 0 ? text : text.slice(0, slash))
  if (slash < 0) return { host }
  const path = text.slice(slash + 1)
  const [first, ...rest] = path.split('/')
  // Harbor project names are lowercase (the group name users know may have capitals).
  return { host, project: [projectName(first).name, ...rest.map((p) => p.toLowerCase())].join('/') }
}

/** Where one image of the bundle goes. */
export function targetOf(
  image: BundleImage,
  dest: Destination | undefined,
  naming: Naming | undefined,
): string {
  let source: ReturnType<typeof parseDockerRef>
  try {
    source = parseDockerRef(image.reference)
  } catch {
    throw new AirlockError(
      'INVALID_INPUT',
      `image ${image.reference} of the bundle has no reference to name it by`,
      {
        hint: 'push it by digest with airlock copy oci-archive:FILE:@N docker://REGISTRY/REPO@DIGEST',
      },
    )
  }
  const suffix = source.digest && !source.tag ? `@${source.digest}` : `:${source.tag ?? 'latest'}`
  if (!dest) {
    const recorded = image.annotations[ANN.target]
    if (!recorded) {
      throw new AirlockError('INVALID_INPUT', `the bundle does not say where ${image.reference} goes`, {
        hint: 'give --to REGISTRY[/PROJECT] (only bundles made from a mirror spec record a target)',
      })
    }
    return recorded
  }
  const rule =
    naming ??
    (image.annotations[ANN.naming]
      ? parseNaming(image.annotations[ANN.naming])
      : { kind: 'flatten' as const })
  const repo = targetRepository(
    source,
    { naming: rule, target: image.annotations[ANN.targetPath] },
    { target: dest.host, project: dest.project, naming: rule },
  )
  return `${repo}${suffix}`
}

export async function pushBundle(file: string, opts: PushBundleOptions = {}): Promise<PushBundleReport> {
  const signal = opts.signal ?? new AbortController().signal
  const dest = opts.to ? parseTo(opts.to) : undefined
  const naming = opts.naming ? parseNaming(opts.naming) : undefined
  const bundle = await Bundle.open(file, signal)
  try {
    let chosen = bundle.images
    if (opts.images?.length) {
      const missing = opts.images.filter(
        (r) => !bundle.images.some((i) => i.reference === r || sameRef(i.reference, r)),
      )
      if (missing.length) {
        throw new AirlockError('INVALID_INPUT', `not in ${file}: ${missing.join(', ')}`, {
          hint: `see what it holds with airlock bundle list ${file}`,
        })
      }
      chosen = bundle.images.filter((i) =>
        opts.images?.some((r) => i.reference === r || sameRef(i.reference, r)),
      )
    }
    // Every target is known (and valid) before anything is sent.
    const planned = chosen.map((image) => ({ image, target: targetOf(image, dest, naming) }))
    if (opts.harbor || opts.createProject)
      await prepareProjects(
        planned.map((p) => p.target),
        opts,
      )
    const images: PushedImage[] = new Array(planned.length)
    const progress = new BundleProgressModel(opts.onProgress, 'sending')
    if (opts.onProgress && !opts.dryRun) {
      // The plan comes out of the bundle itself (index.json and manifests): no request is sent.
      const platforms = opts.platforms?.map(parsePlatform)
      await progress.planAll(
        planned.length,
        4,
        async (i) => {
          const src = await bundle.reference(planned[i]!.image).newSource({ signal })
          try {
            return { repo: repositoryOf(planned[i]!.target), blobs: await planBlobs(src, platforms) }
          } finally {
            await src.close()
          }
        },
        signal,
      )
    }
    // One ledger for the whole push: a layer shared by several images is sent once per repository.
    const ledger = new BlobLedger()
    await runPool(
      planned.map((p, i) => [p, i] as const),
      Math.max(1, opts.concurrency ?? 2),
      async ([p, i]) => {
        images[i] = await pushOne(
          bundle,
          p.image,
          p.target,
          { ...opts, events: progress.eventsFor(i), ledger },
          signal,
        )
        opts.onImage?.(images[i])
      },
      signal,
    ).catch((err) => {
      if (!signal.aborted) throw err
    })
    planned.forEach((p, i) => {
      images[i] ??= {
        reference: p.image.reference,
        target: p.target,
        action: 'failed',
        digest: p.image.digest,
        bytes: 0,
        seconds: 0,
        error: { code: 'INTERRUPTED', message: 'not started: the run was interrupted' },
      }
    })
    const count = (a: PushedImage['action']) => images.filter((i) => i.action === a).length
    const totals = {
      images: images.length,
      pushed: count('pushed'),
      present: count('present'),
      failed: count('failed'),
      bytes: images.reduce((n, i) => n + i.bytes, 0),
    }
    return {
      bundle: bundle.files.base,
      images,
      totals,
      exitCode:
        signal.aborted || (totals.failed && totals.failed === images.length) ? 1 : totals.failed ? 3 : 0,
    }
  } finally {
    await bundle.close()
  }
}

/** The repository an image goes to (`host/path`), as the ledger keys its blobs. */
function repositoryOf(target: string): string {
  const ref = parseDockerRef(target)
  return `${ref.registry}/${ref.repository}`
}

function sameRef(a: string, b: string): boolean {
  try {
    return parseDockerRef(a).toString() === parseDockerRef(b).toString()
  } catch {
    return false
  }
}

async function pushOne(
  bundle: Bundle,
  image: BundleImage,
  target: string,
  opts: PushBundleOptions & { events?: CopyEventHandler; ledger: BlobLedger },
  signal: AbortSignal,
): Promise<PushedImage> {
  const started = performance.now()
  const base = { reference: image.reference, target, digest: image.digest }
  if (opts.dryRun) return { ...base, action: 'planned', bytes: 0, seconds: 0 }
  try {
    const r = await copyImage(bundle.reference(image), `docker://${target}`, {
      platforms: opts.platforms?.map(parsePlatform),
      jobs: opts.jobs ?? 4,
      ledger: opts.ledger,
      signal,
      onEvent: opts.events,
      destination: { registry: opts.registry },
    })
    return {
      ...base,
      digest: r.destinationDigest,
      action: r.upToDate ? 'present' : 'pushed',
      bytes: r.bytes.copied,
      blobs: { total: r.blobs.total, sent: r.blobs.copied, present: r.blobs.skipped + r.blobs.mounted },
      seconds: (performance.now() - started) / 1000,
    }
  } catch (err) {
    const e = toAirlockError(err)
    return {
      ...base,
      action: 'failed',
      bytes: 0,
      seconds: (performance.now() - started) / 1000,
      error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) },
    }
  }
}

/**
 * The Harbor projects the targets go into exist (created when asked): a push into a missing project
 * would otherwise fail image by image with Harbor's 401.
 */
async function prepareProjects(targets: string[], opts: PushBundleOptions): Promise<void> {
  const byHost = new Map<string, Set<string>>()
  for (const t of targets) {
    const ref = parseDockerRef(t)
    if (!ref.repository.includes('/')) continue
    const projects = byHost.get(ref.registry) ?? new Set()
    projects.add(ref.repository.split('/')[0]!)
    byHost.set(ref.registry, projects)
  }
  for (const [host, projects] of byHost) {
    const harbor = new HarborClient({ url: opts.harbor ?? host, registryOptions: opts.registry })
    for (const project of projects) {
      await harbor.ensureProject(project, {
        create: opts.createProject ?? false,
        dryRun: opts.dryRun,
        missingHint:
          'create it in Harbor, or add --create-project (needs an account allowed to create projects)',
      })
    }
  }
}
