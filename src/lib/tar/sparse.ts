/**
 * GNU sparse files (GNU tar manual, "Sparse Formats",
 * https://www.gnu.org/software/tar/manual/html_section/Sparse-Formats.html): a file stored as its
 * data regions only, with a map of where they go. Four formats, as `tar --sparse` writes them:
 * - old GNU (type 'S', `--format=gnu`): four map entries in the header at offset 386, more in
 *   extension blocks after it while `isextended` is set; the real size at 483;
 * - pax 0.0: GNU.sparse.offset / GNU.sparse.numbytes records repeated once per region, real size in
 *   GNU.sparse.size;
 * - pax 0.1: the map as one comma-separated GNU.sparse.map record, GNU.sparse.size;
 * - pax 1.0 (GNU.sparse.major=1, minor=0): the map as decimal lines at the start of the data, padded
 *   to a block, real size in GNU.sparse.realsize, the real name in GNU.sparse.name.
 *
 * Maps are checked as Go's archive/tar checks them (regions in order, not overlapping, inside the
 * real size) and must account for every stored byte. Expansion streams: holes are zeros produced on
 * the fly, never a buffer of the file's size.
 */
import { BLOCK, parseNumber, TarFormatError } from './header.js'
import { type PaxRecords, paxInteger, paxValue } from './pax.js'

export interface SparseRegion {
  offset: number
  length: number
}

/** Upper bound for a sparse map (its text for 1.0, its extension blocks for old GNU), as Go's limit. */
export const MAX_MAP_BYTES = 1 << 20

export type PaxSparse =
  | { version: '0.0' | '0.1'; realSize: number; map: SparseRegion[] }
  | { version: '1.0'; realSize: number }

/**
 * The pax sparse format of an entry's records, or undefined when the entry is not sparse. Throws an
 * Error (the caller names the entry) on a version it cannot read or a bad map.
 */
export function paxSparse(records: PaxRecords, sparseList: string[]): PaxSparse | undefined {
  const major = paxValue(records, 'GNU.sparse.major')?.toString('latin1')
  const minor = paxValue(records, 'GNU.sparse.minor')?.toString('latin1')
  const map = paxValue(records, 'GNU.sparse.map')?.toString('latin1')
  if (major !== undefined || minor !== undefined) {
    if (major === '1' && minor === '0') return { version: '1.0', realSize: realSizeOf(records) }
    if (major !== '0' || (minor !== '0' && minor !== '1')) {
      throw new TarFormatError(`GNU sparse format ${major ?? '?'}.${minor ?? '?'} is not one GNU tar defines`)
    }
  }
  if (map === undefined && !sparseList.length) {
    if (major === undefined) return undefined
    throw new TarFormatError('sparse file without a map')
  }
  const numbers = map !== undefined ? map.split(',') : sparseList
  const regions = pairs(numbers)
  const blocks = paxInteger(records, 'GNU.sparse.numblocks')
  if (blocks !== undefined && blocks !== regions.length) {
    throw new TarFormatError(`sparse map has ${regions.length} regions, GNU.sparse.numblocks says ${blocks}`)
  }
  return { version: map !== undefined ? '0.1' : '0.0', realSize: realSizeOf(records), map: regions }
}

function realSizeOf(records: PaxRecords): number {
  const n = paxInteger(records, 'GNU.sparse.size') ?? paxInteger(records, 'GNU.sparse.realsize')
  if (n === undefined) throw new TarFormatError('sparse file without GNU.sparse.size or GNU.sparse.realsize')
  return n
}

function pairs(numbers: string[]): SparseRegion[] {
  if (numbers.length % 2) throw new TarFormatError('sparse map has an odd count of numbers')
  const out: SparseRegion[] = []
  for (let i = 0; i < numbers.length; i += 2) {
    out.push({ offset: decimal(numbers[i]), length: decimal(numbers[i + 1]) })
  }
  return out
}

function decimal(text: string): number {
  const n = Number(text)
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n))
    throw new TarFormatError(`bad number ${JSON.stringify(text)} in sparse map`)
  return n
}

