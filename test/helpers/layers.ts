/**
 * Image layer tars for the rootfs flattening tests, written with tar-stream exactly as given (names
 * are not cleaned, so hostile entries can be made): files, directories, symlinks, hard links,
 * devices, fifos, whiteouts and opaque markers, with chosen owners, modes, mtimes and pax records.
 * Large files get pseudo-random contents generated while the tar streams (nothing that size is held
 * in memory), optionally gzip-compressed.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { PassThrough, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { pack } from 'tar-stream'

export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo'

export interface LayerEntrySpec {
  path: string
  type?: LayerEntryType
  data?: string | Buffer
  /** Pseudo-random contents of this many bytes, streamed (instead of data). */
  randomSize?: number
  mode?: number
  uid?: number
  gid?: number
  uname?: string
  gname?: string
  mtime?: Date
  /** Symlink or hard link target, written as given. */
  target?: string
  devmajor?: number
  devminor?: number
  /** Extra pax records, e.g. { 'SCHILY.xattr.user.k': 'v' }. */
  pax?: Record<string, string>
}

export const LAYER_MTIME = new Date('2024-01-01T00:00:00Z')

/** `.wh.NAME` next to `path`: removes `path` from lower layers. */
export function whiteout(path: string): LayerEntrySpec {
  const i = path.lastIndexOf('/')
  return { path: `${path.slice(0, i + 1)}.wh.${path.slice(i + 1)}`, data: '' }
}

/** `DIR/.wh..wh..opq`: hides the lower layers' contents of `dir`. */
export function opaque(dir: string): LayerEntrySpec {
  return { path: `${dir}/.wh..wh..opq`, data: '' }
}

const TYPES = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  hardlink: 'link',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
} as const

/** A layer tar as a stream; gzip-compressed when asked. */
export function layerStream(entries: LayerEntrySpec[], opts: { gzip?: boolean } = {}): Readable {
  const p = pack()
  const out = new PassThrough({ highWaterMark: 1024 * 1024 })
  const src = p as unknown as Readable
  const done = opts.gzip ? pipeline(src, createGzip({ level: 1 }), out) : pipeline(src, out)
  done.catch((err) => out.destroy(err))
  void (async () => {
    for (const e of entries) await addEntry(p, e)
    p.finalize()
  })().catch((err) => out.destroy(err))
  return out
}

/** A whole layer tar in memory (small layers only). */
export async function layerBytes(entries: LayerEntrySpec[], opts: { gzip?: boolean } = {}): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of layerStream(entries, opts)) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** An opener (as flattenLayers takes) for bytes in memory. */
export function opener(bytes: Buffer): () => Promise<Readable> {
  return async () => Readable.from([bytes])
}

async function addEntry(p: ReturnType<typeof pack>, e: LayerEntrySpec): Promise<void> {
  const type = TYPES[e.type ?? 'file']
  const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data
  const size = type === 'file' ? (e.randomSize ?? data?.length ?? 0) : 0
  const header = {
    name: e.path,
    type,
    size,
    mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    uname: e.uname ?? (e.uid ? '' : 'root'),
    gname: e.gname ?? (e.gid ? '' : 'root'),
    mtime: e.mtime ?? LAYER_MTIME,
    linkname: e.target,
    devmajor: e.devmajor,
    devminor: e.devminor,
    ...(e.pax ? { pax: e.pax } : {}),
  }
  if (e.randomSize === undefined || type !== 'file') {
    await new Promise<void>((resolve, reject) =>
      p.entry(header, type === 'file' ? (data ?? Buffer.alloc(0)) : Buffer.alloc(0), (err) =>
        err ? reject(err) : resolve(),
      ),
    )
    return
  }
  const sink = p.entry(header) as unknown as NodeJS.WritableStream
  const key = createHash('sha256').update(e.path).digest().subarray(0, 16)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  const zero = Buffer.alloc(256 * 1024)
  async function* chunks() {
    for (let left = size; left > 0; left -= zero.length)
      yield cipher.update(zero.subarray(0, Math.min(left, zero.length)))
  }
  await pipeline(Readable.from(chunks()), sink)
}

/** The contents layerStream gives a `randomSize` entry at `path`. */
export function randomContentOf(path: string, size: number): Buffer {
  const key = createHash('sha256').update(path).digest().subarray(0, 16)
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}
