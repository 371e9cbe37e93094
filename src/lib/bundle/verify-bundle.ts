/**
 * `airlock bundle verify`: every part on its own against `<bundle>.SHA256SUMS` (a missing part is
 * named and the parts after it are still checked), a bundle cut short named as such rather than as
 * "not a bundle", every blob against the digest that is its name, every image complete (each manifest, config and layer its index.json entry
 * reaches is there, with the size its descriptor gives), and SHA256SUMS inside consistent with
 * index.json. Blobs are hashed as byte ranges of the parts, two at a time; nothing is extracted.
 */
import { createHash } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { runPool } from '../copy/pool.js'
import { sha256Digest } from '../digest.js'
import { parseManifest } from '../manifest.js'
import { sha256OfFile } from '../sha256-file.js'
import { MAX_JSON } from '../transports/archive/archive-file.js'
import { BLOCK, parseHeader } from '../transports/archive/tar-header.js'
import { indexTar, readFully } from '../transports/archive/tar-index.js'
import { cleanName } from '../transports/archive/tar-paths.js'
import { parseSums, readPartSums } from './bundle-metadata.js'
import { blobPath, checkEntry, digestOfPath, INDEX_FILE, SUMS_FILE, UNUSED_DIR } from './layout.js'
import { Bundle } from './open-bundle.js'
import { type BundleFiles, findBundleFiles, PartsReader, partSumsPath } from './parts.js'

export interface VerifyProblem {
  /** `truncated`: the bundle (its last part, when split) ends before its last entry does. */
  kind: 'part' | 'blob' | 'missing' | 'size' | 'index' | 'sums' | 'truncated'
  /** The part file, blob digest or image reference concerned. */
  name: string
  message: string
}

export interface VerifyPart {
  path: string
  /** Absent for a missing part. */
  size?: number
  sha256?: string
  /** The SHA-256 `<bundle>.SHA256SUMS` lists for it. */
  expected?: string
  /**
   * Split parts only: `ok` matches its line in `<bundle>.SHA256SUMS`; `damaged` does not (without
   * that list: its size is not the size the other parts were cut at); `missing`; `unlisted` is not in
   * the list; `unchecked` when there is no list and its size is right.
   */
  status?: 'ok' | 'damaged' | 'missing' | 'unlisted' | 'unchecked'
}

export interface VerifyReport {
  bundle: string
  parts: VerifyPart[]
  images: number
  blobs: { checked: number; bytes: number }
  /** Bytes of entries no image uses: replaced index files, blobs of images since replaced, unused space. */
  unreferencedBytes: number
  problems: VerifyProblem[]
  notes: string[]
  /** What to do about the problems, when airlock can tell (parts to copy again). */
  hint?: string
  ok: boolean
}

/** The number of a part path (1 for `images.tar.001`). */
const partNo = (path: string) => Number(/\.(\d+)$/.exec(path)?.[1])

