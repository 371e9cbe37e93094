import { setMaxListeners } from 'node:events'

/**
 * Runs async work with at most `limit` tasks at once. The first failure aborts the rest (through
 * the returned signal) and is the error thrown; later failures caused by the abort are dropped.
 */
export async function runPool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, signal: AbortSignal) => Promise<void>,
  outer?: AbortSignal,
): Promise<void> {
  const controller = new AbortController()
  // One listener per blob in flight (streams, requests): more than Node's default warning level of 10.
  setMaxListeners(0, controller.signal)
  const onOuter = () => controller.abort(outer?.reason)
  outer?.addEventListener('abort', onOuter, { once: true })
  let next = 0
  let failure: { error: unknown } | undefined
  const worker = async () => {
    while (!failure && !controller.signal.aborted && next < items.length) {
      const item = items[next++]
      try {
        await work(item, controller.signal)
      } catch (error) {
        if (!failure) failure = { error }
        controller.abort(error)
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  } finally {
    outer?.removeEventListener('abort', onOuter)
  }
  if (failure) throw failure.error
  if (outer?.aborted) throw outer.reason
}
