/**
 * Writes the tar of a bundle with several blobs streaming in at once: each entry's place (header,
 * body, padding) is reserved when it starts, since its size is known from its descriptor, and its
 * bytes are written there as they arrive. A blob that fails is cut off when it is the last entry, or
 * else becomes an `.airlock-unused/<offset>` entry that readers skip.
 *
 * A new bundle is written under temporary names and renamed when complete. Adding to an existing
 * bundle writes after its last entry but leaves its two closing zero blocks in place, so every tar
 * reader still stops there and sees the old bundle until commit() finally turns those blocks into a
 * pax comment header (POSIX pax "comment" records are ignored by readers) that opens the way to the
 * new entries. An interrupted add therefore leaves the old bundle readable as it was.
 */
import { randomBytes } from 'node:crypto'
import { rename } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { AirlockError } from '../errors.js'
import { PositionalWriteStream } from '../transports/archive/file-range.js'
import { BLOCK, encodeHeader } from '../transports/archive/tar-header.js'
import { blobPath, digestOfPath, LAYOUT_BYTES, LAYOUT_FILE, UNUSED_DIR } from './layout.js'
import { PartsWriter, partPath } from './parts.js'

const END = 2 * BLOCK
const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK

/** A pax header whose one record is a comment: exactly the size of the two blocks it replaces. */
function appendMarker(): Buffer {
  const record = `512 comment=${'airlock bundle add '.padEnd(499, '.')}\n`
  return Buffer.concat([
    encodeHeader({ name: 'PaxHeaders/airlock-add', size: BLOCK, type: 'x' }),
    Buffer.from(record, 'latin1'),
  ])
}

interface Claim {
  promise: Promise<boolean>
  settle: (ok: boolean) => void
  owner: object
}

export interface WrittenBundle {
  /** The files now holding the bundle. */
  parts: string[]
  /** Parts written or changed by this run (all of them for a new bundle). */
  changed: string[]
  size: number
}

export class BundleWriter {
  private offset: number
  private readonly done = new Set<string>()
  private readonly sizes = new Map<string, number>()
  private readonly claims = new Map<string, Claim>()
  private readonly unused: Array<{ at: number; size: number }> = []
  private readonly pending = new Set<Promise<unknown>>()
  private state: 'open' | 'committed' | 'aborted' = 'open'

  private constructor(
    private readonly base: string,
    private readonly parts: PartsWriter,
    private readonly finalPath: (i: number) => string,
    start: number,
    /** For an add: where the old bundle's closing zero blocks are. */
    private readonly oldEnd: number | undefined,
    existing: Iterable<{ name: string; size: number }>,
    private readonly firstChanged: number,
  ) {
    this.offset = start
    for (const e of existing) this.noteDone(e.name, e.size)
  }

  private noteDone(name: string, size: number): void {
    this.done.add(name)
    if (digestOfPath(name)) this.sizes.set(name, size)
  }

  /** A new bundle `base` (split into `partSize` parts unless Infinity), under temporary names. */
  static async create(base: string, partSize: number): Promise<BundleWriter> {
    const tag = randomBytes(6).toString('hex')
    const split = Number.isFinite(partSize)
    const finalPath = (i: number) => (split ? partPath(base, i) : base)
    const parts = new PartsWriter((i) => `${finalPath(i)}.${tag}.tmp`, partSize)
    const w = new BundleWriter(base, parts, finalPath, 0, undefined, [], 0)
    try {
      await w.addFile(LAYOUT_FILE, LAYOUT_BYTES)
      for (const dir of ['blobs', 'blobs/sha256']) await w.addEntry(dir, 0, '5')
    } catch (err) {
      await w.abort()
      throw err
    }
    return w
  }

  /**
   * Adds to the bundle in `paths` whose entries end at `end` (its closing zero blocks); `names`
   * are the entries it has.
   */
  static async append(
    base: string,
    paths: string[],
    partSize: number,
    end: number,
    entries: Iterable<{ name: string; size: number }>,
  ): Promise<BundleWriter> {
    const split = paths.length > 1 || paths[0] !== base
    const finalPath = (i: number) => (split ? partPath(base, i) : base)
    const parts = new PartsWriter(finalPath, partSize, paths.length)
    const firstChanged = Number.isFinite(partSize) ? Math.floor(end / partSize) : 0
    return new BundleWriter(base, parts, finalPath, end + END, end, entries, firstChanged)
  }

  has(name: string): boolean {
    return this.done.has(name)
  }

  /** Number and total size of the complete blob entries (old and new). */
  blobTotals(): { count: number; bytes: number } {
    let bytes = 0
    for (const size of this.sizes.values()) bytes += size
    return { count: this.sizes.size, bytes }
  }

  /** Names of the complete entries (old and new). */
  names(): string[] {
    return [...this.done]
  }

