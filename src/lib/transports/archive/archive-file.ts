/**
 * An archive file opened for reading: indexed once (tar-index.ts), then small members (manifest.json,
 * index.json, configs, manifests) are read whole and layers are served as byte ranges of the file.
 * Nothing is extracted and no layer is held in memory.
 */
import { createHash } from 'node:crypto'
import { type FileHandle, open, stat } from 'node:fs/promises'
import { addAbortSignal, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AirlockError } from '../../errors.js'
import { sniffCompression } from './compression.js'
import { type PositionalReader, RangeReadStream } from './file-range.js'
import { indexTar, readFully, type TarEntry } from './tar-index.js'

/** Upper bound for JSON members read whole (manifest.json, index.json, configs, manifests). */
export const MAX_JSON = 16 << 20
/** Symlink hops followed before giving up (Linux allows 40). */
const MAX_HOPS = 40

/** A random-access file: a FileHandle, or the parts of a split bundle read as one. */
export type ArchiveReader = PositionalReader & { close(): Promise<void> }

export class ArchiveFile {
  private constructor(
    readonly path: string,
    /** How messages name the archive, e.g. `docker-archive:/x.tar`. */
    readonly what: string,
    private readonly fh: ArchiveReader,
    readonly entries: Map<string, TarEntry>,
    /** Offset where the archive's entries end (its closing zero blocks). */
    readonly end: number,
    readonly size: number,
  ) {}

  /** An archive over an already open reader of `size` bytes; closes the reader when it fails. */
  static async fromReader(
    fh: ArchiveReader,
    size: number,
    path: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<ArchiveFile> {
    try {
      const head = Buffer.alloc(Math.min(8, size))
      await readFully(fh, head, 0)
      const compression = sniffCompression(head)
      if (compression !== 'none') {
        throw new AirlockError('INVALID_INPUT', `${what} is ${compression}-compressed`, {
          hint: `airlock reads uncompressed tar archives without extracting them; decompress it first (e.g. ${compression === 'gzip' ? 'gunzip -k' : compression === 'zstd' ? 'zstd -d' : `${compression} -dk`} FILE) and use the .tar`,
        })
      }
      const out = { end: 0 }
      const entries = await indexTar(fh, size, what, signal, out)
      return new ArchiveFile(path, what, fh, entries, out.end, size)
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  static async open(path: string, what: string, signal?: AbortSignal): Promise<ArchiveFile> {
    let size: number
    let fh: FileHandle
    try {
      const st = await stat(path)
      if (st.isDirectory()) {
        throw new AirlockError('INVALID_INPUT', `${what}: ${path} is a directory, not an archive file`, {
          hint: 'for an OCI layout directory use oci:DIR',
        })
      }
      size = st.size
      fh = await open(path, 'r')
    } catch (err) {
      if (err instanceof AirlockError) throw err
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
      // A file the user named that is not there is bad input (exit 2), as for any other argument.
      throw new AirlockError(
        'INVALID_INPUT',
        missing
          ? `${what}: ${path} does not exist`
          : `${what}: cannot read ${path}: ${(err as Error).message}`,
        { hint: 'check the file name; the archive file must exist and be readable', cause: err },
      )
    }
    return ArchiveFile.fromReader(fh, size, path, what, signal)
  }

  has(name: string): boolean {
    return this.entries.has(name)
  }

  /**
   * The regular file a (checked, normalized) archive path names, following symlinks and hard links
   * inside the archive (legacy `docker save` stores duplicate layers as symlinks).
   */
  file(name: string, purpose: string): TarEntry {
    let entry = this.entries.get(name)
    for (let hops = 0; entry?.target !== undefined; hops++) {
      if (hops >= MAX_HOPS) {
        throw new AirlockError('INVALID_INPUT', `${this.what}: ${purpose} ${name} is a link loop`, {
          hint: 'the archive is corrupt; recreate it',
        })
      }
      entry = this.entries.get(entry.target)
    }
    if (!entry) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${this.what}: ${purpose} ${JSON.stringify(name)} is not in the archive`,
        { hint: 'the archive is incomplete or corrupt; recreate it' },
      )
    }
    if (entry.kind !== 'file') {
      throw new AirlockError(
        'INVALID_INPUT',
        `${this.what}: ${purpose} ${JSON.stringify(name)} is ${entry.kind === 'other' ? 'not a regular file (a device, fifo or GNU sparse file)' : `a ${entry.kind}, not a file`}`,
        { hint: 'the archive is corrupt; recreate it' },
      )
    }
    return entry
  }

  /** A small member, read whole; refused above `limit` bytes. */
  async read(entry: TarEntry, limit = MAX_JSON): Promise<Buffer> {
    if (entry.size > limit) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${this.what}: ${entry.name} is ${entry.size} bytes, more than the ${limit} allowed for it`,
        { hint: 'the archive is corrupt or hostile' },
      )
    }
    const buf = Buffer.alloc(entry.size)
    await readFully(this.fh, buf, entry.offset)
    return buf
  }

  /** The first bytes of a member (fewer when it is shorter). */
  async head(entry: TarEntry, n: number): Promise<Buffer> {
    const buf = Buffer.alloc(Math.min(n, entry.size))
    await readFully(this.fh, buf, entry.offset)
    return buf
  }

  /** A member's bytes as a stream of its byte range in the archive file. */
  stream(entry: TarEntry, signal?: AbortSignal): Readable {
    const stream = new RangeReadStream(this.fh, entry.offset, entry.size)
    return signal ? addAbortSignal(signal, stream) : stream
  }

  /** sha256 of a member, streamed. */
  async sha256(entry: TarEntry, signal?: AbortSignal): Promise<string> {
    const hash = createHash('sha256')
    await pipeline(this.stream(entry, signal), hash)
    return `sha256:${hash.digest('hex')}`
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined)
  }
}
