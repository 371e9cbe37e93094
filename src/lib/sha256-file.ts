/**
 * The SHA-256 of a whole file on disk, read once: the one file hasher of airlock (SIF output,
 * upload skip checks, the PROMINENCE checksum pass).
 *
 * Before a PROMINENCE upload: PROMINENCE's API takes the checksum in the request that hands out the upload URL, because its
 * presigned POST carries the checksum as a policy condition (prominence-eosc/prominence
 * `prominence/backend/data_s3.py`). So unless the user gives `--checksum`, this flow reads the file
 * twice: once here, once while sending it (where it is hashed again and checked against this value).
 * The PROMINENCE CLI reads twice as well, and skips the checksum above 2 GB (prominence-eosc/cli
 * `prominence/client.py` `upload()`, `calculate_sha256()`).
 *
 * Two buffers take turns: the next read runs on the thread pool while the current buffer is hashed,
 * so hashing (OpenSSL, as `openssl dgst`) is the only limit. See bench/objectstore.mts.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { AirlockError } from './errors.js'

const BLOCK = 4 << 20

export interface Sha256Options {
  signal?: AbortSignal
  /** Called with the number of bytes hashed, after each block. */
  onBytes?: (n: number) => void
}

/** Hex SHA-256 and size of the file's content. */
export async function sha256OfFile(
  file: string,
  opts: Sha256Options = {},
): Promise<{ sha256: string; size: number }> {
  const fh = await open(file, 'r')
  try {
    const hash = createHash('sha256')
    const buffers = [Buffer.allocUnsafe(BLOCK), Buffer.allocUnsafe(BLOCK)]
    let position = 0
    let turn = 0
    let pending = fh.read(buffers[0]!, 0, BLOCK, position)
    for (;;) {
      const { bytesRead } = await pending
      if (opts.signal?.aborted) {
        throw new AirlockError('INTERRUPTED', `hashing ${file} was interrupted`, {
          cause: opts.signal.reason,
        })
      }
      if (bytesRead === 0) break
      const current = buffers[turn]!
      position += bytesRead
      turn ^= 1
      pending = fh.read(buffers[turn]!, 0, BLOCK, position)
      hash.update(bytesRead === BLOCK ? current : current.subarray(0, bytesRead))
      opts.onBytes?.(bytesRead)
    }
    return { sha256: hash.digest('hex'), size: position }
  } finally {
    await fh.close()
  }
}
