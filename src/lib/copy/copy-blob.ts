/**
 * Copies one blob: reuse it at the destination if possible (present, or mounted from the source
 * repository), else stream it from the source through a DigestVerifier into the destination.
 * Retryable failures (broken connections, 5xx, 429) start the blob again from the source.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { DigestVerifier } from '../digest.js'
import { AirlockError } from '../errors.js'
import type { Descriptor } from '../manifest.js'
import type { ImageDestination, ImageSource } from '../transports/transport.js'
import type { CopyEventHandler } from './events.js'

export interface BlobCopyOptions {
  signal: AbortSignal
  retries: number
  onEvent?: CopyEventHandler
  mount: boolean
}

export type BlobAction = 'copied' | 'exists' | 'mounted'

export async function copyBlob(
  src: ImageSource,
  dst: ImageDestination,
  desc: Descriptor,
  opts: BlobCopyOptions,
): Promise<BlobAction> {
  const reused = await dst.tryReuseBlob(desc, opts.mount ? { mountFrom: src.reference } : {})
  if (reused) {
    opts.onEvent?.({ type: 'blob-done', digest: desc.digest, size: desc.size, action: reused })
    return reused
  }
  for (let attempt = 1; ; attempt++) {
    let sent = 0
    try {
      opts.onEvent?.({ type: 'blob-start', digest: desc.digest, size: desc.size })
      await streamBlob(src, dst, desc, opts, (n) => {
        sent += n
        opts.onEvent?.({ type: 'blob-progress', digest: desc.digest, delta: n })
      })
      opts.onEvent?.({ type: 'blob-done', digest: desc.digest, size: desc.size, action: 'copied' })
      return 'copied'
    } catch (err) {
      if (opts.signal.aborted) throw err
      const retryable = err instanceof AirlockError ? err.retryable : true
      if (!retryable || attempt > opts.retries) throw asAirlock(err, desc)
      if (sent) opts.onEvent?.({ type: 'blob-progress', digest: desc.digest, delta: -sent })
      opts.onEvent?.({ type: 'blob-retry', digest: desc.digest, attempt, error: (err as Error).message })
      await sleep(250 * 2 ** (attempt - 1), undefined, { signal: opts.signal })
    }
  }
}

async function streamBlob(
  src: ImageSource,
  dst: ImageDestination,
  desc: Descriptor,
  opts: BlobCopyOptions,
  onBytes: (n: number) => void,
): Promise<void> {
  const { stream, size } = await src.getBlob(desc)
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

function asAirlock(err: unknown, desc: Descriptor): unknown {
  if (err instanceof AirlockError) return err
  return new AirlockError('UNREACHABLE', `copying blob ${desc.digest} failed: ${(err as Error).message}`, {
    cause: err,
    hint: 'the connection broke repeatedly; run the copy again: blobs already copied are not sent again',
  })
}
