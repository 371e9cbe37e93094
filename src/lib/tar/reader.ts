/**
 * A streaming tar reader that keeps every byte of names, link names and pax records as stored.
 *
 * Why not tar-stream (which airlock used before): it decodes pax records as UTF-8, so a name or an
 * xattr value that is not valid UTF-8 (Go writes every non-ASCII name as a pax `path`; file
 * capabilities are binary) is altered before anyone sees it, and it knows no sparse files. node-tar
 * also decodes records as text. So this small reader: headers (header.ts), pax records (pax.ts),
 * GNU sparse files expanded on the fly (sparse.ts).
 *
 * Formats: ustar and pax (IEEE Std 1003.1, "pax Interchange Format": 'x' records for the next entry,
 * 'g' records for all following ones), GNU 'L'/'K' long names (GNU tar manual, "Basic Tar Format"),
 * the GNU sparse formats. The archive ends at its first zero block, as Go's archive/tar (which writes
 * and reads image layers) takes it; what follows is read and dropped, so a digest check at the end
 * of the input still runs. An input that stops at a block boundary without the zero blocks is taken
 * as ended, as GNU tar and Go do.
 *
 * Memory: one input chunk and the current header; entry bodies are handed on as they arrive.
 */
import { AirlockError } from '../errors.js'
import { ByteSource } from './byte-source.js'
import { BLOCK, type HeaderBlock, isZeroBlock, parseHeaderBlock, TarFormatError } from './header.js'
import { decodeName } from './names.js'
import { type PaxRecords, PaxState, paxInteger, paxTime, paxValue, paxXattrs } from './pax.js'
import {
  checkMap,
  expandSparse,
  MAX_MAP_BYTES,
  oldGnuExtension,
  oldGnuMap,
  paxSparse,
  readMap1,
  type SparseRegion,
} from './sparse.js'

export type EntryKind =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'unknown'

export interface TarHeader {
  /** The entry's name as stored (pax path, GNU long name, or ustar prefix/name; for sparse files GNU.sparse.name). */
  name: Buffer
  linkname: Buffer
  kind: EntryKind
  /** The header's typeflag, for messages about 'unknown' entries. */
  typeflag: string
  mode: number
  uid: number
  gid: number
  /** Seconds since the epoch (pax mtime, whole seconds). */
  mtime: number
  /** Bytes `body` gives: the real size of a sparse file, 0 for header-only types. */
  size: number
  uname: Buffer
  gname: Buffer
  devmajor: number
  devminor: number
  /** SCHILY.xattr / LIBARCHIVE.xattr attributes: binary-string names, raw values. */
  xattrs?: Map<string, Buffer>
  /** Which GNU sparse format the entry was stored in, if any. */
  sparse?: 'old-gnu' | '0.0' | '0.1' | '1.0'
}

export interface TarItem {
  header: TarHeader
  /** Must be read before the next item is asked for, or left alone (then it is skipped). */
  body: AsyncIterable<Buffer>
}

export interface ReadTarOptions {
  /** Names the archive in messages, e.g. `layer 2/5 (sha256:…)`. */
  what: string
  /** The hint of errors about a malformed archive. */
  hint: string
}

const KINDS: Record<string, EntryKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
}
/** Types without data, whatever their size field says (POSIX ustar; Go's isHeaderOnlyType). */
function headerOnly(kind: EntryKind): boolean {
  return kind !== 'file' && kind !== 'unknown'
}
/** Upper bound for the bodies of 'L', 'K', 'x' and 'g' entries. */
const MAX_META = 1 << 20

/** The archive's entries in order. Errors in the tar's structure are AirlockError INVALID_INPUT. */
export async function* readTar(input: AsyncIterable<Buffer>, opts: ReadTarOptions): AsyncGenerator<TarItem> {
  const src = new ByteSource(input)
  const pax = new PaxState()
  let longName: Buffer | undefined
  let longLink: Buffer | undefined
  let entryName: Buffer | undefined
  const fail = (err: unknown, name = entryName): unknown => {
    if (!(err instanceof TarFormatError)) return err
    const why = name ? `entry ${display(name)}: ${err.message}` : `${err.message} at byte ${src.position}`
    return new AirlockError('INVALID_INPUT', `${opts.what} cannot be read: ${why}`, {
      hint: opts.hint,
      cause: err,
    })
  }
  const meta = async (h: HeaderBlock): Promise<Buffer> => {
    if (h.size > MAX_META)
      throw new TarFormatError(`extended header of ${h.size} bytes is larger than allowed`)
    const body = (await src.exact(h.size)) ?? Buffer.alloc(0)
    if (body.length < h.size) throw new TarFormatError('archive ends inside an extended header')
    await src.skip(padding(h.size))
    return Buffer.from(body)
  }
  try {
    for (;;) {
      entryName = undefined
      const block = await src.exact(BLOCK)
      if (!block) {
        if (pax.pending || longName || longLink)
          throw new TarFormatError('archive ends after an extended header')
        return
      }
      if (isZeroBlock(block)) {
        await src.drain()
        return
      }
      const h = parseHeaderBlock(block)
      if (h.typeflag === 'L') longName = cut(await meta(h))
      else if (h.typeflag === 'K') longLink = cut(await meta(h))
      else if (h.typeflag === 'x') pax.addLocal(await meta(h))
      else if (h.typeflag === 'g') pax.addGlobal(await meta(h))
      else {
        const { records, sparseList } = pax.take()
        const name = paxValue(records, 'path') ?? longName ?? h.name
        const linkname = paxValue(records, 'linkpath') ?? longLink ?? h.linkname
        longName = undefined
        longLink = undefined
        entryName = paxValue(records, 'GNU.sparse.name') ?? name
        const item = await entry(src, block, h, name, linkname, records, sparseList, fail)
        try {
          yield item.item
        } finally {
          item.done()
        }
        await src.skip(item.left())
      }
    }
  } catch (err) {
    throw fail(err)
  } finally {
    await src.close()
  }
}

