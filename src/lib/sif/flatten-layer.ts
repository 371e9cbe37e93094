/**
 * Reading one layer blob as tar entries, in one pass: sniff the compression (gzip, or none; zstd
 * only where this Node.js has zstd in node:zlib), decompress with node:zlib, parse with tar-stream.
 *
 * Names are kept as "binary strings" (one char per byte: tar-stream decodes ustar and GNU long names
 * as latin1, pax `path`/`linkpath` records arrive as UTF-8 and are turned back into their bytes), so
 * a name that is not valid UTF-8 reaches the output byte for byte and all lookups compare bytes.
 *
 * Entries that could leave the root when extracted are refused as tar-paths.ts refuses them in
 * archives (`..`, absolute names, hard links pointing outside); symlink targets are kept as they are
 * (absolute targets are normal in images and only resolve inside the container).
 */
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'
import { extract, type Header } from 'tar-stream'
import { AirlockError, isAirlockError } from '../errors.js'
import { sniffCompression } from '../transports/archive/compression.js'
import { entryName, linkTarget } from '../transports/archive/tar-paths.js'
import type { EntryType, TarEntry } from './flatten-tar-out.js'

export interface LayerSource {
  /** Names the layer in messages, e.g. `layer 2/5 (sha256:…)`. */
  label: string
  open: () => Promise<Readable>
}

export interface LayerItem {
  /** undefined for the root directory (`./`), which a rootfs does not take from layers. */
  entry: TarEntry | undefined
  body: AsyncIterable<Buffer>
}

const CORRUPT_HINT = 'the layer is truncated or corrupt; fetch or save the image again'

/** The layer's entries in order; every item's body must be read or left alone before the next. */
export async function* readLayer(src: LayerSource, signal?: AbortSignal): AsyncGenerator<LayerItem> {
  signal?.throwIfAborted()
  const raw = await src.open()
  const head = await peek(raw, 6).catch((err) => {
    raw.destroy()
    throw corrupt(src.label, err)
  })
  const kind = sniffCompression(head)
  let decompress: NodeJS.ReadWriteStream | undefined
  if (kind === 'gzip') decompress = zlib.createGunzip()
  else if (kind === 'zstd') decompress = zstdDecompressor(src.label, raw)
  else if (kind !== 'none') {
    raw.destroy()
    throw new AirlockError('UNSUPPORTED', `${src.label} is ${kind}-compressed, which OCI layers never are`, {
      hint: 'recompress the image with gzip layers, e.g. skopeo copy --dest-compress-format gzip',
    })
  }
  // Both options exist in tar-stream 3 (extract.js); its typings leave them out.
  const ex = extract({ filenameEncoding: 'latin1', allowUnknownFormat: true } as Parameters<
    typeof extract
  >[0])
  const piped = decompress ? pipeline(raw, decompress, ex, { signal }) : pipeline(raw, ex, { signal })
  piped.catch(() => undefined) // the iterator below reports the same error
  try {
    for await (const stream of ex) {
      const body = stream as unknown as Readable & { header: Header }
      const entry = toEntry(body.header, src.label)
      yield { entry, body: guarded(body, src.label, signal) }
      body.resume()
    }
    await piped
  } catch (err) {
    throw failure(src.label, err, signal)
  } finally {
    // Also when the reader stops early (a generator's return()): no stream stays open.
    ex.destroy()
    raw.destroy()
  }
}

/** An entry's body, with read errors (gzip, short tar) named after the layer. */
async function* guarded(body: Readable, label: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk as Buffer
  } catch (err) {
    throw failure(label, err, signal)
  }
}

function failure(label: string, err: unknown, signal?: AbortSignal): AirlockError {
  if (signal?.aborted) return new AirlockError('INTERRUPTED', `${label}: interrupted`, { cause: err })
  return isAirlockError(err) ? err : corrupt(label, err)
}

function corrupt(label: string, err: unknown): AirlockError {
  const msg = err instanceof Error ? err.message : String(err)
  return new AirlockError('INVALID_INPUT', `${label} cannot be read: ${msg}`, {
    hint: CORRUPT_HINT,
    cause: err,
  })
}