export async function verifyBundle(
  file: string,
  opts: {
    signal?: AbortSignal
    jobs?: number
    /** Bytes hashed so far, of about `total` (parts first, then blobs). */
    onProgress?: (done: number, total: number) => void
  } = {},
): Promise<VerifyReport> {
  const problems: VerifyProblem[] = []
  const notes: string[] = []
  const files = await findBundleFiles(file)
  const parts: VerifyPart[] = []
  let done = 0
  let total = 0
  const progress = (n: number) => {
    done += n
    opts.onProgress?.(done, total)
  }
  if (files?.split)
    await checkParts(files, parts, problems, notes, opts.signal, progress, (n) => (total += n))
  /** The report of a bundle whose images could not be read. */
  const unread = (why: string, partsMayFollow = false): VerifyReport => {
    notes.push(`the images and blobs were not checked: ${why}`)
    return finish(
      {
        bundle: files?.base ?? file,
        parts,
        images: 0,
        blobs: { checked: 0, bytes: 0 },
        unreferencedBytes: 0,
        problems,
        notes,
        ok: false,
      },
      partsMayFollow,
    )
  }
  if (files?.missing.length) {
    return unread(`the bundle cannot be read without ${files.missing.map((p) => basename(p)).join(', ')}`)
  }
  let bundle: Bundle
  try {
    bundle = await Bundle.open(file, opts.signal)
  } catch (err) {
    if (!files) throw err
    // Parts that are damaged explain a bundle that cannot be read: report them (exit 5).
    if (problems.length) return unread((err as Error).message)
    // A bundle cut short (the last part, or the one file) is damaged too, not "not a bundle".
    const cut = await cutShort(files, opts.signal)
    if (!cut) throw err
    problems.push(cut.problem)
    return unread('the bundle cannot be read to its end', cut.partsMayFollow)
  }
  try {
    const archive = bundle.archive
    if (!parts.length) parts.push({ path: files?.base ?? file, size: archive.size })
    // Every blob against its name.
    const blobs = [...archive.entries.values()].filter((e) => e.kind === 'file' && digestOfPath(e.name))
    let bytes = 0
    for (const e of blobs) total += e.size
    await runPool(
      blobs,
      Math.max(1, opts.jobs ?? 2),
      async (entry) => {
        const digest = digestOfPath(entry.name) as string
        const [alg] = digest.split(':')
        const hash = createHash(alg === 'sha256' ? 'sha256' : alg)
        const stream = archive.stream(entry, opts.signal)
        stream.on('data', (c: Buffer) => progress(c.length))
        await pipeline(stream, hash)
        const got = `${alg}:${hash.digest('hex')}`
        bytes += entry.size
        if (got !== digest)
          problems.push({
            kind: 'blob',
            name: digest,
            message: `blob ${digest} is damaged: its content hashes to ${got}`,
          })
      },
      opts.signal,
    )
    // Every image complete.
    const used = new Set<string>()
    const usedBy = new Map<string, Set<string>>()
    const need = (digest: string, size: number, of: string): boolean => {
      const name = blobPath(digest)
      usedBy.set(digest, (usedBy.get(digest) ?? new Set()).add(of))
      const entry = archive.entries.get(name)
      used.add(name)
      if (entry?.kind !== 'file') {
        problems.push({ kind: 'missing', name: digest, message: `${of}: blob ${digest} is missing` })
        return false
      }
      if (entry.size !== size) {
        problems.push({
          kind: 'size',
          name: digest,
          message: `${of}: blob ${digest} has ${entry.size} bytes, the manifest says ${size}`,
        })
        return false
      }
      return true
    }
    const damaged = new Set(problems.filter((p) => p.kind === 'blob').map((p) => p.name))
    const walk = async (digest: string, mediaType: string, size: number, of: string): Promise<void> => {
      if (!need(digest, size, of) || damaged.has(digest)) return
      const bytes = await archive.read(archive.file(blobPath(digest), `manifest ${digest}`), MAX_JSON)
      const m = parseManifest(bytes, mediaType, `${of} (${digest})`)
      for (const c of m.children) {
        if (m.kind === 'index') await walk(c.digest, c.mediaType, c.size, of)
        else need(c.digest, c.size, of)
      }
    }
    for (const img of bundle.images) await walk(img.digest, img.mediaType, img.size, img.reference)
    for (const p of problems) {
      const refs = p.kind === 'blob' ? usedBy.get(p.name) : undefined
      if (refs?.size) p.message += ` (used by ${[...refs].join(', ')})`
    }
    // SHA256SUMS inside: the index it lists must be this index.
    if (archive.has(SUMS_FILE)) {
      const sums = parseSums((await archive.read(archive.file(SUMS_FILE, SUMS_FILE))).toString('utf8'))
      const index = await archive.read(archive.file(INDEX_FILE, INDEX_FILE), MAX_JSON)
      const listed = sums.get(INDEX_FILE)
      if (listed && listed !== sha256Digest(index).slice(7)) {
        problems.push({
          kind: 'sums',
          name: INDEX_FILE,
          message: `index.json does not match its line in ${SUMS_FILE}`,
        })
      }
      for (const name of sums.keys()) {
        if (!archive.has(name))
          problems.push({ kind: 'sums', name, message: `${name}, listed in ${SUMS_FILE}, is missing` })
      }
    }
    let unreferenced = archive.size - archive.end
    for (const e of archive.entries.values()) {
      if ((digestOfPath(e.name) && !used.has(e.name)) || e.name.startsWith(`${UNUSED_DIR}/`))
        unreferenced += e.size
    }
    if (archive.size - archive.end > 2 * BLOCK) {
      notes.push(
        `${archive.size - archive.end - 2 * BLOCK} bytes after the end of the archive (an interrupted add); the next bundle create overwrites them`,
      )
    } else if (archive.size - archive.end < 2 * BLOCK && !problems.some((p) => p.kind === 'part')) {
      problems.push(closingBlocksMissing(bundle.files, archive.size))
    }
    return finish({
      bundle: bundle.files.base,
      parts,
      images: bundle.images.length,
      blobs: { checked: blobs.length, bytes },
      unreferencedBytes: Math.max(0, unreferenced - 2 * BLOCK),
      problems,
      notes,
      ok: problems.length === 0,
    })
  } finally {
    await bundle.close()
  }
}

/**
 * Each part on its own: its SHA-256 against `<bundle>.SHA256SUMS`, or without that list its size
 * against the size parts are cut at. A missing part is named and the parts after it are still checked.
 */
