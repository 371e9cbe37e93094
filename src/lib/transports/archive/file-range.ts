/**
 * Streams over a byte range of an open FileHandle, by positional reads and writes. Unlike fs streams
 * given a shared descriptor, destroying one of these never closes the file, so several streams (and
 * retries after a failed one) can use the same handle.
 */
import { Readable, Writable } from 'node:stream'
import { AirlockError } from '../../errors.js'

const CHUNK = 1 << 20

/** What reading needs of a file: a FileHandle, or several files read as one (bundle parts). */
export interface PositionalReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
}

/** Reads `size` bytes of `fh` from `start`. */
export class RangeReadStream extends Readable {
  private pos: number
  private readonly end: number

  constructor(
    private readonly fh: PositionalReader,
    start: number,
    size: number,
  ) {
    super({ highWaterMark: CHUNK })
    this.pos = start
    this.end = start + size
  }

  override _read(n: number): void {
    const len = Math.min(Math.max(n, 64 * 1024), CHUNK, this.end - this.pos)
    if (len <= 0) {
      this.push(null)
      return
    }
    const buf = Buffer.allocUnsafe(len)
    this.fh.read(buf, 0, len, this.pos).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) {
          this.destroy(
            new AirlockError('INVALID_INPUT', `archive ended early at offset ${this.pos}`, {
              hint: 'the file is being changed or was truncated while airlock read it',
            }),
          )
          return
        }
        this.pos += bytesRead
        this.push(bytesRead === len ? buf : buf.subarray(0, bytesRead))
      },
      (err) => this.destroy(err),
    )
  }
}

/** What writing needs of a file: a FileHandle, or bundle parts written as one file. */
export interface PositionalWriter {
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>
}

/** Writes whatever it is given to `fh` from `start` on; `written` counts the bytes. */
export class PositionalWriteStream extends Writable {
  written = 0

  constructor(
    private readonly fh: PositionalWriter,
    private readonly start: number,
  ) {
    super({ highWaterMark: CHUNK })
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writeAll(chunk).then(() => done(), done)
  }

  private async writeAll(chunk: Buffer): Promise<void> {
    let off = 0
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, this.start + this.written)
      off += bytesWritten
      this.written += bytesWritten
    }
  }
}