/**
 * The 1.0 map at the start of the data: `count\n` then `offset\nlength\n` per region, then NULs to
 * the block's end. `nextBlock` gives the data's blocks one at a time. Returns the regions and how
 * many bytes (whole blocks) the map took.
 */
export async function readMap1(
  nextBlock: () => Promise<Buffer>,
): Promise<{ map: SparseRegion[]; used: number }> {
  const numbers: string[] = []
  let want = 1
  let partial = ''
  let used = 0
  while (numbers.length < want) {
    if (used >= MAX_MAP_BYTES) throw new TarFormatError('sparse map is too large')
    const block = await nextBlock()
    used += BLOCK
    let text = partial + block.toString('latin1')
    const nul = text.indexOf('\0')
    if (nul >= 0) text = text.slice(0, nul)
    const lines = text.split('\n')
    partial = nul >= 0 ? '' : (lines.pop() ?? '')
    if (nul >= 0 && lines.at(-1) === '') lines.pop()
    for (const line of lines) {
      if (numbers.length >= want) break
      numbers.push(line)
      if (numbers.length === 1) want = 1 + 2 * decimal(line)
    }
    if (nul >= 0 && numbers.length < want) {
      throw new TarFormatError(`sparse map has ${numbers.length} numbers, its count says ${want}`)
    }
  }
  return { map: pairs(numbers.slice(1)), used }
}

/** Old GNU sparse ('S'): the header's entries; `isextended` says an extension block follows. */
export function oldGnuMap(block: Buffer): { map: SparseRegion[]; realSize: number; extended: boolean } {
  return {
    map: oldGnuEntries(block, 386, 4),
    realSize: parseNumber(block, 483, 12, 'sparse real size'),
    extended: block[482] !== 0,
  }
}

/** One old GNU extension block: 21 entries, then `isextended` at 504. */
export function oldGnuExtension(block: Buffer): { map: SparseRegion[]; extended: boolean } {
  return { map: oldGnuEntries(block, 0, 21), extended: block[504] !== 0 }
}

function oldGnuEntries(block: Buffer, at: number, count: number): SparseRegion[] {
  const out: SparseRegion[] = []
  for (let i = 0; i < count; i++) {
    const o = at + i * 24
    if (block[o] === 0) break // an unused entry ends the list (as GNU tar and Go read it)
    out.push({
      offset: parseNumber(block, o, 12, 'sparse offset'),
      length: parseNumber(block, o + 12, 12, 'sparse size'),
    })
  }
  return out
}

/** Checks a map against the real size and the stored data size; throws an Error saying what is wrong. */
export function checkMap(map: SparseRegion[], realSize: number, stored: number): void {
  let end = 0
  let total = 0
  for (const r of map) {
    if (r.offset < end) throw new TarFormatError('sparse map regions overlap or are out of order')
    end = r.offset + r.length
    if (end > realSize)
      throw new TarFormatError(
        `sparse map region ${r.offset}+${r.length} is beyond the file's size ${realSize}`,
      )
    total += r.length
  }
  if (total !== stored) {
    throw new TarFormatError(`sparse map names ${total} bytes of data, but ${stored} are stored`)
  }
}

const ZEROS = Buffer.alloc(64 * 1024)

/**
 * The file's real contents: zeros for the holes, and for each region its bytes from `data`, which
 * gives at most the number of bytes asked for per call (fewer is fine; undefined at its end).
 */
export async function* expandSparse(
  map: SparseRegion[],
  realSize: number,
  data: (max: number) => Promise<Buffer | undefined>,
): AsyncGenerator<Buffer> {
  let pos = 0
  for (const r of [...map, { offset: realSize, length: 0 }]) {
    for (let hole = r.offset - pos; hole > 0; hole -= ZEROS.length)
      yield ZEROS.subarray(0, Math.min(hole, ZEROS.length))
    for (let left = r.length; left > 0; ) {
      const piece = await data(left)
      if (!piece) throw new TarFormatError('sparse file data ends early')
      left -= piece.length
      yield piece
    }
    pos = r.offset + r.length
  }
}
