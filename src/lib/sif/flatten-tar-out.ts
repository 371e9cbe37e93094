/**
 * The flattened rootfs as a tar stream: POSIX.1-2001 pax (IEEE Std 1003.1, "pax Interchange Format"),
 * one entry at a time, with backpressure (an entry body is pulled only as fast as the reader takes it).
 *
 * Why not tar-stream's pack(): it queues header-only entries without waiting for the reader (a layer
 * of a million symlinks would sit in memory), writes numbers that do not fit the ustar fields as
 * 7777777, and repeats a pax `path` record when the header already carries pax records.
 *
 * Names are "binary strings" (one char per byte, see flatten-layer.ts) and are written as the bytes
 * they stand for. Anything a ustar header cannot hold (long or non-ASCII-safe names, ids above
 * 2097151, sizes of 8 GiB and more, xattrs) goes into a pax 'x' header.
 *
 * Times are clamped to 0 .. 2^32-1 (1970-01-01 .. 2106-02-07T06:28:15Z), the range of a squashfs
 * inode's unsigned 32-bit mtime, as tar2sqfs clamps them (squashfs.ts): mksquashfs refuses a negative
 * pax mtime and wraps a larger one. Clamped, a time always fits the ustar field.
 */
import { Readable } from 'node:stream'
import { AirlockError } from '../errors.js'

export type EntryType =
  | 'file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'

export interface TarEntry {
  /** Normalized path, no leading or trailing slash; a binary string. */
  path: string
  type: EntryType
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number
  uid: number
  gid: number
  uname?: string
  gname?: string
  /** Seconds since the epoch. */
  mtime: number
  /** Body size; 0 for everything but files. */
  size: number
  /** Symlink target as stored, or hard link target (a normalized path); binary strings. */
  linkname?: string
  devmajor?: number
  devminor?: number
  /** Extended attributes: binary-string names (one char per byte) to raw values. */
  xattrs?: ReadonlyMap<string, Buffer>
}

const BLOCK = 512
const TYPEFLAG: Record<EntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
}
const MAX_ID = 0o7777777
const MAX_SIZE = 0o77777777777
const MAX_TIME = 2 ** 32 - 1

export class TarOutput extends Readable {
  private waiting: (() => void) | undefined
  private start: (() => void) | undefined

  /** `start` runs on the first read: nothing is opened (and nothing can fail) before a reader comes. */
  constructor(start?: () => void) {
    super({ highWaterMark: 1024 * 1024 })
    this.start = start
  }

  override _read(): void {
    const start = this.start
    this.start = undefined
    start?.()
    const w = this.waiting
    this.waiting = undefined
    w?.()
  }

  /**
   * Ends the stream with `err`. Without an 'error' listener yet (aborted before anyone read), the
   * error stays on the stream (`errored`) for the reader instead of crashing the process.
   */
  fail(err: Error): void {
    if (this.destroyed) return
    this.start = undefined
    if (!this.listenerCount('error')) this.once('error', () => undefined)
    this.destroy(err)
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.start = undefined
    const w = this.waiting
    this.waiting = undefined
    w?.()
    cb(err)
  }

  /** Writes one entry; `body` must deliver exactly `entry.size` bytes. */
  async add(entry: TarEntry, body?: AsyncIterable<Buffer> | Buffer): Promise<void> {
    await this.write(encodeHeader(entry))
    let written = 0
    if (Buffer.isBuffer(body)) {
      written = body.length
      if (written) await this.write(body)
    } else if (body) {
      for await (const chunk of body) {
        written += chunk.length
        if (written > entry.size) break
        await this.write(chunk)
      }
    }
    if (written !== entry.size) {
      throw new AirlockError(
        'INVALID_INPUT',
        `entry ${displayName(entry.path)}: expected ${entry.size} bytes, got ${written}`,
      )
    }
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK
    if (pad) await this.write(Buffer.alloc(pad))
  }