function zstdDecompressor(label: string, raw: Readable): NodeJS.ReadWriteStream {
  const make = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream })
    .createZstdDecompress
  if (typeof make === 'function') return make()
  raw.destroy()
  throw new AirlockError(
    'UNSUPPORTED',
    `${label} is zstd-compressed, and Node.js ${process.version} cannot decompress zstd`,
    { hint: 'run airlock on Node.js >= 22.15, or recompress the image with gzip layers' },
  )
}

/** The first `n` bytes (fewer if the stream is shorter), left in the stream. */
async function peek(stream: Readable, n: number): Promise<Buffer> {
  for (;;) {
    if (stream.errored) throw stream.errored
    const chunk = stream.read(n) as Buffer | null
    if (chunk !== null) {
      stream.unshift(chunk)
      return chunk
    }
    if (stream.readableEnded) return Buffer.alloc(0)
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        stream.off('readable', ok)
        stream.off('end', ok)
        stream.off('error', done)
        if (err) reject(err)
        else resolve()
      }
      const ok = () => done()
      stream.on('readable', ok)
      stream.on('end', ok)
      stream.on('error', done)
    })
  }
}

const TYPES: Record<string, EntryType> = {
  file: 'file',
  'contiguous-file': 'file',
  link: 'link',
  symlink: 'symlink',
  'character-device': 'character-device',
  'block-device': 'block-device',
  directory: 'directory',
  fifo: 'fifo',
}

/** A UTF-8 decoded string as the binary string of its bytes. */
export function binary(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1')
}

function toEntry(h: Header, label: string): TarEntry | undefined {
  const pax = (h.pax ?? {}) as Record<string, string>
  const rawName = pax.path !== undefined ? binary(h.name) : h.name
  const path = entryName(rawName, label)
  const type = h.type ? TYPES[h.type] : undefined
  if (!type) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${label}: entry ${JSON.stringify(rawName)} has an unsupported type (${h.type ?? 'unknown'})`,
      { hint: 'layers hold files, directories, links, devices and fifos only; rebuild the image' },
    )
  }
  if (path === '') return undefined
  const rawLink = h.linkname ? (pax.linkpath !== undefined ? binary(h.linkname) : h.linkname) : ''
  const entry: TarEntry = {
    path,
    type,
    mode: (h.mode ?? 0) & 0o7777,
    uid: numeric(pax.uid) ?? h.uid ?? 0,
    gid: numeric(pax.gid) ?? h.gid ?? 0,
    uname: pax.uname ?? h.uname,
    gname: pax.gname ?? h.gname,
    mtime: numeric(pax.mtime) ?? Math.floor((h.mtime?.getTime() ?? 0) / 1000),
    size: type === 'file' ? (h.size ?? 0) : 0,
  }
  if (type === 'link') entry.linkname = linkTarget(path, 'hardlink', rawLink, label)
  else if (type === 'symlink') entry.linkname = rawLink
  if (type === 'character-device' || type === 'block-device') {
    entry.devmajor = h.devmajor ?? 0
    entry.devminor = h.devminor ?? 0
  }
  const xattrs = xattrsOf(pax)
  if (xattrs) entry.xattrs = xattrs
  return entry
}

function numeric(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = Math.floor(Number(text))
  return Number.isFinite(n) ? n : undefined
}

/**
 * SCHILY.xattr.* records (what GNU tar, Go's archive/tar and containers/storage write). tar-stream
 * decodes record values as UTF-8; a value that was not valid UTF-8 cannot be rebuilt byte for byte
 * and is dropped rather than stored altered.
 */
function xattrsOf(pax: Record<string, string>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined
  for (const [key, value] of Object.entries(pax)) {
    if (!key.startsWith('SCHILY.xattr.') || value.includes('\uFFFD')) continue
    out ??= {}
    out[key.slice('SCHILY.xattr.'.length)] = value
  }
  return out
}