async function checkParts(
  files: BundleFiles,
  parts: VerifyPart[],
  problems: VerifyProblem[],
  notes: string[],
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
  addTotal: (n: number) => void,
): Promise<void> {
  const list = partSumsPath(files.base)
  const sizes = new Map<string, number>()
  for (const path of files.parts) {
    sizes.set(path, (await stat(path)).size)
    addTotal(sizes.get(path) as number)
  }
  const sums = await readPartSums(files.base)
  if (!sums) notes.push(`${list} is missing, so the parts were checked by size, not one by one by SHA-256`)
  const missing = new Set(files.missing)
  const all = [...files.parts, ...files.missing].sort((a, b) => partNo(a) - partNo(b))
  // Without the list: every part but the last has the size the bundle was cut at (the largest).
  const cutAt = Math.max(...sizes.values())
  for (const [n, path] of all.entries()) {
    if (missing.has(path)) {
      parts.push({ path, status: 'missing' })
      problems.push({ kind: 'part', name: path, message: `part ${path} is missing` })
      continue
    }
    const { sha256, size } = await sha256OfFile(path, { signal, onBytes })
    const expected = sums?.get(basename(path))
    const wrongSize = !sums && n < all.length - 1 && size !== cutAt
    const status = sums
      ? expected === undefined
        ? 'unlisted'
        : expected === sha256
          ? 'ok'
          : 'damaged'
      : wrongSize
        ? 'damaged'
        : 'unchecked'
    parts.push({ path, size, sha256, ...(expected ? { expected } : {}), status })
    if (status === 'damaged') {
      problems.push({
        kind: 'part',
        name: path,
        message: wrongSize
          ? `${path} has ${size} bytes; every part but the last has ${cutAt}`
          : `${path}: SHA-256 ${sha256}, expected ${expected}`,
      })
    } else if (status === 'unlisted') {
      problems.push({ kind: 'part', name: path, message: `${path} is not listed in ${list}` })
    }
  }
  // Lines of the list that name no part of this bundle (the list of another name, or edited).
  for (const name of sums?.keys() ?? []) {
    if (!all.some((p) => basename(p) === name)) {
      problems.push({ kind: 'part', name, message: `part ${name}, listed in ${list}, is missing` })
    }
  }
}

/** Whether a tar's first header is an entry a bundle holds (airlock writes `oci-layout` first). */
function startsAsBundle(block: Buffer): boolean {
  try {
    const h = parseHeader(block)
    const name = cleanName(h.name)
    if (!name || (h.kind !== 'file' && h.kind !== 'directory')) return false
    checkEntry(name, h.kind, 'bundle')
    return true
  } catch {
    return false
  }
}

/**
 * When the bundle starts as a bundle but ends before its last entry does, or without the zero blocks
 * that close a tar: the problem to report (the file, or its last part, was cut short).
 */
async function cutShort(
  files: BundleFiles,
  signal?: AbortSignal,
): Promise<{ problem: VerifyProblem; partsMayFollow?: boolean } | undefined> {
  const reader = await PartsReader.open(files.parts)
  try {
    if (reader.size < BLOCK) return undefined
    const head = Buffer.alloc(BLOCK)
    await readFully(reader, head, 0)
    if (!startsAsBundle(head)) return undefined
    const out: { end: number; cut?: { name: string; end: number } } = { end: 0 }
    try {
      await indexTar(reader, reader.size, files.base, signal, out)
    } catch {
      if (!out.cut) return undefined
    }
    if (out.cut) {
      const last = files.parts[files.parts.length - 1]
      // Without a parts list, a last part as large as the first may be whole, with parts after it lost.
      const sizes = reader.sizes
      const whole = files.split && sizes[sizes.length - 1] === sizes[0]
      return {
        problem: {
          kind: 'truncated',
          name: last,
          message: `${last} is cut short${whole ? ', or parts after it are missing' : ''}: ${files.split ? 'the bundle' : 'it'} ends after ${reader.size} bytes, inside entry ${out.cut.name}, which ends at byte ${out.cut.end}; at least ${out.cut.end - reader.size} bytes are missing`,
        },
        partsMayFollow: whole,
      }
    }
    return reader.size - out.end < 2 * BLOCK
      ? { problem: closingBlocksMissing(files, reader.size) }
      : undefined
  } finally {
    await reader.close()
  }
}

function closingBlocksMissing(files: BundleFiles, size: number): VerifyProblem {
  const last = files.parts[files.parts.length - 1]
  return {
    kind: 'truncated',
    name: last,
    message: `${last} is cut short: ${files.split ? 'the bundle' : 'it'} ends after ${size} bytes, without the two zero blocks that close a tar`,
  }
}

/** The report with its hint: which files to copy again. */
function finish(r: VerifyReport, partsMayFollow = false): VerifyReport {
  const unlisted = r.parts.filter((p) => p.status === 'unlisted').map((p) => p.path)
  const bad = [
    ...new Set(r.problems.filter((p) => p.kind === 'part' || p.kind === 'truncated').map((p) => p.name)),
  ].filter((name) => !unlisted.includes(name))
  const hints: string[] = []
  if (bad.length) {
    const good = r.parts.filter((p) => p.status === 'ok').length
    hints.push(
      `copy ${bad.join(', ')}${partsMayFollow ? ' (and any parts after it)' : ''} again from where the bundle was made, then run airlock bundle verify ${r.bundle} again`,
    )
    if (good) hints.push(`the other parts match ${partSumsPath(r.bundle)} and need not be copied again`)
  }
  if (unlisted.length)
    hints.push(`move ${unlisted.join(', ')} away: ${partSumsPath(r.bundle)} does not list it`)
  return hints.length ? { ...r, hint: hints.join('; ') } : r
}
