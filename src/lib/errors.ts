/**
 * AirlockError: the one error type the library throws for expected failures.
 *
 * `code` is stable (scripts branch on it, `--json` carries it), `message` says what failed on what,
 * `hint` says what to do. Messages never contain credentials: build them from references and hosts,
 * never from URLs that may carry userinfo or tokens.
 */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'INVALID_REFERENCE'
  | 'NOT_FOUND'
  | 'AUTH_FAILED'
  | 'DENIED'
  | 'UNREACHABLE'
  | 'TLS_FAILED'
  | 'REGISTRY_HTTP'
  | 'UNSUPPORTED'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'QUOTA_EXCEEDED'
  | 'EXEC_FAILED'
  | 'INTERRUPTED'
  | 'PARTIAL_FAILURE'
  | 'LOCKED'
  | 'INTERNAL'

/** Exit codes, as listed in every command's help (DESIGN.md "Errors and exit codes"). */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  PARTIAL: 3,
  QUOTA: 4,
  VERIFY: 5,
} as const

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  INVALID_INPUT: EXIT.USAGE,
  INVALID_REFERENCE: EXIT.USAGE,
  NOT_FOUND: EXIT.FAILED,
  AUTH_FAILED: EXIT.FAILED,
  DENIED: EXIT.FAILED,
  UNREACHABLE: EXIT.FAILED,
  TLS_FAILED: EXIT.FAILED,
  REGISTRY_HTTP: EXIT.FAILED,
  UNSUPPORTED: EXIT.FAILED,
  DIGEST_MISMATCH: EXIT.VERIFY,
  SIZE_MISMATCH: EXIT.VERIFY,
  QUOTA_EXCEEDED: EXIT.QUOTA,
  EXEC_FAILED: EXIT.FAILED,
  INTERRUPTED: EXIT.FAILED,
  PARTIAL_FAILURE: EXIT.PARTIAL,
  LOCKED: EXIT.FAILED,
  INTERNAL: EXIT.FAILED,
}

export interface AirlockErrorOptions {
  hint?: string
  cause?: unknown
  /** HTTP status, when the failure came from a server. */
  status?: number
  /** True when trying again may succeed (5xx, connection reset, 429). */
  retryable?: boolean
}

export class AirlockError extends Error {
  readonly code: ErrorCode
  readonly hint?: string
  readonly status?: number
  readonly retryable: boolean

  constructor(code: ErrorCode, message: string, options: AirlockErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AirlockError'
    this.code = code
    this.hint = options.hint
    this.status = options.status
    this.retryable = options.retryable ?? false
  }

  get exitCode(): number {
    return exitCodeFor(this.code)
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) }
  }
}

export function exitCodeFor(code: ErrorCode): number {
  return EXIT_BY_CODE[code] ?? EXIT.FAILED
}

export function isAirlockError(err: unknown): err is AirlockError {
  return err instanceof AirlockError
}

/** Wraps anything thrown into an AirlockError, keeping AirlockErrors as they are. */
export function toAirlockError(err: unknown, context?: string): AirlockError {
  if (err instanceof AirlockError) return err
  const msg = err instanceof Error ? err.message : String(err)
  return new AirlockError('INTERNAL', context ? `${context}: ${msg}` : msg, { cause: err })
}
