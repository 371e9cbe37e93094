/**
 * The copy engine: copies an image (or a whole index, every platform by default) between any two
 * transports, keeping manifest bytes (so digests, and signatures over them, stay valid).
 *
 * Order, always: blobs (several at once), then image manifests by digest, then the index, then the
 * tag (`commit`). A copy stopped at any point leaves no tag pointing at missing content, and the
 * next run skips whatever already arrived. Nothing is held whole in memory but manifests.
 */
import { setMaxListeners } from 'node:events'
import { sha256Digest } from '../digest.js'
import { AirlockError, localIoError } from '../errors.js'
import { DEFAULT_RETRIES } from '../http/retry.js'
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  isIndexType,
  type ParsedManifest,
  type Platform,
  parseManifest,
  platformMatches,
} from '../manifest.js'
import { parseImageReference } from '../transports/index.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  RawManifest,
  TransportContext,
} from '../transports/transport.js'
import { BlobLedger } from './blob-ledger.js'
import { copyBlob } from './copy-blob.js'
import type { CopyEventHandler } from './events.js'
import { runPool } from './pool.js'

export interface CopyOptions {
  /** Platforms to copy from an index; all when empty or undefined. */
  platforms?: Platform[]
  /** Blobs in flight at once (default 6). */
  jobs?: number
  /**
   * Attempts after the first for a request that fails in a retryable way, and for a blob whose
   * stream broke (`--retry-times`; default 3). Sets both sides' RegistryOptions.retries where they
   * do not set it themselves. See src/lib/http/retry.ts.
   */
  retries?: number
  /**
   * What this run has sent where: pass one ledger to every copy of a run (mirror, bundle push) so
   * that a blob shared by several images goes to a destination repository once. Default: a ledger
   * of this copy alone.
   */
  ledger?: BlobLedger
  /** Try cross-repository mounts within one registry (default true). */
  mount?: boolean
  source?: TransportContext
  destination?: TransportContext
  signal?: AbortSignal
  onEvent?: CopyEventHandler
}

export interface CopyResult {
  source: string
  destination: string
  /** Digest of the top manifest read from the source. */
  sourceDigest: string
  /** Digest the destination now holds; equal to sourceDigest unless an index was narrowed. */
  destinationDigest: string
  mediaType: string
  platforms: string[]
  /** True when the destination already had this digest and nothing was sent. */
  upToDate: boolean
  /** True when --platform narrowed an index to several platforms and a new index was written. */
  indexRewritten: boolean
  /**
   * False when a side does not keep manifest bytes (engine storage, docker-archive): the image's
   * config and layer contents are the same, but the manifest digest at the destination (or the
   * source's synthesized one) differs from the original's. `airlock copy` between registries and
   * OCI layouts keeps them.
   */
  digestsPreserved: boolean
  manifests: { total: number; written: number; present: number }
  blobs: { total: number; copied: number; skipped: number; mounted: number }
  bytes: { total: number; copied: number }
  seconds: number
}

interface ImagePlan {
  manifest: RawManifest
  parsed?: ParsedManifest
  platform?: Platform
  present: boolean
}

export async function copyImage(
  source: string | ImageReference,
  destination: string | ImageReference,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const started = performance.now()
  const srcRef = typeof source === 'string' ? parseImageReference(source) : source
  const dstRef = typeof destination === 'string' ? parseImageReference(destination) : destination
  const signal = options.signal ?? new AbortController().signal
  setMaxListeners(0, signal)
  const jobs = Math.max(1, options.jobs ?? 6)
  const src = await srcRef.newSource(withRetryTimes(options.source, options.retries, signal))
  let dst: ImageDestination | undefined
  try {
    dst = await dstRef.newDestination(withRetryTimes(options.destination, options.retries, signal))
    return await run(src, dst, options, jobs, signal, started)
  } catch (err) {
    if (!signal.aborted) throw localIoError(err) ?? err
    if (signal.reason instanceof AirlockError) throw signal.reason
    throw new AirlockError(
      'INTERRUPTED',
      `copy of ${srcRef} to ${dstRef} was interrupted; nothing was tagged`,
      {
        cause: err,
        hint: 'run the same copy again: blobs already copied are not sent again',
      },
    )
  } finally {
    await dst?.close()
    await src.close()
  }
}

