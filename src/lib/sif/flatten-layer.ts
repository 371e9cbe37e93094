/**
 * Reading one layer blob as tar entries, in one pass: sniff the compression (gzip, or none; zstd
 * only where this Node.js has zstd in node:zlib), decompress with node:zlib, parse with airlock's
 * own tar reader (src/lib/tar/reader.ts, which says why not tar-stream).
 *
 * Names come from the layer byte for byte and are kept as "binary strings" (one char per byte), so
 * a name that is not valid UTF-8 (`caf\xe9` from a Latin-1 system) reaches the output as the same
 * bytes and all lookups compare bytes. xattrs (the OCI image-spec's layer.md counts them as part of
 * the layer) keep their binary names and raw values, file capabilities included. GNU sparse files
 * come out expanded, under their real names.
 *
 * Entries that could leave the root when extracted are refused as tar-paths.ts refuses them in
 * archives (`..`, absolute names, hard links pointing outside); symlink targets are kept as they are
 * (absolute targets are normal in images and only resolve inside the container).
 */
import { addAbortSignal, pipeline, type Readable } from 'node:stream'
import zlib from 'node:zlib'
import { AirlockError, isAirlockError } from '../errors.js'
import { readTar, type TarHeader } from '../tar/reader.js'
import { sniffCompression } from '../transports/archive/compression.js'
import { entryName, linkTarget } from '../transports/archive/tar-paths.js'
import { displayName, type EntryType, type TarEntry } from './flatten-tar-out.js'

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
  let input: Readable = raw
  if (decompress) {
    // The callback form hands errors of either stream to the last one, which the reader iterates.
    input = pipeline(raw, decompress, () => undefined) as unknown as Readable
  }
  if (signal) addAbortSignal(signal, input)
  try {
    for await (const { header, body } of readTar(input, { what: src.label, hint: CORRUPT_HINT })) {
      yield { entry: toEntry(header, src.label), body: guarded(body, src.label, signal) }
    }
  } catch (err) {
    throw failure(src.label, err, signal)
  } finally {
    // Also when the reader stops early (a generator's return()): no stream stays open.
    input.destroy()
    raw.destroy()
  }
}

/** An entry's body, with read errors (gzip, short tar) named after the layer. */
async function* guarded(
  body: AsyncIterable<Buffer>,
  label: string,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  try {
    yield* body
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

const TYPES: Partial<Record<TarHeader['kind'], EntryType>> = {
  file: 'file',
  hardlink: 'link',
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

function toEntry(h: TarHeader, label: string): TarEntry | undefined {
  const rawName = h.name.toString('latin1')
  const path = entryName(rawName, label)
  const type = TYPES[h.kind]
  if (!type) {
    const flag = /^[\x21-\x7e]$/.test(h.typeflag) ? `'${h.typeflag}'` : `byte ${h.typeflag.charCodeAt(0)}`
    throw new AirlockError(
      'INVALID_INPUT',
      `${label}: entry ${displayName(rawName)} has an unsupported type (${flag})`,
      { hint: 'layers hold files, directories, links, devices and fifos only; rebuild the image' },
    )
  }
  if (path === '') return undefined
  const rawLink = h.linkname.toString('latin1')
  const entry: TarEntry = {
    path,
    type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname.toString('utf8'),
    gname: h.gname.toString('utf8'),
    mtime: h.mtime,
    size: type === 'file' ? h.size : 0,
  }
  if (type === 'link') entry.linkname = linkTarget(path, 'hardlink', rawLink, label)
  else if (type === 'symlink') entry.linkname = rawLink
  if (type === 'character-device' || type === 'block-device') {
    entry.devmajor = h.devmajor
    entry.devminor = h.devminor
  }
  if (h.xattrs) entry.xattrs = h.xattrs
  return entry
}
