/**
 * Digests: computing them, and checking a stream against one while it flows.
 */
import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { AirlockError } from './errors.js'

const ALGORITHMS: Record<string, { node: string; hexLength: number }> = {
  sha256: { node: 'sha256', hexLength: 64 },
  sha384: { node: 'sha384', hexLength: 96 },
  sha512: { node: 'sha512', hexLength: 128 },
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

export function digestOf(data: Buffer, like = 'sha256:'): string {
  const algo = algorithmOf(like)
  return `${algo}:${createHash(ALGORITHMS[algo].node).update(data).digest('hex')}`
}

export function algorithmOf(digest: string): string {
  const algo = digest.split(':')[0]
  if (!ALGORITHMS[algo]) {
    throw new AirlockError('UNSUPPORTED', `digest algorithm "${algo}" is not supported (in ${digest})`, {
      hint: 'airlock verifies sha256, sha384 and sha512 digests',
    })
  }
  return algo
}

export function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1)
}

/**
 * A pass-through stream that hashes and counts what flows through it and fails when the content
 * does not match `digest` (or `size`, when size >= 0).
 *
 * It holds back the most recent chunk until the end of input has been checked, so a consumer never
 * receives the complete content of a blob that turns out to be wrong: a destination that commits a
 * blob when its input ends cannot commit a bad one.
 */
export class DigestVerifier extends Transform {
  readonly expected: string
  readonly expectedSize: number
  private readonly hash: Hash
  private held: Buffer | undefined
  private count = 0

  constructor(
    digest: string,
    size: number,
    private readonly what: string,
    private readonly onBytes?: (n: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 })
    this.expected = digest
    this.expectedSize = size
    this.hash = createHash(ALGORITHMS[algorithmOf(digest)].node)
  }

  get bytes(): number {
    return this.count
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.length === 0) {
      done()
      return
    }
    this.count += chunk.length
    if (this.expectedSize >= 0 && this.count > this.expectedSize) {
      done(this.sizeError())
      return
    }
    this.hash.update(chunk)
    this.onBytes?.(chunk.length)
    const previous = this.held
    this.held = chunk
    done(null, previous)
  }

  override _flush(done: TransformCallback): void {
    if (this.expectedSize >= 0 && this.count !== this.expectedSize) {
      done(this.sizeError())
      return
    }
    const actual = `${algorithmOf(this.expected)}:${this.hash.digest('hex')}`
    if (actual !== this.expected) {
      done(
        new AirlockError(
          'DIGEST_MISMATCH',
          `${this.what}: content has digest ${actual}, expected ${this.expected}`,
          {
            hint: 'the source is corrupt or was changed during the copy; nothing was stored for this blob',
          },
        ),
      )
      return
    }
    done(null, this.held)
  }

  private sizeError(): AirlockError {
    return new AirlockError(
      'SIZE_MISMATCH',
      `${this.what}: ${this.count} bytes received, expected ${this.expectedSize}`,
      { hint: 'the source is corrupt or was changed during the copy; nothing was stored for this blob' },
    )
  }
}

/** Checks manifest bytes against the digest that named them. */
export function verifyBytes(bytes: Buffer, digest: string, what: string): void {
  const actual = digestOf(bytes, digest)
  if (actual !== digest) {
    throw new AirlockError('DIGEST_MISMATCH', `${what}: content has digest ${actual}, expected ${digest}`, {
      hint: 'the source returned different bytes than its digest promises; it may be corrupt or tampered with',
    })
  }
}