  /** Ends the archive with its two zero blocks. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(2 * BLOCK))
    this.push(null)
  }

  private async write(buf: Buffer): Promise<void> {
    if (this.destroyed) throw this.errored ?? new AirlockError('INTERRUPTED', 'the tar stream was closed')
    if (this.push(buf)) return
    await new Promise<void>((resolve) => {
      this.waiting = resolve
    })
    if (this.destroyed) throw this.errored ?? new AirlockError('INTERRUPTED', 'the tar stream was closed')
  }
}

/** A binary-string path as UTF-8 text, for messages. */
export function displayName(path: string): string {
  return JSON.stringify(Buffer.from(path, 'latin1').toString('utf8'))
}

export function encodeHeader(e: TarEntry): Buffer {
  const pax: Array<[string, Buffer]> = []
  const name = Buffer.from(e.type === 'directory' ? `${e.path}/` : e.path, 'latin1')
  const split = splitName(name)
  if (!split) pax.push(['path', name])
  const link = e.linkname === undefined ? Buffer.alloc(0) : Buffer.from(e.linkname, 'latin1')
  if (link.length > 100) pax.push(['linkpath', link])
  if (e.uid > MAX_ID || e.uid < 0) pax.push(['uid', Buffer.from(String(e.uid))])
  if (e.gid > MAX_ID || e.gid < 0) pax.push(['gid', Buffer.from(String(e.gid))])
  if (e.size > MAX_SIZE) pax.push(['size', Buffer.from(String(e.size))])
  const uname = Buffer.from(e.uname ?? '', 'utf8')
  const gname = Buffer.from(e.gname ?? '', 'utf8')
  if (uname.length > 32) pax.push(['uname', uname])
  if (gname.length > 32) pax.push(['gname', gname])
  // Raw bytes after `SCHILY.xattr.<name>=`: tar2sqfs and mksquashfs -tar both take the value's
  // length from the record's, so binary values (file capabilities) are stored byte for byte.
  for (const [k, v] of e.xattrs ?? []) pax.push([`SCHILY.xattr.${k}`, v])

  const mtime = squashfsTime(e.mtime)
  const main = ustar({
    name: split?.name ?? name.subarray(0, 100),
    prefix: split?.prefix ?? Buffer.alloc(0),
    mode: e.mode & 0o7777,
    uid: clamp(e.uid, MAX_ID),
    gid: clamp(e.gid, MAX_ID),
    size: e.size,
    mtime,
    typeflag: TYPEFLAG[e.type],
    linkname: link.subarray(0, 100),
    uname: uname.length > 32 ? Buffer.alloc(0) : uname,
    gname: gname.length > 32 ? Buffer.alloc(0) : gname,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  })
  if (!pax.length) return main
  const records = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)))
  const base = name.subarray(name.lastIndexOf(0x2f, name.length - 2) + 1).subarray(0, 80)
  const paxHeader = ustar({
    name: Buffer.concat([Buffer.from('PaxHeaders/'), base]).subarray(0, 100),
    prefix: Buffer.alloc(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime,
    typeflag: 'x',
    linkname: Buffer.alloc(0),
    uname: Buffer.alloc(0),
    gname: Buffer.alloc(0),
    devmajor: 0,
    devminor: 0,
  })
  const pad = Buffer.alloc((BLOCK - (records.length % BLOCK)) % BLOCK)
  return Buffer.concat([paxHeader, records, pad, main])
}

/** Seconds as a squashfs inode stores them: whole, unsigned 32-bit (see the top). */
export function squashfsTime(seconds: number): number {
  return Number.isFinite(seconds) ? Math.min(Math.max(Math.floor(seconds), 0), MAX_TIME) : 0
}

function clamp(n: number, max: number): number {
  return n < 0 ? 0 : Math.min(n, max)
}

/**
 * `%d key=value\n` where the length counts the whole record, its own digits included. `key` is a
 * binary string (an xattr name's bytes), written one byte per char.
 */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len)), body])
}

/** ustar name/prefix split (name <= 100 bytes, prefix <= 155, split at a slash); undefined if none fits. */
function splitName(name: Buffer): { name: Buffer; prefix: Buffer } | undefined {
  // Bytes >= 0x80 are fine in ustar fields; NUL is not representable at all (and never in a path).
  if (name.length <= 100) return { name, prefix: Buffer.alloc(0) }
  if (name.length > 256) return undefined
  for (let i = Math.max(1, name.length - 101); i <= Math.min(155, name.length - 2); i++) {
    if (name[i] === 0x2f) return { name: name.subarray(i + 1), prefix: name.subarray(0, i) }
  }
  return undefined
}

interface UstarFields {
  name: Buffer
  prefix: Buffer
  mode: number
  uid: number
  gid: number
  size: number
  mtime: number
  typeflag: string
  linkname: Buffer
  uname: Buffer
  gname: Buffer
  devmajor: number
  devminor: number
}

function ustar(f: UstarFields): Buffer {
  const b = Buffer.alloc(BLOCK)
  f.name.copy(b, 0)
  octal(b, 100, 8, f.mode)
  octal(b, 108, 8, f.uid)
  octal(b, 116, 8, f.gid)
  if (f.size > MAX_SIZE) base256(b, 124, 12, f.size)
  else octal(b, 124, 12, f.size)
  octal(b, 136, 12, f.mtime)
  b.write(f.typeflag, 156, 'latin1')
  f.linkname.copy(b, 157)
  b.write('ustar\u000000', 257, 'latin1')
  f.uname.copy(b, 265)
  f.gname.copy(b, 297)
  octal(b, 329, 8, f.devmajor)
  octal(b, 337, 8, f.devminor)
  f.prefix.copy(b, 345)
  b.fill(0x20, 148, 156)
  let sum = 0
  for (const byte of b) sum += byte
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1')
  return b
}

function octal(b: Buffer, off: number, len: number, n: number): void {
  b.write(
    `${Math.floor(n)
      .toString(8)
      .padStart(len - 1, '0')}\u0000`,
    off,
    'latin1',
  )
}

function base256(b: Buffer, off: number, len: number, n: number): void {
  let v = BigInt(n)
  for (let i = off + len - 1; i > off; i--) {
    b[i] = Number(v & 0xffn)
    v >>= 8n
  }
  b[off] = 0x80
}
