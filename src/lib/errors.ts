/**
 * AirlockError: the one error type the library throws for expected failures.
 *
 * `code` is stable (scripts branch on it, `--json` carries it), `message` says what failed on what,
 * `hint` says what to do. Messages never contain credentials: build them from references and hosts,
 * never from URLs that may carry userinfo or tokens.
 */
import { accessSync, constants, existsSync } from 'node:fs'
import { dirname } from 'node:path'

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
  | 'IO_FAILED'
  | 'INTERNAL'

/** Exit codes, as listed in every command's help (docs/architecture.md, the error model and exit codes). */
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
  IO_FAILED: EXIT.FAILED,
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

const LOCAL_IO: Record<string, { cause: string; hint: string }> = {
  ENOSPC: { cause: 'no space left on the device', hint: 'free space there, or write somewhere else' },
  EDQUOT: {
    cause: 'disk quota exceeded',
    hint: 'free space in your quota (airlock quota shows it), or write somewhere else',
  },
  EFBIG: { cause: 'file too large for this file system', hint: 'write to another file system' },
  EACCES: {
    cause: 'permission denied',
    hint: 'check the permissions of the path and its directories, or write somewhere else',
  },
  EPERM: {
    cause: 'operation not permitted',
    hint: 'check the permissions of the path, or write somewhere else',
  },
  EROFS: { cause: 'read-only file system', hint: 'write to a writable directory' },
  ENOENT: { cause: 'no such file or directory', hint: 'check the path; its directory must exist' },
  ENOTDIR: { cause: 'a part of the path is not a directory', hint: 'check the path' },
  EISDIR: { cause: 'it is a directory', hint: 'give a file name' },
  EIO: { cause: 'input/output error of the device', hint: 'check the disk (dmesg) and try again' },
  EMFILE: { cause: 'too many open files', hint: 'raise the open-file limit (ulimit -n) or lower -j' },
}

/**
 * A local file-system failure (ENOSPC, EACCES, EROFS, ENOENT, ...) as an AirlockError that names the
 * path and the cause: never retried and never called a network problem. Undefined for anything else.
 * `where` names the file or destination when the error itself carries no path (a failed write).
 */
export function localIoError(err: unknown, where?: string): AirlockError | undefined {
  if (err instanceof AirlockError || !(err instanceof Error)) return undefined
  const e = err as NodeJS.ErrnoException
  const known = e.code ? LOCAL_IO[e.code] : undefined
  // Only errors of a file-system call: not of sockets, name lookups or starting programs.
  if (!known || !e.syscall || /^(connect|getaddrinfo|bind|listen|accept|spawn)/.test(e.syscall))
    return undefined
  const path = e.path ?? where
  // Node's recursive mkdir says ENOENT where the real cause is the nearest existing directory's
  // (EROFS, EACCES): ask that directory.
  if (e.code === 'ENOENT' && e.syscall === 'mkdir' && e.path) {
    const real = ancestorWriteError(e.path)
    if (real && LOCAL_IO[real])
      return localIoError(Object.assign(new Error(e.message), { ...e, code: real }), where)
  }
  return new AirlockError(
    'IO_FAILED',
    `${e.syscall === 'open' || e.syscall === 'mkdir' ? 'creating' : 'writing'} ${path ?? 'a local file'} failed: ${known.cause} (${e.code})`,
    { cause: err, hint: known.hint },
  )
}

function ancestorWriteError(path: string): string | undefined {
  let dir = dirname(path)
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir)
  try {
    accessSync(dir, constants.W_OK)
    return undefined
  } catch (err) {
    return (err as NodeJS.ErrnoException).code
  }
}

/** Wraps anything thrown into an AirlockError, keeping AirlockErrors as they are. */
export function toAirlockError(err: unknown, context?: string): AirlockError {
  if (err instanceof AirlockError) return err
  const io = localIoError(err)
  if (io) return io
  const msg = err instanceof Error ? err.message : String(err)
  return new AirlockError('INTERNAL', context ? `${context}: ${msg}` : msg, { cause: err })
}
