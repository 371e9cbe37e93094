/**
 * Reading tar headers, one 512-byte block at a time.
 *
 * Formats: POSIX.1-1988 ustar and POSIX.1-2001 pax (IEEE Std 1003.1, "pax - portable archive
 * interchange", sections "ustar Interchange Format" and "pax Interchange Format": the `prefix` field,
 * 'x' extended and 'g' global headers with `length keyword=value\n` records), and the GNU extensions
 * GNU tar and Go's archive/tar write (GNU tar manual, "Basic Tar Format": 'L' long name and 'K' long
 * link name entries, base-256 numbers for sizes above 8 GiB).
 */

export const BLOCK = 512

export type HeaderKind =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'directory'
  | 'other'
  | 'gnu-longname'
  | 'gnu-longlink'
  | 'pax'
  | 'pax-global'

export interface RawHeader {
  name: string
  linkname: string
  size: number
  kind: HeaderKind
}

const KINDS: Record<string, HeaderKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '5': 'directory',
  L: 'gnu-longname',
  K: 'gnu-longlink',
  x: 'pax',
  g: 'pax-global',
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false
  return true
}

/** Parses one header block; throws an Error (the caller adds where) when it is not a tar header. */
export function parseHeader(block: Buffer): RawHeader {
  if (!checksumOk(block)) throw new Error('bad header checksum')
  let name = cString(block, 0, 100)
  // POSIX ustar ("ustar\0" + "00") keeps a path prefix at 345; GNU's "ustar  \0" uses that space otherwise.
  if (block.toString('latin1', 257, 263) === 'ustar\0') {
    const prefix = cString(block, 345, 155)
    if (prefix) name = `${prefix}/${name}`
  }
  const type = String.fromCharCode(block[156])
  return {
    name,
    linkname: cString(block, 157, 100),
    size: parseNumber(block, 124, 12),
    kind: KINDS[type] ?? 'other',
  }
}

function checksumOk(block: Buffer): boolean {
  const stored = cString(block, 148, 8).trim()
  if (!/^[0-7]+$/.test(stored)) return false
  const want = Number.parseInt(stored, 8)
  let unsigned = 0
  let signed = 0
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]
    unsigned += b
    signed += b > 127 ? b - 256 : b
  }
  // Some historic tars summed signed bytes; both are accepted by GNU tar and Go.
  return want === unsigned || want === signed
}

/** A NUL-terminated UTF-8 string field. */
export function cString(buf: Buffer, start: number, length: number): string {
  const end = buf.indexOf(0, start)
  const stop = end < 0 || end > start + length ? start + length : end
  return buf.toString('utf8', start, stop)
}

/** An octal number field, or GNU base-256 when the high bit of its first byte is set. */
export function parseNumber(buf: Buffer, start: number, length: number): number {
  if (buf[start] & 0x80) {
    if (buf[start] === 0xff) throw new Error('negative number in header')
    let value = buf[start] & 0x7f
    for (let i = start + 1; i < start + length; i++) value = value * 256 + buf[i]
    if (!Number.isSafeInteger(value)) throw new Error('number in header too large')
    return value
  }
  const text = cString(buf, start, length).trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad number "${text}" in header`)
  return Number.parseInt(text, 8)
}

/** pax extended header records: `<decimal length> <keyword>=<value>\n`, the length counting itself. */
export function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {}
  let pos = 0
  while (pos < body.length) {
    if (body[pos] === 0) break // padding some writers leave
    const space = body.indexOf(0x20, pos)
    if (space < 0) throw new Error('bad pax record')
    const length = Number(body.toString('latin1', pos, space))
    if (!Number.isSafeInteger(length) || length <= space - pos + 1 || pos + length > body.length) {
      throw new Error('bad pax record length')
    }
    const record = body.toString('utf8', space + 1, pos + length - 1) // without the trailing newline
    const eq = record.indexOf('=')
    if (eq < 0) throw new Error('bad pax record')
    out[record.slice(0, eq)] = record.slice(eq + 1)
    pos += length
  }
  return out
}

export interface HeaderFields {
  name: string
  size: number
  /** '0' regular file, '5' directory, 'x' pax extended header. */
  type: '0' | '5' | 'x'
  mode?: number
}

/**
 * One POSIX ustar header block (the same layout parseHeader reads), with uid/gid 0 and mtime 0 so
 * that the same content gives the same bytes. Names longer than 100 bytes are split into the ustar
 * prefix field at a '/'; sizes of 8 GiB and more use GNU base-256, as GNU tar and Go's archive/tar do.
 */
export function encodeHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK)
  let name = h.name
  let prefix = ''
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155)
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) {
      throw new Error(`tar entry name too long: ${name}`)
    }
    prefix = name.slice(0, cut)
    name = name.slice(cut + 1)
  }
  block.write(name, 0, 100, 'utf8')
  const octal = (n: number, at: number, len: number) =>
    block.write(`${n.toString(8).padStart(len - 1, '0')}\0`, at, len, 'latin1')
  octal(h.mode ?? (h.type === '5' ? 0o755 : 0o644), 100, 8)
  octal(0, 108, 8)
  octal(0, 116, 8)
  if (h.size < 8 * 1024 ** 3) octal(h.size, 124, 12)
  else {
    let v = h.size
    for (let i = 135; i > 124; i--) {
      block[i] = v % 256
      v = Math.floor(v / 256)
    }
    block[124] = 0x80
  }
  octal(0, 136, 12)
  block.write(h.type, 156, 1, 'latin1')
  block.write('ustar\0' + '00', 257, 8, 'latin1')
  block.write(prefix, 345, 155, 'utf8')
  block.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += block[i]
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
  return block
}
