/**
 * Progress of a bundle create or push, as one line: the total is known before any byte moves and
 * never changes afterwards. A planning step reads every image's manifests first (from the bundle
 * for a push; from the sources for a create, which costs one manifest request per image, plus one
 * per platform of an index), so the total is the bytes of every blob to send or check, each counted
 * once per destination repository (the run-wide ledger sends a blob to a repository once). A blob
 * found present or mounted counts as checked; a retried blob's bytes are taken back.
 */
import type { CopyEventHandler } from '../copy/events.js'
import { runPool } from '../copy/pool.js'
import { type Descriptor, isIndexType, type Platform, parseManifest, platformMatches } from '../manifest.js'
import type { ImageSource } from '../transports/transport.js'

/** Bytes done of `total` (fixed once the plan is known; 0 while resolving); `phase` names the step. */
export type BundleProgress = (done: number, total: number, phase?: string) => void

/** The blobs of each image manifest one copy will handle, by the manifest's digest. */
export type ImageBlobs = Map<string, Descriptor[]>

/**
 * What a copy of `src` with `platforms` will send or check, as copyImage narrows it: the top
 * manifest's blobs, or those of each (chosen) child of an index.
 */
export async function planBlobs(src: ImageSource, platforms: Platform[] | undefined): Promise<ImageBlobs> {
  const what = src.reference.toString()
  const top = await src.getManifest()
  const parsed = parseManifest(top.bytes, top.mediaType, what)
  const out: ImageBlobs = new Map()
  if (parsed.kind !== 'index') {
    out.set(top.digest, parsed.children)
    return out
  }
  const wanted = platforms ?? []
  const chosen = wanted.length
    ? parsed.children.filter((c) => wanted.some((w) => platformMatches(c.platform, w)))
    : parsed.children
  for (const child of wanted.length === 1 ? chosen.slice(0, 1) : chosen) {
    if (isIndexType(child.mediaType)) continue
    const m = await src.getManifest(child.digest)
    out.set(child.digest, parseManifest(m.bytes, child.mediaType, `${what}@${child.digest}`).children)
  }
  return out
}

/** One run's progress: planned images, then the copies' events counted against the fixed total. */
export class BundleProgressModel {
  /** Size of every (repository, digest) pair to send or check. */
  private readonly sizes = new Map<string, number>()
  /** Bytes counted so far per pair (may dip with a retry, never counted past the size). */
  private readonly counted = new Map<string, number>()
  private readonly plans = new Map<number, { repo: string; blobs: ImageBlobs }>()
  private doneBytes = 0
  private planned = false

  constructor(
    private readonly onProgress: BundleProgress | undefined,
    /** The phase once bytes move: "fetching", "sending". */
    private readonly working: string,
  ) {}

  get total(): number {
    let n = 0
    for (const s of this.sizes.values()) n += s
    return n
  }
  get done(): number {
    return this.doneBytes
  }

  /**
   * Plans every image (`plan(i)` gives its repository and blobs; an image that cannot be planned is
   * left out here and fails in its copy), `concurrency` at a time, telling "resolving N images".
   */
  async planAll(
    count: number,
    concurrency: number,
    plan: (i: number) => Promise<{ repo: string; blobs: ImageBlobs }>,
    signal: AbortSignal,
  ): Promise<void> {
    this.onProgress?.(0, 0, `resolving ${count} image${count === 1 ? '' : 's'}`)
    await runPool(
      Array.from({ length: count }, (_, i) => i),
      Math.max(1, concurrency),
      async (i) => {
        try {
          const p = await plan(i)
          this.plans.set(i, p)
          for (const descs of p.blobs.values())
            for (const d of descs) this.sizes.set(key(p.repo, d.digest), d.size)
        } catch {
          // The copy of this image reports the error.
        }
      },
      signal,
    ).catch(() => undefined)
    this.planned = true
    this.onProgress?.(0, this.total, this.working)
  }

  /** The events of image `i`'s copy, counted against its repository's pairs. */
  eventsFor(i: number): CopyEventHandler | undefined {
    if (!this.onProgress) return undefined
    const p = this.plans.get(i)
    if (!p) return undefined
    const credit = (digest: string, bytes: number | 'all') => {
      const k = key(p.repo, digest)
      const size = this.sizes.get(k)
      if (size === undefined) return
      const before = this.counted.get(k) ?? 0
      const after = bytes === 'all' ? Math.max(before, size) : before + bytes
      this.counted.set(k, after)
      this.doneBytes += clamp(after, size) - clamp(before, size)
    }
    return (e) => {
      switch (e.type) {
        case 'blob-progress':
          credit(e.digest, e.delta)
          break
        case 'blob-done':
          credit(e.digest, 'all')
          break
        case 'image':
          // A child manifest the destination has already: its blobs are there (checked).
          if (e.present) for (const d of p.blobs.get(e.digest) ?? []) credit(d.digest, 'all')
          break
        case 'up-to-date':
          for (const descs of p.blobs.values()) for (const d of descs) credit(d.digest, 'all')
          break
        default:
          return
      }
      if (this.planned) this.onProgress?.(this.doneBytes, this.total, this.working)
    }
  }
}

function key(repo: string, digest: string): string {
  return `${repo}\u0000${digest}`
}

function clamp(n: number, size: number): number {
  return Math.min(size, Math.max(0, n))
}
