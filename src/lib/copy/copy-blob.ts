/**
 * Copies one blob: reuse it at the destination if possible (sent earlier in this run, present, or
 * mounted from another repository of the same registry), else stream it from the source through a
 * DigestVerifier into the destination.
 *
 * Retries (src/lib/http/retry.ts): requests are retried by the HTTP layer, bodies included where
 * they are read whole. What it cannot replay is a blob whose bytes were already flowing: a source
 * stream broken after its headers, or an upload whose streamed body failed. Only those restart
 * here, from the source, within the same `retries` budget. Local disk errors are never retried.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { DigestVerifier } from '../digest.js'
import { AirlockError, localIoError } from '../errors.js'
import type { Descriptor } from '../manifest.js'
import type { ImageDestination, ImageReference, ImageSource } from '../transports/transport.js'
import type { BlobLedger } from './blob-ledger.js'
import type { CopyEventHandler } from './events.js'

export interface BlobCopyOptions {
  signal: AbortSignal
  retries: number
  onEvent?: CopyEventHandler
  mount: boolean
  /** What this run has sent where (src/lib/copy/blob-ledger.ts). */
  ledger?: BlobLedger
}

export type BlobAction = 'copied' | 'exists' | 'mounted'

export async function copyBlob(
  src: ImageSource,
  dst: ImageDestination,
  desc: Descriptor,
  opts: BlobCopyOptions,
): Promise<BlobAction> {
  const { ledger } = opts
  const key = dst.blobKey
  if (!ledger || !key) return reuseOrSend(src, dst, desc, opts, src.reference)
  const claim = await ledger.claim(key, desc.digest, opts.signal, opts.mount ? dst.mountKey : undefined)
  if (claim.kind === 'present') {
    opts.onEvent?.({ type: 'blob-done', digest: desc.digest, size: desc.size, action: 'exists' })
    return 'exists'
  }
  try {
    const from = dst.mountKey ? ledger.mountSource(dst.mountKey, desc.digest, dst.reference) : undefined
    const action = await reuseOrSend(src, dst, desc, opts, from ?? src.reference)
    claim.commit(dst.mountKey ? { mountKey: dst.mountKey, reference: dst.reference } : undefined)
    return action
  } catch (err) {
    claim.fail(err, opts.signal.aborted)
    throw err
  }
}

async function reuseOrSend(
  src: ImageSource,
  dst: ImageDestination,
  desc: Descriptor,
  opts: BlobCopyOptions,
  mountFrom: ImageReference,
): Promise<BlobAction> {
  const reused = await dst.tryReuseBlob(desc, opts.mount ? { mountFrom } : {})
  if (reused) {
    opts.onEvent?.({ type: 'blob-done', digest: desc.digest, size: desc.size, action: reused })
    return reused
  }
  for (let attempt = 0; ; attempt++) {
    let sent = 0
    const phase = { streaming: false }
    try {
      opts.onEvent?.({ type: 'blob-start', digest: desc.digest, size: desc.size })
      await streamBlob(src, dst, desc, opts, phase, (n) => {
        sent += n
        opts.onEvent?.({ type: 'blob-progress', digest: desc.digest, delta: n })
      })
      opts.onEvent?.({ type: 'blob-done', digest: desc.digest, size: desc.size, action: 'copied' })
      return 'copied'
    } catch (err) {
      if (opts.signal.aborted) throw err
      const e = asAirlock(err, desc, dst)
      // Only a blob whose bytes were flowing is started again; requests were retried below.
      if (!phase.streaming || !e.retryable || attempt >= opts.retries) throw e
      if (sent) opts.onEvent?.({ type: 'blob-progress', digest: desc.digest, delta: -sent })
      opts.onEvent?.({ type: 'blob-retry', digest: desc.digest, attempt: attempt + 1, error: e.message })
      await sleep(250 * 2 ** attempt, undefined, { signal: opts.signal })
    }
  }
}

async function streamBlob(
  src: ImageSource,
  dst: ImageDestination,
  desc: Descriptor,
  opts: BlobCopyOptions,
  phase: { streaming: boolean },
  onBytes: (n: number) => void,
): Promise<void> {
  const { stream, size } = await src.getBlob(desc)
  phase.streaming = true
  if (size >= 0 && size !== desc.size) {
    stream.destroy()
    throw new AirlockError(
      'SIZE_MISMATCH',
      `blob ${desc.digest}: source has ${size} bytes, the manifest says ${desc.size}`,
      {
        hint: 'the source is corrupt; nothing was stored for this blob',
      },
    )
  }
  const verifier = new DigestVerifier(
    desc.digest,
    desc.size,
    `blob ${desc.digest} from ${src.reference}`,
    onBytes,
  )
  let streamError: unknown
  verifier.on('error', (e) => {
    streamError ??= e
  })
  stream.on('error', (e) => {
    streamError ??= e
    verifier.destroy(e)
  })
  const onAbort = () => stream.destroy(opts.signal.reason)
  opts.signal.addEventListener('abort', onAbort, { once: true })
  stream.pipe(verifier)
  try {
    await dst.putBlob(desc, verifier)
  } catch (err) {
    throw streamError ?? err
  } finally {
    opts.signal.removeEventListener('abort', onAbort)
  }
  if (streamError) throw streamError
  if (verifier.bytes !== desc.size) {
    throw new AirlockError(
      'SIZE_MISMATCH',
      `blob ${desc.digest}: ${verifier.bytes} bytes sent, expected ${desc.size}`,
    )
  }
}

/**
 * Any failure as an AirlockError: local disk errors name the destination and are final; a broken
 * stream (a plain Node error from a socket) may be tried again.
 */
function asAirlock(err: unknown, desc: Descriptor, dst: ImageDestination): AirlockError {
  if (err instanceof AirlockError) return err
  const io = localIoError(err, dst.reference.toString())
  if (io) return io
  return new AirlockError('UNREACHABLE', `copying blob ${desc.digest} failed: ${(err as Error).message}`, {
    cause: err,
    retryable: true,
    hint: 'the connection broke repeatedly; run the copy again: blobs already copied are not sent again',
  })
}