interface Pending {
  item: TarItem
  /** Marks the body as stale (the reader moved on). */
  done: () => void
  /** Bytes of the entry still in the input, padding included. */
  left: () => number
}

async function entry(
  src: ByteSource,
  block: Buffer,
  h: HeaderBlock,
  name: Buffer,
  linkname: Buffer,
  records: PaxRecords,
  sparseList: string[],
  fail: (err: unknown, name: Buffer) => unknown,
): Promise<Pending> {
  let kind: EntryKind = KINDS[h.typeflag] ?? 'unknown'
  // Old (pre-POSIX) archives mark directories by a trailing slash on a regular file's name.
  if (h.typeflag === '\0' && name.at(-1) === 0x2f) kind = 'directory'
  const stored = headerOnly(kind) ? 0 : (paxInteger(records, 'size') ?? h.size)
  const padded = stored + padding(stored)
  let header: TarHeader = {
    name,
    linkname,
    kind,
    typeflag: h.typeflag,
    mode: h.mode & 0o7777,
    uid: paxInteger(records, 'uid') ?? h.uid,
    gid: paxInteger(records, 'gid') ?? h.gid,
    mtime: paxTime(records, 'mtime') ?? h.mtime,
    size: stored,
    uname: paxValue(records, 'uname') ?? h.uname,
    gname: paxValue(records, 'gname') ?? h.gname,
    devmajor: h.devmajor,
    devminor: h.devminor,
  }
  const xattrs = paxXattrs(records)
  if (xattrs) header.xattrs = xattrs
  let consumed = 0
  let map: SparseRegion[] | undefined
  if (h.typeflag === 'S') {
    const old = oldGnuMap(block)
    map = old.map
    for (let ext = old.extended, n = 0; ext; n++) {
      if (n * BLOCK >= MAX_MAP_BYTES) throw new TarFormatError('sparse map is too large')
      const more = await src.exact(BLOCK)
      if (!more || more.length < BLOCK) throw new TarFormatError('archive ends inside a sparse map')
      const e = oldGnuExtension(more)
      map.push(...e.map)
      ext = e.extended
    }
    header = { ...header, kind: 'file', size: old.realSize, sparse: 'old-gnu' }
  } else if (kind === 'file') {
    const ps = paxSparse(records, sparseList)
    if (ps) {
      header = {
        ...header,
        name: paxValue(records, 'GNU.sparse.name') ?? name,
        size: ps.realSize,
        sparse: ps.version,
      }
      if (ps.version === '1.0') {
        const r = await readMap1(async () => {
          if (consumed + BLOCK > stored) throw new TarFormatError('sparse map runs past the entry data')
          const b = await src.exact(BLOCK)
          if (!b || b.length < BLOCK) throw new TarFormatError('archive ends inside a sparse map')
          consumed += BLOCK
          return b
        })
        map = r.map
      } else map = ps.map
    }
  }
  if (map) checkMap(map, header.size, stored - consumed)

  let current = true
  const pull = async (max: number): Promise<Buffer | undefined> => {
    if (!current) throw new Error('a tar entry body was read after the reader moved past it')
    const want = Math.min(max, stored - consumed)
    if (want <= 0) return undefined
    const piece = await src.next(want)
    if (!piece) throw fail(new TarFormatError('the archive ends inside its data'), header.name)
    consumed += piece.length
    return piece
  }
  const body = map ? expandSparse(map, header.size, pull) : plain(pull)
  return {
    item: { header, body },
    done: () => {
      current = false
    },
    left: () => padded - consumed,
  }
}

async function* plain(pull: (max: number) => Promise<Buffer | undefined>): AsyncGenerator<Buffer> {
  for (;;) {
    const piece = await pull(1 << 30)
    if (!piece) return
    yield piece
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

/** A GNU long name body: the name ends at its first NUL. */
function cut(body: Buffer): Buffer {
  const nul = body.indexOf(0)
  return nul < 0 ? body : body.subarray(0, nul)
}

/** Name bytes for messages: in JSON quotes, UTF-8 where they are, other bytes as \xNN. */
export function display(name: Buffer): string {
  return JSON.stringify(decodeName(name)).replace(/\\udc([89a-f][0-9a-f])/g, '\\x$1')
}
