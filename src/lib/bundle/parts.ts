/**
 * A bundle is one file, or numbered parts (`images.tar.001`, `.002`, …) that are that file cut at a
 * fixed size (`--split 4000M` for FAT32 media or a transfer service's limit). `cat images.tar.0*`
 * gives the single file back. Beside split parts, `images.tar.SHA256SUMS` lists each part's SHA-256
 * in `sha256sum -c` format, so a part damaged in transit is found before anything reads it.
 *
 * PartsReader reads the parts as one file; PartsWriter writes positions of the one file into the
 * right parts, creating them as the writes reach them.
 */
import { type FileHandle, open, readdir, readFile, stat, unlink } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { AirlockError } from '../errors.js'

export interface BundleFiles {
  /** The bundle's name as given to -o (without a part suffix). */
  base: string
  /** The files holding it, in order: [base], or the parts base.001, base.002, … that exist. */
  parts: string[]
  split: boolean
  /**
   * Parts that should be there and are not: numbers below the highest part found, and parts that
   * `<base>.SHA256SUMS` lists. A bundle with missing parts cannot be read (Bundle.open refuses it).
   */
  missing: string[]
}

const PART_RE = /\.(\d{3,})$/

/** `images.tar.001` for part 0. */
export function partPath(base: string, i: number): string {
  return `${base}.${String(i + 1).padStart(3, '0')}`
}

