/**
 * The one retry policy of every HTTP exchange airlock makes (registry API, token service, Harbor
 * API): which failures are worth another attempt, how many attempts there are, and how long to wait
 * between them. See docs/architecture.md, "Retries".
 *
 * `retries: N` means at most N+1 attempts of one request, the response body included: callers that
 * need a whole body (manifests, tag lists, tokens, API answers) read it inside the attempt, so a
 * connection that breaks in the middle of a body is retried like one that breaks before the headers.
 * Callers that hand a body on as a stream (blobs) cannot replay it; the layer above (copy-blob.ts)
 * restarts such a blob, and only such a blob, within the same N+1 budget. Nothing else retries.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { AirlockError } from '../errors.js'

export interface RetrySettings {
  /** Attempts after the first for a retryable failure (`--retry-times`). Default 3. */
  retries?: number
  /** Base backoff in ms (doubles each attempt, with jitter). Default 250. */
  backoffMs?: number
  /** Upper bound on a Retry-After wait, in seconds. Default 60. */
  maxRetryAfterSeconds?: number
}

export const DEFAULT_RETRIES = 3

/** Statuses that say "try again later": 429 and 5xx, except those that never change (501, 505). */
export function isTransientStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505)
}

/** Network failures worth another attempt: the AirlockErrors http.ts marks retryable (resets, timeouts). */
export function isTransientError(err: unknown): boolean {
  return err instanceof AirlockError && err.retryable && err.code !== 'INTERRUPTED'
}

export class RetryPolicy {
  readonly retries: number
  private readonly backoffMs: number
  private readonly maxRetryAfterMs: number

  constructor(settings: RetrySettings = {}) {
    this.retries = Math.max(0, settings.retries ?? DEFAULT_RETRIES)
    this.backoffMs = settings.backoffMs ?? 250
    this.maxRetryAfterMs = (settings.maxRetryAfterSeconds ?? 60) * 1000
  }

  /** Whether attempt number `attempt` (0-based) may be followed by another one. */
  canRetry(attempt: number): boolean {
    return attempt < this.retries
  }

  /** Waits before attempt `attempt + 1`: exponential backoff with jitter, or the server's Retry-After. */
  async wait(attempt: number, retryAfter?: string, signal?: AbortSignal): Promise<void> {
    let ms = this.backoffMs * 2 ** attempt * (0.75 + Math.random() / 2)
    if (retryAfter) {
      const secs = Number(retryAfter)
      const when = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - Date.now()
      if (Number.isFinite(when)) ms = Math.max(0, Math.min(when, this.maxRetryAfterMs))
    }
    await sleep(ms, undefined, { signal })
  }
}

/**
 * A body read that failed because the connection broke (`aborted`, ECONNRESET, premature close),
 * as an AirlockError that says so and may be retried.
 */
export function bodyReadError(err: unknown, host: string, what: string, signal?: AbortSignal): AirlockError {
  if (err instanceof AirlockError) return err
  if (signal?.aborted)
    return new AirlockError('INTERRUPTED', `reading ${what} from ${host} was interrupted`, { cause: err })
  const code = (err as { code?: string }).code
  return new AirlockError(
    'UNREACHABLE',
    `the connection to ${host} broke while reading ${what} (${code ?? (err as Error).message})`,
    {
      cause: err,
      retryable: true,
      hint: 'the connection broke repeatedly; try again, or check the network (proxies, load balancers) between here and the server',
    },
  )
}

/**
 * Thrown by an attempt to ask for another one. `error` is what the caller sees when no attempt is
 * left; `retryAfter` is the server's Retry-After; `free` marks an attempt that does not count (the
 * one repeat after a 401 that taught us the auth challenge).
 */
export class TryAgain extends Error {
  constructor(
    readonly error: unknown,
    readonly retryAfter?: string,
    readonly free = false,
  ) {
    super('try again')
  }
}

/**
 * Runs `attempt` until it returns, throws something other than TryAgain, or the policy has no
 * attempt left (then the TryAgain's error is thrown). At most `retries + 1` counted attempts.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt(n)
    } catch (err) {
      if (!(err instanceof TryAgain)) throw err
      if (err.free) {
        n--
        continue
      }
      if (signal?.aborted || !policy.canRetry(n)) throw spent(err.error)
      await policy.wait(n, err.retryAfter, signal)
    }
  }
}

/**
 * The error of the last attempt, marked not retryable: the policy has spent its attempts, and no
 * layer above may start another round (retries never multiply).
 */
function spent(err: unknown): unknown {
  if (!(err instanceof AirlockError) || !err.retryable) return err
  return new AirlockError(err.code, err.message, {
    hint: err.hint,
    status: err.status,
    cause: err.cause ?? err,
    retryable: false,
  })
}