async function run(
  src: ImageSource,
  dst: ImageDestination,
  options: CopyOptions,
  jobs: number,
  signal: AbortSignal,
  started: number,
): Promise<CopyResult> {
  const emit = options.onEvent
  const what = src.reference.toString()
  const original = await src.getManifest()
  let top = original
  let parsed = parseManifest(top.bytes, top.mediaType, what)
  top = { ...top, mediaType: parsed.mediaType }
  let indexRewritten = false

  let wanted = options.platforms ?? []
  // A destination that holds one image (an engine, a docker-archive) gets one platform: the first
  // asked for, else this machine's, as `podman pull` and `skopeo copy` choose.
  const singleImage =
    dst.supportedManifestTypes !== undefined && !dst.supportedManifestTypes.some((t) => isIndexType(t))
  if (parsed.kind === 'index' && singleImage) wanted = [wanted[0] ?? hostPlatform()]
  if (parsed.kind === 'index' && wanted.length) {
    const chosen = parsed.children.filter((c) => wanted.some((w) => platformMatches(c.platform, w)))
    if (!chosen.length) {
      throw new AirlockError(
        'NOT_FOUND',
        `${what} has no image for ${wanted.map(formatPlatform).join(', ')}`,
        {
          hint: `platforms in the index: ${parsed.children.map((c) => formatPlatform(c.platform)).join(', ')}; choose one with --platform`,
        },
      )
    }
    if (wanted.length === 1 && chosen.length >= 1) {
      top = await src.getManifest(chosen[0].digest)
      parsed = parseManifest(top.bytes, chosen[0].mediaType, `${what}@${chosen[0].digest}`)
      top = { ...top, mediaType: parsed.mediaType }
    } else if (chosen.length < parsed.children.length) {
      top = narrowIndex(top, chosen)
      parsed = parseManifest(top.bytes, top.mediaType, what)
      indexRewritten = true
    }
  }
  if (dst.supportedManifestTypes && !dst.supportedManifestTypes.includes(top.mediaType)) {
    throw new AirlockError('UNSUPPORTED', `${dst.reference} cannot store ${top.mediaType} manifests`)
  }
  emit?.({
    type: 'resolved',
    source: what,
    destination: dst.reference.toString(),
    digest: top.digest,
    mediaType: top.mediaType,
  })

  const result: CopyResult = {
    source: what,
    destination: dst.reference.toString(),
    sourceDigest: original.digest,
    destinationDigest: top.digest,
    mediaType: top.mediaType,
    platforms: [],
    upToDate: false,
    indexRewritten,
    digestsPreserved:
      src.capabilities.preservesDigests !== false && dst.capabilities.preservesDigests !== false,
    manifests: { total: 0, written: 0, present: 0 },
    blobs: { total: 0, copied: 0, skipped: 0, mounted: 0 },
    bytes: { total: 0, copied: 0 },
    seconds: 0,
  }

  if ((await dst.currentDigest()) === top.digest) {
    const images = parsed.kind === 'index' ? parsed.children : [undefined]
    result.platforms = images.map((c) => formatPlatform(c?.platform)).filter((p) => p !== 'unknown')
    result.upToDate = true
    const manifests = images.length + (parsed.kind === 'index' ? 1 : 0)
    result.manifests = { total: manifests, written: 0, present: manifests }
    emit?.({ type: 'up-to-date', digest: top.digest })
    result.seconds = (performance.now() - started) / 1000
    return result
  }

  // The images to copy: the top manifest itself, or the children of the index.
  const plans: ImagePlan[] = []
  if (parsed.kind === 'index') {
    const children = parsed.children
    const planned = new Array<ImagePlan>(children.length)
    await runPool(
      children.map((c, i) => [c, i] as const),
      jobs,
      async ([child, i]) => {
        planned[i] = await planChild(src, dst, child, what)
      },
      signal,
    )
    plans.push(...planned)
  } else {
    plans.push({ manifest: top, parsed, present: false })
  }

  // Blobs of every image not already present, each once.
  const blobs = new Map<string, Descriptor>()
  for (const plan of plans) {
    const descs = plan.parsed?.children ?? []
    for (const d of descs) if (!blobs.has(d.digest)) blobs.set(d.digest, d)
    result.platforms.push(formatPlatform(plan.platform ?? undefined))
    emit?.({
      type: 'image',
      digest: plan.manifest.digest,
      platform: formatPlatform(plan.platform),
      blobs: descs.map((d) => d.digest),
      sizes: descs.map((d) => d.size),
      bytes: descs.reduce((n, d) => n + d.size, 0),
      present: plan.present,
    })
  }
  result.platforms = result.platforms.filter((p) => p !== 'unknown')
  result.blobs.total = blobs.size
  for (const d of blobs.values()) result.bytes.total += d.size

  const ledger = options.ledger ?? new BlobLedger()
  // Capabilities, not transport names, decide how blobs move.
  const blobJobs = src.capabilities.concurrentBlobs && dst.capabilities.concurrentBlobs ? jobs : 1
  await runPool(
    [...blobs.values()].sort((a, b) => b.size - a.size),
    blobJobs,
    async (desc, poolSignal) => {
      const action = await copyBlob(src, dst, desc, {
        signal: poolSignal,
        retries: options.retries ?? options.destination?.registry?.retries ?? DEFAULT_RETRIES,
        ledger,
        onEvent: emit,
        mount: (options.mount ?? true) && dst.capabilities.canMount,
      })
      if (action === 'copied') {
        result.blobs.copied++
        result.bytes.copied += desc.size
      } else if (action === 'mounted') result.blobs.mounted++
      else result.blobs.skipped++
    },
    signal,
  )

  // Manifests: children by digest, then the top one (image or index) and the tag. A destination that
  // does both in one request (PUT by tag) stores the top manifest in commit itself.
  const children = plans.filter((p) => !p.present && p.manifest !== top).map((p) => p.manifest)
  await runPool(
    children,
    jobs,
    async (m) => {
      await dst.putManifest(m)
      emit?.({ type: 'manifest', digest: m.digest, mediaType: m.mediaType })
    },
    signal,
  )
  result.manifests = {
    total: plans.length + (parsed.kind === 'index' ? 1 : 0),
    written: children.length + 1,
    present: plans.filter((p) => p.present).length,
  }
  if (!dst.capabilities.commitStoresManifest) await dst.putManifest(top)
  signal.throwIfAborted()
  await dst.commit(top)
  emit?.({ type: 'manifest', digest: top.digest, mediaType: top.mediaType })
  emit?.({ type: 'commit', digest: top.digest, destination: dst.reference.toString() })
  result.seconds = (performance.now() - started) / 1000
  return result
}

