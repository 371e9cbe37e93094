/**
 * Per-registry request limits for mirror runs: at most `concurrency` requests in flight (until their
 * response headers arrive) and at most `rps` requests started per second, as regsync's
 * `reqConcurrent` / `reqPerSec`. Plugged into the registry client as its `throttle`.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface Limits {
  concurrency?: number
  rps?: number
}

class HostLimiter {
  private active = 0
  private readonly waiting: Array<() => void> = []
  private nextStart = 0

  constructor(private readonly limits: Limits) {}

  async acquire(signal?: AbortSignal): Promise<() => void> {
    const max = this.limits.concurrency ?? Number.POSITIVE_INFINITY
    while (this.active >= max) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal?.reason)
        signal?.addEventListener('abort', onAbort, { once: true })
        this.waiting.push(() => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
    this.active++
    if (this.limits.rps && this.limits.rps > 0) {
      // Reserve the next start slot, then wait for it: starts are spaced 1/rps seconds apart.
      const now = Date.now()
      const at = Math.max(now, this.nextStart)
      this.nextStart = at + 1000 / this.limits.rps
      if (at > now) {
        try {
          await sleep(at - now, undefined, { signal })
        } catch (err) {
          this.release()
          throw err
        }
      }
    }
    let released = false
    return () => {
      if (released) return
      released = true
      this.release()
    }
  }

  private release(): void {
    this.active--
    this.waiting.shift()?.()
  }
}

/** One limiter per registry host; hosts without limits pass straight through. */
export class RateLimiter {
  private readonly hosts = new Map<string, HostLimiter>()

  constructor(private readonly limitsFor: (host: string) => Limits | undefined) {}

  readonly throttle = async (host: string, signal?: AbortSignal): Promise<() => void> => {
    let limiter = this.hosts.get(host)
    if (!limiter) {
      const limits = this.limitsFor(host)
      if (!limits || (!limits.concurrency && !limits.rps)) return () => undefined
      limiter = new HostLimiter(limits)
      this.hosts.set(host, limiter)
    }
    return limiter.acquire(signal)
  }
}
