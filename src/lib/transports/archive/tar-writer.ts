/**
 * Writes a tar archive to `<file>.<random>.tmp` next to FILE, renamed to FILE by commit(); abort()
 * (or a close without commit) removes the temporary file, so FILE is either the old file or a complete
 * archive, never a half-written one.
 *
 * Entries are encoded by tar-stream, one entry at a time, streamed from their source with the size
 * known up front. Each entry is written at the current end of the archive; when its body fails (a
 * broken connection, a digest mismatch) the file is cut back to where the entry began, so the entry
 * can be written again and a bad blob is never left in the archive. After every entry the file ends
 * with the two zero blocks that close a tar, which the next entry overwrites.
 */
import { randomBytes } from 'node:crypto'
import { type FileHandle, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type Header, pack } from 'tar-stream'
import { AirlockError, localIoError } from '../../errors.js'
import { PositionalWriteStream } from './file-range.js'

/** Bytes tar-stream's finalize() appends: two zero blocks (end of archive). */
const END_OF_ARCHIVE = 1024
/** Fixed timestamps make archives of the same image byte-identical (as containers/image does). */
const MTIME = new Date(0)

export class TarFileWriter {
  private offset = 0
  private queue: Promise<unknown> = Promise.resolve()
  private readonly names = new Set<string>()
  private state: 'open' | 'committed' | 'aborted' = 'open'
  /** Set when a failed entry could not be cut back out: nothing more can be written. */
  private broken: Error | undefined

  private constructor(
    readonly file: string,
    readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly what: string,
  ) {}

  /** Creates the temporary file next to `file` (whose directory must exist). */
  static async create(file: string, what: string): Promise<TarFileWriter> {
    const tmp = join(dirname(file), `${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
    let fh: FileHandle
    try {
      fh = await open(tmp, 'wx', 0o644)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      // A directory that is not there is bad input (exit 2); a disk or permission failure is IO_FAILED.
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new AirlockError(
          'INVALID_INPUT',
          `${what}: cannot write ${file}: ${dirname(file)} does not exist`,
          {
            hint: 'create the directory first, or choose another output path',
            cause: err,
          },
        )
      }
      throw (
        localIoError(err, file) ??
        new AirlockError(
          'INVALID_INPUT',
          `${what}: cannot create a file in ${dirname(file)}: ${(err as Error).message}`,
          {
            hint: 'check that the directory is writable',
            cause: err,
          },
        )
      )
    }
    return new TarFileWriter(file, tmp, fh, what)
  }

  has(name: string): boolean {
    return this.names.has(name)
  }

  addBuffer(name: string, bytes: Buffer): Promise<void> {
    return this.enqueue(name, { name, size: bytes.length, type: 'file', mode: 0o644 }, bytes)
  }

  addDirectory(name: string): Promise<void> {
    return this.enqueue(name, { name, type: 'directory', mode: 0o755 }, Buffer.alloc(0))
  }

  /** Streams `size` bytes from `stream` into a new entry; fewer or more bytes fail the entry. */
  addStream(name: string, size: number, stream: Readable): Promise<void> {
    return this.enqueue(name, { name, size, type: 'file', mode: 0o644 }, stream)
  }

  /** Entries are written one after another, in call order. */
  private enqueue(
    name: string,
    header: Partial<Header> & { name: string },
    body: Buffer | Readable,
  ): Promise<void> {
    const run = this.queue.then(() => this.writeEntry(name, header, body))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async writeEntry(
    name: string,
    header: Partial<Header> & { name: string },
    body: Buffer | Readable,
  ): Promise<void> {
    if (this.state !== 'open') {
      if (!Buffer.isBuffer(body)) body.destroy()
      throw new AirlockError('INTERNAL', `${this.what}: the archive is already ${this.state}`)
    }
    if (this.broken) {
      if (!Buffer.isBuffer(body)) body.destroy()
      throw this.broken
    }
    // tar-stream writes names as UTF-8: a name holding bytes that are not UTF-8 (names.ts escapes
    // them as lone surrogates) would be stored as U+FFFD, so it is refused rather than altered.
    if (Buffer.from(name, 'utf8').toString('utf8') !== name) {
      if (!Buffer.isBuffer(body)) body.destroy()
      throw new AirlockError('INVALID_INPUT', `${this.what}: cannot write member ${JSON.stringify(name)}`, {
        hint: 'its name holds bytes that are not UTF-8, which this archive writer does not store',
      })
    }
    const start = this.offset
    const p = pack()
    // Not an fs.WriteStream on the descriptor: destroying one (as a failed pipeline does) closes it.
    const out = new PositionalWriteStream(this.fh, start)
    const written = pipeline(p, out)
    try {
      const full = { ...header, mtime: MTIME, uid: 0, gid: 0 }
      if (Buffer.isBuffer(body)) p.entry(full, body)
      else await pipeline(body, p.entry(full))
      p.finalize()
      await written
    } catch (err) {
      if (!Buffer.isBuffer(body)) body.destroy()
      p.destroy()
      await written.catch(() => undefined)
      // Cut the archive back to the end of the previous entry, closing zero blocks and all.
      try {
        await this.fh.truncate(start)
        await this.fh.write(Buffer.alloc(END_OF_ARCHIVE), 0, END_OF_ARCHIVE, start)
      } catch (cut) {
        this.broken = new AirlockError(
          'INTERNAL',
          `${this.what}: cannot remove a failed entry: ${(cut as Error).message}`,
          {
            cause: cut,
          },
        )
      }
      throw err
    }
    this.offset = start + out.written - END_OF_ARCHIVE
    this.names.add(name)
  }

  /** Makes the archive FILE (replacing any file of that name). */
  async commit(): Promise<void> {
    await this.queue
    if (this.state !== 'open') throw new AirlockError('INTERNAL', `${this.what}: commit after ${this.state}`)
    if (this.broken) throw this.broken
    // An archive with no entries is still a valid (empty) tar.
    if (this.offset === 0) await this.fh.write(Buffer.alloc(END_OF_ARCHIVE), 0, END_OF_ARCHIVE, 0)
    await this.fh.sync()
    await this.fh.close()
    this.state = 'committed'
    try {
      await rename(this.tmp, this.file)
    } catch (err) {
      await unlink(this.tmp).catch(() => undefined)
      throw new AirlockError(
        'INVALID_INPUT',
        `${this.what}: cannot create ${this.file}: ${(err as Error).message}`,
        {
          hint: 'check that the path is not a directory and that its directory is writable',
          cause: err,
        },
      )
    }
  }

  /** Removes the temporary file unless the archive was committed. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'aborted'
    await this.queue
    await this.fh.close().catch(() => undefined)
    await unlink(this.tmp).catch(() => undefined)
  }
}
