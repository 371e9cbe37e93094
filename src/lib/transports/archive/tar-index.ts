/**
 * A seekable tar index: one pass over the headers, seeking over every body, so an archive of any
 * size is indexed in a few reads per entry and never extracted. Bodies are then read by offset.
 *
 * No well-kept npm package gives random access to tar members (tar-stream and node-tar read
 * sequentially), hence this small indexer; header parsing is in tar-header.ts.
 */
import { AirlockError } from '../../errors.js'
import type { PositionalReader } from './file-range.js'
import { BLOCK, cString, isZeroBlock, parseHeader, parsePax, type RawHeader } from './tar-header.js'
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
  const global: Record<string, string> = {}
  let pax: Record<string, string> = {}
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
    const ext = { ...global, ...pax }
    if (!longName && !longLink && !Object.keys(pax).length) header = pos
    const isMeta = h.kind === 'gnu-longname' || h.kind === 'gnu-longlink' || h.kind.startsWith('pax')
    const size = !isMeta && ext.size !== undefined ? Number(ext.size) : h.size
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(`bad size for ${JSON.stringify(h.name)}`)
    const body = pos + BLOCK
    // Links and directories carry no body even when a size is set (ustar: size is ignored).
    const bodySize = h.kind === 'hardlink' || h.kind === 'symlink' || h.kind === 'directory' ? 0 : size
    if (body + bodySize > fileSize) {
      if (out) out.cut = { name: h.name, end: body + bodySize }
      throw corrupt(`entry ${JSON.stringify(h.name)} is cut short`)
    }

    if (isMeta) {
      if (size > MAX_META) throw corrupt(`oversized ${h.kind} header`)
      const data = Buffer.alloc(size)
      await readFully(fh, data, body)
      try {
        if (h.kind === 'gnu-longname') longName = cString(data, 0, data.length)
        else if (h.kind === 'gnu-longlink') longLink = cString(data, 0, data.length)
        else if (h.kind === 'pax') pax = parsePax(data)
        else Object.assign(global, parsePax(data))
      } catch (err) {
        throw corrupt((err as Error).message)
      }
    } else {
      const rawName = ext.path ?? longName ?? h.name
      const rawLink = ext.linkpath ?? longLink ?? h.linkname
      pax = {}
      longName = undefined
      longLink = undefined
      const name = entryName(rawName, what)
      const entry: TarEntry = { name, kind: h.kind as TarEntry['kind'], header, offset: body, size: bodySize }
      if (h.kind === 'symlink' || h.kind === 'hardlink') {
        entry.target = linkTarget(name, h.kind, rawLink, what)
      }
      // The root directory entry ("./") has an empty name; nothing refers to it.
      if (name) entries.set(name, entry) // a later entry replaces an earlier one, as on extraction
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