/** The list of part checksums beside split parts. */
export function partSumsPath(base: string): string {
  return `${base}.SHA256SUMS`
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** `{ base, i }` when `path` is exactly `partPath(base, i)` (`images.tar.001`: images.tar, 0). */
function partNumber(path: string): { base: string; i: number } | undefined {
  const m = PART_RE.exec(path)
  if (!m) return undefined
  const base = path.slice(0, -m[0].length)
  const i = Number(m[1]) - 1
  return i >= 0 && partPath(base, i) === path ? { base, i } : undefined
}

/** Numbers of the parts of `base` that exist (0 for `base.001`), in order, found in base's directory. */
async function existingParts(base: string): Promise<number[]> {
  let names: string[]
  try {
    names = await readdir(dirname(base))
  } catch (err) {
    if (['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return []
    throw err
  }
  const out: number[] = []
  for (const name of names) {
    const p = partNumber(name)
    if (p && p.base === basename(base) && (await isFile(partPath(base, p.i)))) out.push(p.i)
  }
  return out.sort((a, b) => a - b)
}

/**
 * Numbers of the parts `<base>.SHA256SUMS` lists (`sha256sum` lines naming `base.001`, …), or
 * undefined when there is no such file.
 */
async function listedParts(base: string): Promise<number[] | undefined> {
  let text: string
  try {
    text = await readFile(partSumsPath(base), 'utf8')
  } catch (err) {
    if (['ENOENT', 'EISDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined
    throw err
  }
  const out: number[] = []
  for (const line of text.split('\n')) {
    const name = /^[0-9a-f]{64} [ *](.+)$/.exec(line)?.[1]
    const p = name === undefined ? undefined : partNumber(name)
    if (p && p.base === basename(base)) out.push(p.i)
  }
  return out
}

/**
 * The files of the bundle `path` names (the bundle, or any of its parts), or undefined when there
 * is none: neither the file, nor any part, nor a parts checksum list. Parts are found by listing the
 * directory, so a missing part leaves a gap (in `missing`) rather than hiding the parts after it.
 */
export async function findBundleFiles(path: string): Promise<BundleFiles | undefined> {
  let base = path
  const named = partNumber(path)
  if (named && !(await isFile(partPath(path, 0)))) {
    // `images.tar.003` names a part of images.tar when images.tar has other parts or a parts list, or
    // when it is the first part; else it is a bundle of that name (a file, or nothing).
    const others = (await existingParts(named.base)).filter((i) => i !== named.i)
    if (named.i === 0 || others.length || (await listedParts(named.base))) base = named.base
  }
  const single = base !== path ? false : await isFile(base)
  const found = await existingParts(base)
  const listed = await listedParts(base)
  if (single && found[0] === 0) {
    throw new AirlockError(
      'INVALID_INPUT',
      `both ${base} and ${partPath(base, 0)} exist; airlock cannot tell which is the bundle`,
      {
        hint: `move one of them away (the parts are the bundle split; ${basename(base)} may be them joined)`,
      },
    )
  }
  if (single) return { base, parts: [base], split: false, missing: [] }
  if (!found.length && !listed?.length) return undefined
  const count = Math.max(found.length ? found[found.length - 1] + 1 : 0, ...(listed ?? []).map((i) => i + 1))
  const have = new Set(found)
  const missing: string[] = []
  for (let i = 0; i < count; i++) if (!have.has(i)) missing.push(partPath(base, i))
  return { base, parts: found.map((i) => partPath(base, i)), split: true, missing }
}

type Part = { path: string; fh: FileHandle; start: number; size: number }

/** Several files read as one; implements what ArchiveFile needs of a FileHandle. */
export class PartsReader {
  private constructor(
    private readonly parts: Part[],
    readonly size: number,
  ) {}

  static async open(paths: string[]): Promise<PartsReader> {
    const parts: Part[] = []
    let start = 0
    try {
      for (const path of paths) {
        const fh = await open(path, 'r')
        const size = (await fh.stat()).size
        parts.push({ path, fh, start, size })
        start += size
      }
    } catch (err) {
      for (const p of parts) await p.fh.close().catch(() => undefined)
      throw new AirlockError(
        'INVALID_INPUT',
        `cannot read ${paths[parts.length]}: ${(err as Error).message}`,
        {
          hint: 'check that every part of the bundle is there and readable',
          cause: err,
        },
      )
    }
    return new PartsReader(parts, start)
  }

  /** Part sizes, in order. */
  get sizes(): number[] {
    return this.parts.map((p) => p.size)
  }

  async read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }> {
    const part = this.parts.find((p) => position >= p.start && position < p.start + p.size)
    if (!part || length === 0) return { bytesRead: 0 }
    const n = Math.min(length, part.start + part.size - position)
    return part.fh.read(buffer, offset, n, position - part.start)
  }

  async close(): Promise<void> {
    for (const p of this.parts) await p.fh.close().catch(() => undefined)
  }
}

/**
 * Writes one logical file as parts of `partSize` bytes (Infinity: a single file). Part i lives at
 * `pathFor(i)`; parts are created (exclusively, unless they existed when opened) as writes reach
 * them.
 */
export class PartsWriter {
  private readonly fhs: Array<FileHandle | undefined> = []
  private readonly made = new Set<number>()
  /** Parts that existed before this writer (appending); the others were created by it. */
  private readonly existing: number

  constructor(
    private readonly pathFor: (i: number) => string,
    readonly partSize: number,
    existing = 0,
  ) {
    this.existing = existing
  }

  private readonly opening = new Map<number, Promise<FileHandle>>()

  /** The part's handle, opened once even when several writes reach a new part at the same time. */
  private handle(i: number): Promise<FileHandle> {
    const fh = this.fhs[i]
    if (fh) return Promise.resolve(fh)
    let p = this.opening.get(i)
    if (!p) {
      p = this.openPart(i).finally(() => this.opening.delete(i))
      this.opening.set(i, p)
    }
    return p
  }

  private async openPart(i: number): Promise<FileHandle> {
    const path = this.pathFor(i)
    let fh: FileHandle
    try {
      fh = await open(path, i < this.existing ? 'r+' : 'wx', 0o644)
    } catch (err) {
      throw new AirlockError('INVALID_INPUT', `cannot write ${path}: ${(err as Error).message}`, {
        hint:
          (err as NodeJS.ErrnoException).code === 'EEXIST'
            ? `${path} is in the way; move it away`
            : 'check that the directory exists and is writable, and that the disk has room',
        cause: err,
      })
    }
    this.fhs[i] = fh
    if (i >= this.existing) this.made.add(i)
    return fh
  }

  /** Number of parts a file of `size` bytes needs (at least one). */
  partsFor(size: number): number {
    return Number.isFinite(this.partSize) ? Math.max(1, Math.ceil(size / this.partSize)) : 1
  }

  async write(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }> {
    const i = Number.isFinite(this.partSize) ? Math.floor(position / this.partSize) : 0
    const start = Number.isFinite(this.partSize) ? i * this.partSize : 0
    const n = Math.min(length, start + this.partSize - position)
    const fh = await this.handle(i)
    return fh.write(buffer, offset, n, position - start)
  }

  /** Cuts the file to `size` bytes; parts wholly beyond it are removed. */
  async truncate(size: number): Promise<void> {
    const keep = this.partsFor(size)
    for (let i = Math.max(this.fhs.length, this.existing) - 1; i >= keep; i--) {
      await this.fhs[i]?.close().catch(() => undefined)
      this.fhs[i] = undefined
      await unlink(this.pathFor(i)).catch(() => undefined)
    }
    const last = keep - 1
    const lastSize = size - (Number.isFinite(this.partSize) ? last * this.partSize : 0)
    const fh = await this.handle(last)
    await fh.truncate(lastSize)
  }

  async sync(): Promise<void> {
    for (const fh of this.fhs) await fh?.sync()
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.fhs.length; i++) {
      await this.fhs[i]?.close().catch(() => undefined)
      this.fhs[i] = undefined
    }
  }

  /** Removes every part this writer created (a new bundle that is abandoned). */
  async removeCreated(): Promise<void> {
    await this.close()
    for (const i of this.made) await unlink(this.pathFor(i)).catch(() => undefined)
    this.made.clear()
  }

  /** Paths of the parts written so far (after close: of the whole file). */
  paths(size: number): string[] {
    return Array.from({ length: this.partsFor(size) }, (_, i) => this.pathFor(i))
  }
}
