/**
 * A pass-through stream that hashes (SHA-256) and counts what flows through it, for downloads:
 * the bytes go to disk as they arrive and the digest is compared once the stream has ended.
 * (For a whole file on disk, see sha256OfFile in ../sha256-file.ts: two buffers taking turns.)
 */
import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'

export class Sha256Tap extends Transform {
  private readonly hash: Hash = createHash('sha256')
  private count = 0
  private hex: string | undefined

  constructor(private readonly onBytes?: (n: number) => void) {
    super({ highWaterMark: 1 << 20 })
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count
  }

  /** Hex digest; only after the stream has ended. */
  get sha256(): string {
    if (this.hex === undefined) throw new Error('Sha256Tap: digest asked before the end of the stream')
    return this.hex
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length
    this.hash.update(chunk)
    this.onBytes?.(chunk.length)
    done(null, chunk)
  }

  override _flush(done: TransformCallback): void {
    this.hex = this.hash.digest('hex')
    done()
  }
}
