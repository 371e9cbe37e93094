/**
 * One 512-byte tar header block, decoded without touching the bytes of names.
 *
 * Layouts: POSIX ustar (IEEE Std 1003.1, "pax - portable archive interchange", section "ustar
 * Interchange Format": magic "ustar\0" + version "00", a 155-byte `prefix` at 345), GNU tar's
 * (magic "ustar  \0", no prefix: GNU tar manual, "Basic Tar Format"), star's (a 131-byte prefix and
 * "tar\0" at 508) and old V7 headers (no magic). Numbers are octal text, or GNU base-256 (first
 * byte's high bit set, then two's complement: 0xff starts a negative number, as GNU tar writes times
 * before 1970).
 *
 * Names and link names are Buffers of the bytes as stored: what they mean (UTF-8, Latin-1, or none)
 * is for the caller; the tar formats only say a name ends at its first NUL.
 */

export const BLOCK = 512

/** What is wrong with the tar's own structure (a bad header, record or map); callers say where. */
export class TarFormatError extends Error {}

export type Format = 'ustar' | 'gnu' | 'v7'

/** Shared by empty fields (nothing writes into a field's bytes). */
const EMPTY = Buffer.alloc(0)

export interface HeaderBlock {
  /** The stored name, with the ustar prefix joined on (`prefix/name`). */
  name: Buffer
  linkname: Buffer
  /** The typeflag character; NUL is reported as '\0'. */
  typeflag: string
  mode: number
  uid: number
  gid: number
  /** Bytes of data following the header (for type 'S', the stored data without holes). */
  size: number
  /** Seconds since the epoch (negative before 1970). */
  mtime: number
  uname: Buffer
  gname: Buffer
  devmajor: number
  devminor: number
  format: Format
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false
  return true
}

/** Decodes a header block; throws an Error (the caller says where) when it is not one. */
export function parseHeaderBlock(block: Buffer): HeaderBlock {
  if (!checksumOk(block)) throw new TarFormatError('bad header checksum')
  const magic = block.toString('latin1', 257, 265)
  const format: Format = magic === 'ustar  \0' ? 'gnu' : magic.startsWith('ustar\0') ? 'ustar' : 'v7'
  let name = field(block, 0, 100)
  if (format === 'ustar') {
    const star = block.toString('latin1', 508, 512) === 'tar\0'
    const prefix = field(block, 345, star ? 131 : 155)
    if (prefix.length) name = Buffer.concat([prefix, Buffer.from('/'), name])
  }
  const typeflag = String.fromCharCode(block[156])
  const v7 = format === 'v7'
  return {
    name,
    linkname: field(block, 157, 100),
    typeflag,
    mode: parseNumber(block, 100, 8, 'mode'),
    uid: parseNumber(block, 108, 8, 'uid'),
    gid: parseNumber(block, 116, 8, 'gid'),
    size: parseNumber(block, 124, 12, 'size'),
    mtime: parseNumber(block, 136, 12, 'mtime', true),
    uname: v7 ? EMPTY : field(block, 265, 32),
    gname: v7 ? EMPTY : field(block, 297, 32),
    devmajor: v7 ? 0 : parseNumber(block, 329, 8, 'devmajor'),
    devminor: v7 ? 0 : parseNumber(block, 337, 8, 'devminor'),
    format,
  }
}

function checksumOk(block: Buffer): boolean {
  const want = octal(block, 148, 8)
  if (want === undefined || want < 0) return false
  // The sum of the bytes with the checksum field counted as spaces.
  let unsigned = 8 * 0x20
  let high = 0
  for (let i = 0; i < BLOCK; i++) {
    if (i === 148) i = 156
    const b = block[i]
    unsigned += b
    if (b > 127) high++
  }
  // Some historic tars summed signed bytes; GNU tar and Go accept both.
  return want === unsigned || want === unsigned - 256 * high
}

/**
 * Octal digits, with spaces or NULs before and spaces after, up to a NUL (after which anything goes,
 * as GNU tar and tar-stream read it); -1 for a field with no digits, undefined when anything else is
 * in it. Read byte by byte: a layer has one header per file.
 */
function octal(buf: Buffer, start: number, length: number): number | undefined {
  const end = start + length
  let i = start
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++
  let n = 0
  let digits = 0
  for (; i < end && buf[i] >= 0x30 && buf[i] <= 0x37; i++, digits++) n = n * 8 + (buf[i] - 0x30)
  for (; i < end && buf[i] !== 0; i++) if (buf[i] !== 0x20) return undefined
  return digits ? n : -1
}

/** The bytes of a NUL-terminated field (all of it when it has no NUL), copied. */
export function field(buf: Buffer, start: number, length: number): Buffer {
  if (buf[start] === 0) return EMPTY
  const end = buf.indexOf(0, start)
  const stop = end < 0 || end > start + length ? start + length : end
  return Buffer.from(buf.subarray(start, stop))
}

/**
 * An octal number field, or GNU base-256 when the high bit of its first byte is set. Negative
 * numbers (base-256 with bit 0x40 of the first byte set, as Go reads them) only where `signed`; numbers beyond 2^53 are refused.
 */
export function parseNumber(
  buf: Buffer,
  start: number,
  length: number,
  what: string,
  signed = false,
): number {
  if (buf[start] & 0x80) {
    const negative = (buf[start] & 0x40) !== 0
    if (negative && !signed) throw new TarFormatError(`negative ${what} in header`)
    let value = 0n
    for (let i = start; i < start + length; i++) value = (value << 8n) | BigInt(buf[i])
    const bits = BigInt(length * 8)
    value = negative ? value - (1n << bits) : value & ((1n << (bits - 1n)) - 1n)
    const n = Number(value)
    if (!Number.isSafeInteger(n)) throw new TarFormatError(`${what} in header is too large`)
    return n
  }
  const n = octal(buf, start, length)
  if (n === undefined) {
    const text = buf.toString('latin1', start, start + length).replace(/\0.*$/s, '')
    throw new TarFormatError(`bad ${what} ${JSON.stringify(text)} in header`)
  }
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`${what} in header is too large`)
  return Math.max(n, 0)
}
