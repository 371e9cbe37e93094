/**
 * Tar headers for the archive index (tar-index.ts) and the bundle writer.
 *
 * Reading: the block is decoded by src/lib/tar/header.ts (POSIX ustar and pax, IEEE Std 1003.1,
 * "pax - portable archive interchange"; GNU tar's layout and base-256 numbers, GNU tar manual,
 * "Basic Tar Format"), names kept as their bytes and made text by src/lib/tar/names.ts: UTF-8 where
 * they are UTF-8, other bytes escaped one to one, so no two member names become one.
 */
import { BLOCK, parseHeaderBlock } from '../../tar/header.js'
import { decodeName, encodeName } from '../../tar/names.js'

export { BLOCK, isZeroBlock } from '../../tar/header.js'

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
  /** The ustar name (prefix joined), as text (names.ts). */
  name: string
  linkname: string
  size: number
  kind: HeaderKind
  /** The typeflag character. */
  typeflag: string
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

/** Parses one header block; throws an Error (the caller adds where) when it is not a tar header. */
export function parseHeader(block: Buffer): RawHeader {
  const h = parseHeaderBlock(block)
  return {
    name: decodeName(h.name),
    linkname: decodeName(h.linkname),
    size: h.size,
    kind: KINDS[h.typeflag] ?? 'other',
    typeflag: h.typeflag,
  }
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
  // The bytes the name stands for (names.ts), so that what parseHeader reads back is the same text.
  let name: Buffer = encodeName(h.name)
  let prefix: Buffer = Buffer.alloc(0)
  if (name.length > 100) {
    const cut = name.lastIndexOf(0x2f, 155)
    if (cut <= 0 || name.length - cut - 1 > 100) {
      throw new Error(`tar entry name too long: ${h.name}`)
    }
    prefix = name.subarray(0, cut)
    name = name.subarray(cut + 1)
  }
  name.copy(block, 0)
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
  prefix.copy(block, 345)
  block.fill(0x20, 148, 156)
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += block[i]
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
  return block
}
