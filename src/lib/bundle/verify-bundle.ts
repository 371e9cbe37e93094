/**
 * `airlock bundle verify`: every part against `<bundle>.SHA256SUMS`, every blob against the digest
 * that is its name, every image complete (each manifest, config and layer its index.json entry
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
import { parseSums, readPartSums } from './bundle-metadata.js'
import { blobPath, digestOfPath, INDEX_FILE, SUMS_FILE, UNUSED_DIR } from './layout.js'
import { Bundle } from './open-bundle.js'
import { findBundleFiles, partSumsPath } from './parts.js'

export interface VerifyProblem {
  kind: 'part' | 'blob' | 'missing' | 'size' | 'index' | 'sums'
  /** The part file, blob digest or image reference concerned. */
  name: string
  message: string
}

export interface VerifyReport {
  bundle: string
  parts: Array<{ path: string; size: number; sha256?: string; expected?: string }>
  images: number
  blobs: { checked: number; bytes: number }
  /** Bytes of entries no image uses: replaced index files, blobs of images since replaced, unused space. */
  unreferencedBytes: number
  problems: VerifyProblem[]
  notes: string[]
  ok: boolean
}

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
  const parts: VerifyReport['parts'] = []
  let done = 0
  let total = 0
  const progress = (n: number) => {
    done += n
    opts.onProgress?.(done, total)
  }
  if (files?.split) {
    for (const path of files.parts) total += (await stat(path)).size
    const sums = await readPartSums(files.base)
    if (!sums)
      notes.push(`${basename(partSumsPath(files.base))} is missing, so the parts were not checked one by one`)
    for (const path of files.parts) {
      const { sha256, size } = await sha256OfFile(path, { signal: opts.signal, onBytes: progress })
      const expected = sums?.get(basename(path))
      parts.push({ path, size, sha256, ...(expected ? { expected } : {}) })
      if (sums && expected !== sha256) {
        problems.push({
          kind: 'part',
          name: path,
          message: expected
            ? `${path}: SHA-256 ${sha256}, expected ${expected}`
            : `${path} is not listed in ${partSumsPath(files.base)}`,
        })
      }
    }
    for (const name of sums?.keys() ?? []) {
      if (!files.parts.some((p) => basename(p) === name)) {
        problems.push({ kind: 'part', name, message: `part ${name} is missing` })
      }
    }
  }
  let bundle: Bundle
  try {
    bundle = await Bundle.open(file, opts.signal)
  } catch (err) {
    // Parts that are damaged or missing explain a bundle that cannot be read: report them (exit 5).
    if (!problems.length || !files) throw err
    return {
      bundle: files.base,
      parts,
      images: 0,
      blobs: { checked: 0, bytes: 0 },
      unreferencedBytes: 0,
      problems: [
        ...problems,
        {
          kind: 'part',
          name: files.base,
          message: `so the bundle cannot be read: ${(err as Error).message}`,
        },
      ],
      notes,
      ok: false,
    }
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
    if (archive.size - archive.end > 1024) {
      notes.push(
        `${archive.size - archive.end - 1024} bytes after the end of the archive (an interrupted add); the next bundle create overwrites them`,
      )
    }
    return {
      bundle: bundle.files.base,
      parts,
      images: bundle.images.length,
      blobs: { checked: blobs.length, bytes },
      unreferencedBytes: Math.max(0, unreferenced - 1024),
      problems,
      notes,
      ok: problems.length === 0,
    }
  } finally {
    await bundle.close()
  }
}