async function planChild(
  src: ImageSource,
  dst: ImageDestination,
  child: Descriptor,
  what: string,
): Promise<ImagePlan> {
  if (isIndexType(child.mediaType)) {
    throw new AirlockError('UNSUPPORTED', `${what} nests an index inside an index (${child.digest})`, {
      hint: 'copy the inner index by its digest instead',
    })
  }
  if (await dst.hasManifest(child.digest)) {
    return {
      manifest: { bytes: Buffer.alloc(0), mediaType: child.mediaType, digest: child.digest },
      platform: child.platform,
      present: true,
    }
  }
  const manifest = await src.getManifest(child.digest)
  const parsed = parseManifest(manifest.bytes, child.mediaType, `${what}@${child.digest}`)
  return {
    manifest: { ...manifest, mediaType: parsed.mediaType },
    parsed,
    platform: child.platform,
    present: false,
  }
}

/** A new index holding only `chosen`; every other field kept. Its digest differs from the original. */
function narrowIndex(top: RawManifest, chosen: Descriptor[]): RawManifest {
  const doc = JSON.parse(top.bytes.toString('utf8'))
  const keep = new Set(chosen.map((c) => c.digest))
  doc.manifests = doc.manifests.filter((m: Descriptor) => keep.has(m.digest))
  const bytes = Buffer.from(JSON.stringify(doc))
  return { bytes, mediaType: top.mediaType, digest: sha256Digest(bytes) }
}

/** A side's context with the copy's signal, and `--retry-times` where the side sets no retries. */
function withRetryTimes(
  ctx: TransportContext | undefined,
  retries: number | undefined,
  signal: AbortSignal,
): TransportContext {
  if (retries === undefined || ctx?.registry?.retries !== undefined) return { ...ctx, signal }
  return { ...ctx, registry: { ...ctx?.registry, retries }, signal }
}
