/**
 * Pulling exact byte counts out of a stream of chunks (a decompressed layer), for the tar reader.
 * Chunks are handed on as slices of what the stream delivered (no copies of file data); nothing is
 * read ahead beyond the chunk at hand, so memory stays at one chunk whatever the entry sizes.
 */
import { TarFormatError } from './header.js'

export class ShortInputError extends TarFormatError {
  constructor(readonly at: number) {
    super('unexpected end of data')
  }
}

export class ByteSource {
  private readonly it: AsyncIterator<Buffer>
  private chunk: Buffer | undefined
  /** Bytes taken so far (the offset of the next byte in the uncompressed tar). */
  position = 0

  constructor(input: AsyncIterable<Buffer>) {
    this.it = input[Symbol.asyncIterator]()
  }

  /** The next piece of at most `max` bytes; undefined at the end of the input. */
  async next(max: number): Promise<Buffer | undefined> {
    while (!this.chunk?.length) {
      const r = await this.it.next()
      if (r.done) return undefined
      this.chunk = r.value
    }
    const piece = this.chunk.length > max ? this.chunk.subarray(0, max) : this.chunk
    this.chunk = this.chunk.length > max ? this.chunk.subarray(max) : undefined
    this.position += piece.length
    return piece
  }

  /**
   * Exactly `n` bytes (a fresh copy when they span chunks, else a slice); undefined when the input
   * ends before the first of them; ShortInputError when it ends after some.
   */
  async exact(n: number): Promise<Buffer | undefined> {
    const first = await this.next(n)
    if (!first || first.length === n) return first
    const out = Buffer.allocUnsafe(n)
    first.copy(out)
    let have = first.length
    while (have < n) {
      const piece = await this.next(n - have)
      if (!piece) throw new ShortInputError(this.position)
      piece.copy(out, have)
      have += piece.length
    }
    return out
  }

  /** Drops `n` bytes; ShortInputError when the input ends first. */
  async skip(n: number): Promise<void> {
    let left = n
    while (left > 0) {
      const piece = await this.next(Math.min(left, 1 << 30))
      if (!piece) throw new ShortInputError(this.position)
      left -= piece.length
    }
  }

  /** Reads the input to its end, discarding it (so a digest check at the end of the stream runs). */
  async drain(): Promise<void> {
    this.chunk = undefined
    for (;;) {
      const r = await this.it.next()
      if (r.done) return
      this.position += r.value.length
    }
  }

  /** Stops reading (the iterator's return(): a stream behind it is destroyed). */
  async close(): Promise<void> {
    this.chunk = undefined
    await this.it.return?.()
  }
}
