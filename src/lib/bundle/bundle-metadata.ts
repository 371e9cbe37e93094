/**
 * The files written after the blobs: index.json (the images, annotated), SHA256SUMS (every file of
 * the layout, checkable with `sha256sum -c` once extracted), airlock-bundle.json (a summary), and,
 * beside split parts, `<bundle>.SHA256SUMS` with each part's checksum.
 */
import { readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { runPool } from '../copy/pool.js'
import { sha256Digest } from '../digest.js'
import { type Descriptor, MEDIA } from '../manifest.js'
import { writeAtomic } from '../mirror/report.js'
import { sha256OfFile } from '../sha256-file.js'
import type { BundleWriter, WrittenBundle } from './bundle-writer.js'
import {
  ANN,
  digestOfPath,
  INDEX_FILE,
  LAYOUT_BYTES,
  LAYOUT_FILE,
  SUMMARY_FILE,
  SUMMARY_FORMAT,
  SUMS_FILE,
} from './layout.js'
import { partSumsPath } from './parts.js'

export interface BundleSummary {
  format: string
  updated: string
  images: Array<{
    reference: string
    digest: string
    mediaType: string
    target?: string
    referrerOf?: string
  }>
  blobs: { count: number; bytes: number }
}

export async function metadataFiles(
  writer: BundleWriter,
  index: Descriptor[],
  layout: Buffer = LAYOUT_BYTES,
  partSize = Number.POSITIVE_INFINITY,
): Promise<Array<{ name: string; bytes: Buffer }>> {
  const doc = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: index,
    ...(Number.isFinite(partSize) ? { annotations: { [ANN.partSize]: String(partSize) } } : {}),
  }
  const indexBytes = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`)
  const blobs = writer
    .names()
    .map((n) => [n, digestOfPath(n)] as const)
    .filter((x): x is readonly [string, string] => x[1]?.startsWith('sha256:') === true)
    .sort(([a], [b]) => (a < b ? -1 : 1))
  const sums = [
    `${sha256Digest(layout).slice(7)}  ${LAYOUT_FILE}`,
    `${sha256Digest(indexBytes).slice(7)}  ${INDEX_FILE}`,
    ...blobs.map(([name, digest]) => `${digest.slice(7)}  ${name}`),
  ]
  const summary: BundleSummary = {
    format: SUMMARY_FORMAT,
    updated: new Date().toISOString(),
    images: index.map((d) => ({
      reference: d.annotations?.[ANN.refName] ?? d.digest,
      digest: d.digest,
      mediaType: d.mediaType,
      ...(d.annotations?.[ANN.target] ? { target: d.annotations[ANN.target] } : {}),
      ...(d.annotations?.[ANN.referrerOf] ? { referrerOf: d.annotations[ANN.referrerOf] } : {}),
    })),
    blobs: writer.blobTotals(),
  }
  return [
    { name: INDEX_FILE, bytes: indexBytes },
    { name: SUMS_FILE, bytes: Buffer.from(`${sums.join('\n')}\n`) },
    { name: SUMMARY_FILE, bytes: Buffer.from(`${JSON.stringify(summary, null, 2)}\n`) },
  ]
}

/** `hex  name` lines of a SHA256SUMS file, by name. */
export function parseSums(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line)
    if (m) out.set(m[2], m[1])
  }
  return out
}

export async function readPartSums(base: string): Promise<Map<string, string> | undefined> {
  try {
    return parseSums(await readFile(partSumsPath(base), 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * `<bundle>.SHA256SUMS` beside split parts: parts this run did not change keep their old line;
 * the others are hashed.
 */
export async function writePartSums(
  base: string,
  written: WrittenBundle,
  signal?: AbortSignal,
): Promise<void> {
  const old = (await readPartSums(base)) ?? new Map<string, string>()
  const changed = new Set(written.changed)
  const hex = new Map<string, string>()
  for (const part of written.parts) {
    const kept = changed.has(part) ? undefined : old.get(basename(part))
    if (kept) hex.set(part, kept)
  }
  // The parts to hash, two at a time (each is a sequential read; two keep both cores busy).
  await runPool(
    written.parts.filter((p) => !hex.has(p)),
    2,
    async (part) => {
      hex.set(part, (await sha256OfFile(part, { signal })).sha256)
    },
    signal,
  )
  const lines = written.parts.map((part) => `${hex.get(part)}  ${basename(part)}`)
  await writeAtomic(join(dirname(base), basename(partSumsPath(base))), `${lines.join('\n')}\n`)
}
