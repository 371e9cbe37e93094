/**
 * What one run (a mirror, a bundle push, the images of one index) has sent where, so that each blob
 * goes to a destination repository at most once even when several images that share it are copied
 * at the same time (tags of one repository sharing base layers: the most common real case).
 *
 * A blob is claimed by the first image that needs it at a destination (its `blobKey`); images that
 * need it meanwhile wait for that upload instead of starting their own, and then count it as
 * present. This also keeps a registry from seeing two uploads of one digest into one repository at
 * once, which Debian's distribution 2.8 answers, now and then, by losing the blob link that a
 * manifest PUT then misses (HTTP 400 "manifest blob unknown"). Blobs committed in one repository
 * are offered as mount sources to other repositories of the same registry (`mountKey`).
 *
 * An owner that fails hands the claim back: when the failure was its own interruption (another blob
 * of its image failed), a waiter takes the blob over; otherwise waiters fail with the same error, so
 * a blob that cannot be copied costs its retries once per run, not once per image.
 */
import type { ImageReference } from '../transports/transport.js'

interface Entry {
  /** Settles when the owner's upload ends: resolves when committed. */
  settled: Promise<void>
  state: 'running' | 'done' | 'failed' | 'abandoned'
  error?: unknown
}

/** A repository that holds blobs, as a mount source for others of the same registry. */
export interface BlobHolder {
  /** Destinations with the same mountKey (a registry host) can mount each other's blobs. */
  mountKey: string
  reference: ImageReference
}

export type Claim =
  | { kind: 'present' }
  | {
      kind: 'owner'
      commit: (holder?: BlobHolder) => void
      fail: (err: unknown, abandoned: boolean) => void
    }

export class BlobLedger {
  private readonly entries = new Map<string, Entry>()
  /** mountKey + digest → the upload of that blob under way to some repository of that registry. */
  private readonly sending = new Map<string, Entry>()
  /** mountKey → digest → a repository that holds the blob. */
  private readonly holders = new Map<string, Map<string, ImageReference>>()

  /**
   * Present (committed earlier in this run), or the claim to send it. Waits while another image is
   * sending it (to this repository, or to another of the same registry, `mountKey`, to mount it
   * from there afterwards); throws that image's error when its upload here failed for good.
   */
  async claim(blobKey: string, digest: string, signal?: AbortSignal, mountKey?: string): Promise<Claim> {
    const key = `${blobKey}\n${digest}`
    const near = mountKey ? `${mountKey}\n${digest}` : undefined
    for (;;) {
      signal?.throwIfAborted()
      const entry = this.entries.get(key)
      if (entry?.state === 'done') return { kind: 'present' }
      if (entry?.state === 'failed') throw entry.error
      if (entry?.state === 'running') {
        await untilSettledOrAborted(entry.settled, signal)
        continue
      }
      // Being sent to another repository of the same registry: wait, then mount it from there.
      const sibling = near ? this.sending.get(near) : undefined
      if (sibling) {
        await untilSettledOrAborted(sibling.settled, signal)
        continue
      }
      // Absent or abandoned: this image sends it.
      let settle!: { resolve: () => void; reject: (e: unknown) => void }
      const settled = new Promise<void>((resolve, reject) => {
        settle = { resolve, reject }
      })
      settled.catch(() => undefined)
      const mine: Entry = { settled, state: 'running' }
      this.entries.set(key, mine)
      if (near) {
        this.sending.set(near, mine)
        settled.then(
          () => this.sending.delete(near),
          () => this.sending.delete(near),
        )
      }
      return {
        kind: 'owner',
        commit: (holder) => {
          mine.state = 'done'
          settle.resolve()
          if (holder) this.remember(holder, digest)
        },
        fail: (err, abandoned) => {
          mine.state = abandoned ? 'abandoned' : 'failed'
          mine.error = err
          settle.reject(err)
        },
      }
    }
  }

  /** Records that `holder` holds `digest` (sent there, or found there). */
  private remember(holder: BlobHolder, digest: string): void {
    let byDigest = this.holders.get(holder.mountKey)
    if (!byDigest) {
      byDigest = new Map()
      this.holders.set(holder.mountKey, byDigest)
    }
    if (!byDigest.has(digest)) byDigest.set(digest, holder.reference)
  }

  /** Another repository of the same registry (`mountKey`) that holds `digest`, to mount it from. */
  mountSource(mountKey: string, digest: string, not: ImageReference): ImageReference | undefined {
    const found = this.holders.get(mountKey)?.get(digest)
    return found && found.toString() !== not.toString() ? found : undefined
  }
}

/** Resolves when `settled` settles (either way), rejects with the abort reason when `signal` aborts. */
async function untilSettledOrAborted(settled: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return settled.catch(() => undefined)
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    await Promise.race([
      settled.catch(() => undefined),
      new Promise<void>((_, reject) => {
        onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}