  /**
   * Whether the blob is (or, once a write of it by another image finishes, will be) in the bundle.
   * When it is not, the caller gets the claim to write it and must call addBlob or release().
   */
  async claim(digest: string, owner: object): Promise<boolean> {
    const name = blobPath(digest)
    for (;;) {
      if (this.done.has(name)) return true
      const c = this.claims.get(name)
      if (!c) break
      if (c.owner === owner) return false
      await c.promise
    }
    let settle: (ok: boolean) => void = () => undefined
    const promise = new Promise<boolean>((r) => {
      settle = r
    })
    this.claims.set(name, { promise, settle, owner })
    return false
  }

  /** Gives up every claim `owner` still holds (its copy failed), so others may write those blobs. */
  release(owner: object): void {
    for (const [name, c] of this.claims) {
      if (c.owner !== owner) continue
      this.claims.delete(name)
      c.settle(false)
    }
  }

  async addBlob(digest: string, size: number, body: Readable | Buffer): Promise<void> {
    const name = blobPath(digest)
    try {
      if (!this.done.has(name)) await this.addEntry(name, size, '0', body)
      else if (!Buffer.isBuffer(body)) body.resume()
    } finally {
      const c = this.claims.get(name)
      if (c) {
        this.claims.delete(name)
        c.settle(this.done.has(name))
      }
    }
  }

  /** A small file (metadata), written whole. */
  addFile(name: string, bytes: Buffer): Promise<void> {
    return this.addEntry(name, bytes.length, '0', bytes)
  }

  private addEntry(name: string, size: number, type: '0' | '5', body?: Readable | Buffer): Promise<void> {
    if (this.state !== 'open') {
      if (body && !Buffer.isBuffer(body)) body.destroy()
      throw new AirlockError('INTERNAL', `bundle ${this.base} is already ${this.state}`)
    }
    const at = this.offset
    const length = BLOCK + padded(size)
    this.offset += length
    const run = this.writeEntry(at, name, size, type, body).then(
      () => this.noteDone(name, size),
      async (err) => {
        if (at + length === this.offset) this.offset = at
        else this.unused.push({ at, size })
        throw err
      },
    )
    this.pending.add(run)
    return run.finally(() => this.pending.delete(run))
  }

  private async writeEntry(
    at: number,
    name: string,
    size: number,
    type: '0' | '5',
    body?: Readable | Buffer,
  ): Promise<void> {
    await this.writeAt(encodeHeader({ name, size, type }), at)
    if (Buffer.isBuffer(body)) await this.writeAt(body, at + BLOCK)
    else if (body) {
      const out = new PositionalWriteStream(this.parts, at + BLOCK)
      await pipeline(body, out)
      if (out.written !== size) {
        throw new AirlockError('SIZE_MISMATCH', `${name}: ${out.written} bytes arrived, expected ${size}`)
      }
    }
    const pad = padded(size) - size
    if (pad) await this.writeAt(Buffer.alloc(pad), at + BLOCK + size)
  }

  private async writeAt(buf: Buffer, position: number): Promise<void> {
    let done = 0
    while (done < buf.length) {
      const { bytesWritten } = await this.parts.write(buf, done, buf.length - done, position + done)
      done += bytesWritten
    }
  }

  /** Waits for the entries in flight (their outcome is their callers'). */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending])
  }

  /**
   * Writes `meta` (index.json, SHA256SUMS, …) after everything else and makes the bundle visible:
   * renames a new one into place, or opens the way to the added entries of an old one.
   */
  async commit(meta: Array<{ name: string; bytes: Buffer }>): Promise<WrittenBundle> {
    await this.settle()
    try {
      for (const u of this.unused) {
        await this.writeAt(encodeHeader({ name: `${UNUSED_DIR}/${u.at}`, size: u.size, type: '0' }), u.at)
      }
      for (const m of meta) await this.addFile(m.name, m.bytes)
      const size = this.offset + END
      await this.writeAt(Buffer.alloc(END), this.offset)
      await this.parts.truncate(size)
      await this.parts.sync()
      if (this.oldEnd !== undefined) {
        await this.writeAt(appendMarker(), this.oldEnd)
        await this.parts.sync()
      }
      await this.parts.close()
      const count = this.parts.partsFor(size)
      const finals = Array.from({ length: count }, (_, i) => this.finalPath(i))
      if (this.oldEnd === undefined) {
        for (const [i, tmp] of this.parts.paths(size).entries()) await rename(tmp, finals[i])
      }
      this.state = 'committed'
      return { parts: finals, changed: finals.slice(this.firstChanged), size }
    } catch (err) {
      await this.abort()
      throw err
    }
  }

  /** Removes a new bundle's temporary files, or cuts an add back off the old bundle. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'aborted'
    await this.settle()
    if (this.oldEnd === undefined) {
      await this.parts.removeCreated()
      return
    }
    try {
      await this.parts.truncate(this.oldEnd + END)
      await this.writeAt(Buffer.alloc(END), this.oldEnd)
    } finally {
      await this.parts.close()
    }
  }
}
