/**
 * A seekable tar index: one pass over the headers, seeking over every body, so an archive of any
 * size is indexed in a few reads per entry and never extracted. Bodies are then read by offset.
 *
 * No well-kept npm package gives random access to tar members (tar-stream and node-tar read
 * sequentially), hence this small indexer; header parsing is in tar-header.ts, pax records in
 * src/lib/tar/pax.ts (kept as bytes; 'g' records apply to all later entries, 'x' to the next), and
 * names become text by src/lib/tar/names.ts, one to one with their bytes.
 */
import { AirlockError } from '../../errors.js'
import { decodeName } from '../../tar/names.js'
import { PaxState, paxInteger, paxValue } from '../../tar/pax.js'
import type { PositionalReader } from './file-range.js'
import { BLOCK, isZeroBlock, parseHeader, type RawHeader } from './tar-header.js'
import { entryName, linkTarget } from './tar-paths.js'

export interface TarEntry {
  /** Normalized path inside the archive (no leading `./`, no trailing `/`). */
  name: string
  kind: 'file' | 'hardlink' | 'symlink' | 'directory' | 'other'
  /** Offset of the entry's first header block (GNU long-name and pax headers included). */
  header: number
  /** Offset of the body in the archive file. */
  offset: number
  size: number
  /** For links: the archive path the link points at (already checked to stay inside). */
  target?: string
}

/** pax records that mark a GNU sparse member (formats 0.0, 0.1 and 1.0). */
const SPARSE_KEYS = ['GNU.sparse.major', 'GNU.sparse.map', 'GNU.sparse.offset', 'GNU.sparse.size']

/** Limit for the bodies of GNU long-name and pax header entries. */
const MAX_META = 1 << 20

/**
 * Indexes the archive. `out.end` receives the offset where the archive's entries end (its closing
 * zero blocks, or the end of the file when they are missing). When an entry runs past the end of the
 * file, `out.cut` names it and the offset it needed to reach before the error is thrown, so a caller
 * can tell a file cut short from one that is not a tar.
 */
export async function indexTar(
  fh: PositionalReader,
  fileSize: number,
  what: string,
  signal?: AbortSignal,
  out?: { end: number; cut?: { name: string; end: number } },
): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>()
  const block = Buffer.alloc(BLOCK)
  const pax = new PaxState()
  let longName: string | undefined
  let longLink: string | undefined
  let pos = 0
  let header = 0
  const corrupt = (why: string) =>
    new AirlockError(
      'INVALID_INPUT',
      pos === 0 ? `${what} is not a tar archive (${why})` : `${what} is corrupt: ${why} at offset ${pos}`,
      {
        hint:
          pos === 0
            ? 'give a file written by docker save, podman save or skopeo copy'
            : 'the file was truncated or damaged; create it again',
      },
    )

  while (pos + BLOCK <= fileSize) {
    signal?.throwIfAborted()
    await readFully(fh, block, pos)
    if (isZeroBlock(block)) break // end of archive (two zero blocks; one is enough to stop)
    let h: RawHeader
    try {
      h = parseHeader(block)
    } catch (err) {
      throw corrupt((err as Error).message)
    }
    if (!longName && !longLink && !pax.pending) header = pos
    const isMeta = h.kind === 'gnu-longname' || h.kind === 'gnu-longlink' || h.kind.startsWith('pax')
    const records = isMeta ? undefined : pax.take().records
    let size = h.size
    let body = pos + BLOCK
    try {
      if (records) size = paxInteger(records, 'size') ?? h.size
      // Old GNU sparse headers are followed by extension blocks while `isextended` is set (GNU tar
      // manual, "Old GNU Format"); the data comes after them.
      for (let ext = h.typeflag === 'S' && block[482] !== 0; ext; body += BLOCK) {
        if (body + BLOCK > fileSize) throw new Error(`entry ${JSON.stringify(h.name)} is cut short`)
        await readFully(fh, block, body)
        ext = block[504] !== 0
      }
    } catch (err) {
      throw corrupt((err as Error).message)
    }
    // Links and directories carry no body even when a size is set (ustar: size is ignored).
    const bodySize = h.kind === 'hardlink' || h.kind === 'symlink' || h.kind === 'directory' ? 0 : size
    if (body + bodySize > fileSize) {
      if (out) out.cut = { name: h.name, end: body + bodySize }
      throw corrupt(`entry ${JSON.stringify(h.name)} is cut short`)
    }

    if (!records) {
      if (size > MAX_META) throw corrupt(`oversized ${h.kind} header`)
      const data = Buffer.alloc(size)
      await readFully(fh, data, body)
      try {
        if (h.kind === 'gnu-longname') longName = decodeName(cut(data))
        else if (h.kind === 'gnu-longlink') longLink = decodeName(cut(data))
        else if (h.kind === 'pax') pax.addLocal(data)
        else pax.addGlobal(data)
      } catch (err) {
        throw corrupt((err as Error).message)
      }
    } else {
      const paxName = paxValue(records, 'path')
      const paxLink = paxValue(records, 'linkpath')
      const rawName = paxName ? decodeName(paxName) : (longName ?? h.name)
      const rawLink = paxLink ? decodeName(paxLink) : (longLink ?? h.linkname)
      longName = undefined
      longLink = undefined
      const name = entryName(rawName, what)
      const entry: TarEntry = { name, kind: h.kind as TarEntry['kind'], header, offset: body, size: bodySize }
      if (h.typeflag === 'S' || SPARSE_KEYS.some((k) => records.has(k))) {
        // GNU sparse members (GNU tar manual, "Sparse Formats") do not hold the file's bytes as
        // stored: indexed under their real name as 'other', reading one is refused, not the map given.
        entry.kind = 'other'
        const real = paxValue(records, 'GNU.sparse.name')
        if (real) entry.name = entryName(decodeName(real), what)
      } else if (h.kind === 'symlink' || h.kind === 'hardlink') {
        entry.target = linkTarget(name, h.kind, rawLink, what)
      }
      // The root directory entry ("./") has an empty name; nothing refers to it.
      if (entry.name) entries.set(entry.name, entry) // a later entry replaces an earlier one, as on extraction
    }
    pos = body + Math.ceil(bodySize / BLOCK) * BLOCK
  }
  if (out) out.end = pos
  if (pos === 0 && fileSize < BLOCK) {
    throw new AirlockError('INVALID_INPUT', `${what} is not a tar archive (${fileSize} bytes)`, {
      hint: 'give a file written by docker save, podman save or skopeo copy',
    })
  }
  return entries
}

/** A GNU long name body: the name ends at its first NUL. */
function cut(data: Buffer): Buffer {
  const nul = data.indexOf(0)
  return nul < 0 ? data : data.subarray(0, nul)
}

/** Fills `buf` from `position`; the file must not end before (it was sized when opened). */
export async function readFully(fh: PositionalReader, buf: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done)
    if (bytesRead === 0) {
      throw new AirlockError('INVALID_INPUT', `archive ended early at offset ${position + done}`, {
        hint: 'the file is being changed or was truncated while airlock read it',
      })
    }
    done += bytesRead
  }
}
