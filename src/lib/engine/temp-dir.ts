/**
 * Temporary directories for engine transfers (an OCI layout podman writes, a docker-archive on its
 * way to or from an engine): under EngineOptions.tmpDir, else TMPDIR, and removed when done.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AirlockError, localIoError } from '../errors.js'
import type { EngineOptions } from '../transports/transport.js'

export interface TempDir {
  readonly path: string
  /** Removes the directory and everything in it; safe to call more than once. */
  remove(): Promise<void>
}

export function tempRoot(opts: EngineOptions = {}): string {
  return opts.tmpDir ?? opts.env?.TMPDIR ?? tmpdir()
}

export async function makeTempDir(opts: EngineOptions, purpose: string): Promise<TempDir> {
  const root = tempRoot(opts)
  let path: string
  try {
    path = await mkdtemp(join(root, `airlock-${purpose}-`))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const hint =
      'set TMPDIR (or the temporary directory option) to a writable directory with room for the image'
    // A directory that is not there is bad input (exit 2); permission or a read-only disk is IO_FAILED (1).
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new AirlockError(
        'INVALID_INPUT',
        `cannot create a temporary directory in ${root}: it does not exist`,
        {
          cause: err,
          hint,
        },
      )
    }
    const io = localIoError(err, root)
    throw io
      ? new AirlockError('IO_FAILED', io.message, {
          cause: err,
          hint,
        })
      : new AirlockError('INVALID_INPUT', `cannot create a temporary directory in ${root}`, {
          cause: err,
          hint,
        })
  }
  let removed: Promise<void> | undefined
  return {
    path,
    remove() {
      removed ??= rm(path, { recursive: true, force: true, maxRetries: 3 })
      return removed
    },
  }
}
