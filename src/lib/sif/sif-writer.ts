/**
 * Writes a SIF file the way Apptainer assembles one after a docker-archive build
 * (apptainer/apptainer internal/pkg/build/assemblers/sif.go): in group 1, Def.FILE, then the
 * non-empty JSON.Generic objects sorted by name, then the squashfs as the primary system partition,
 * 4096-aligned, its arch in the header.
 *
 * The partition comes from a finished squashfs file (copied in a stream, hashed on the way) or is
 * written in place by a tool that can skip a prefix (`mksquashfs -offset`); then the header,
 * descriptors and small objects are written in front of it and the file is hashed in one read pass.
 * Output goes to a temporary name in the target directory and is renamed when complete.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { type FileHandle, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { AirlockError, isAirlockError, localIoError, toAirlockError } from '../errors.js'
import { run } from '../exec.js'
import { sha256OfFile } from '../sha256-file.js'
import { archCode, DataType, DETERMINISTIC_TIME, FsType, NAME_LENGTH, PartType } from './sif-format.js'
import { encodeSifPrefix, layoutSif, type SifObjectInput } from './sif-layout.js'

export interface SifPlan {
  /** Text of the Def.FILE object, e.g. `bootstrap: docker-archive\nfrom: x.tar\n\n`. */
  definition: string
  /** JSON.Generic objects by name (`inspect-metadata.json`, `oci-config.json`); empty ones are left out. */
  json: Record<string, Buffer>
  /** Go arch name of the partition (and header), e.g. amd64. */
  arch: string
  /** Nil UUID and Go's zero time (§2 `OptCreateDeterministic`) unless `id`/`createdAt` are given. */
  reproducible?: boolean
  /** Default: now; with `reproducible`, -62135596800. Stored in whole seconds. */
  createdAt?: Date
  /** 16 bytes. Default: a random UUID; with `reproducible`, the nil UUID. */
  id?: Buffer
}

export type SifPartitionSource =
  /**
   * A finished squashfs file, copied in. With `consume`, the file is given up to the SIF: when it is
   * on the output's filesystem and that filesystem can insert a range (ext4, XFS: `fallocate
   * --insert-range`), room for the header is opened in front of it and nothing is copied; otherwise
   * it is copied and then removed.
   */
  | { file: string; consume?: boolean }
  /**
   * A tool writes the squashfs into `tempPath` (which exists, empty) starting at `offset`, e.g.
   * `mksquashfs ROOTFS tempPath -offset N -noappend`; the partition is the rest of the file.
   */
  | { writeAt: (tempPath: string, offset: number, signal?: AbortSignal) => Promise<void> }

export interface WriteSifOptions {
  signal?: AbortSignal
  /** Partition bytes copied so far (file source only; a writeAt tool reports its own progress). */
  onProgress?: (bytes: number) => void
}

export interface WrittenSif {
  path: string
  size: number
  /** Hex SHA-256 of the whole file. */
  sha256: string
  partition: { offset: number; size: number }
}

const NIL_ID = Buffer.alloc(16)
const SQUASHFS_MAGIC = 0x73717368 // "hsqs" little-endian
const SUPERBLOCK_SIZE = 96

interface Resolved {
  inputs: SifObjectInput[]
  contents: Buffer[]
  id: Buffer
  time: number
}

function resolve(plan: SifPlan, partitionSize: number): Resolved {
  const arch = archCode(plan.arch)
  const definition = Buffer.from(plan.definition, 'utf8')
  const names = Object.keys(plan.json)
    .filter((n) => plan.json[n].length > 0)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))) // Go sort.Strings: byte order
  const long = names.find((n) => Buffer.byteLength(n) > NAME_LENGTH)
  if (long)
    throw new AirlockError('INVALID_INPUT', `SIF object name "${long}" is longer than ${NAME_LENGTH} bytes`)
  const inputs: SifObjectInput[] = [
    { dataType: DataType.Deffile, size: definition.length },
    ...names.map((name) => ({ dataType: DataType.GenericJSON, name, size: plan.json[name].length })),
    {
      dataType: DataType.Partition,
      size: partitionSize,
      partition: { fsType: FsType.Squashfs, partType: PartType.PrimSys, arch },
    },
  ]
  const id = plan.id ?? (plan.reproducible ? NIL_ID : Buffer.from(randomUUID().replace(/-/g, ''), 'hex'))
  if (id.length !== 16) throw new AirlockError('INVALID_INPUT', `a SIF ID is 16 bytes, not ${id.length}`)
  const ms = plan.createdAt?.getTime() ?? (plan.reproducible ? DETERMINISTIC_TIME * 1000 : Date.now())
  if (!Number.isFinite(ms)) throw new AirlockError('INVALID_INPUT', 'SIF creation time is not a valid date')
  return {
    inputs,
    contents: [definition, ...names.map((n) => plan.json[n])],
    id,
    time: Math.floor(ms / 1000),
  }
}

function layoutOf(plan: SifPlan, partitionSize: number) {
  const r = resolve(plan, partitionSize)
  const layout = layoutSif(r.inputs, { id: r.id, time: r.time })
  const partition = layout.descriptors[layout.descriptors.length - 1]
  return { ...r, layout, offset: partition.offset }
}

/** Absolute offset where the partition starts; it does not depend on the partition's size. */
export function partitionOffset(plan: SifPlan): number {
  return layoutOf(plan, 0).offset
}

/** Checks the squashfs superblock at `at`: magic, major version 4, bytes_used within `size`. */
async function checkSquashfs(fh: FileHandle, at: number, size: number): Promise<string | undefined> {
  if (size < SUPERBLOCK_SIZE) return `${size} bytes, smaller than a squashfs superblock`
  const sb = Buffer.alloc(SUPERBLOCK_SIZE)
  await fh.read(sb, 0, SUPERBLOCK_SIZE, at)
  if (sb.readUInt32LE(0) !== SQUASHFS_MAGIC) return 'no squashfs magic "hsqs"'
  if (sb.readUInt16LE(28) !== 4) return `squashfs version ${sb.readUInt16LE(28)}, not 4`
  const used = Number(sb.readBigUInt64LE(40))
  if (used > size) return `the superblock says ${used} bytes but ${size} are there (truncated)`
  return undefined
}

/** pwrite until all of `buf` is at `at` (a short write is legal, if rare). */
async function writeAll(fh: FileHandle, buf: Buffer, at: number): Promise<void> {
  let done = 0
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, at + done)
    done += bytesWritten
  }
}

function checkAborted(signal?: AbortSignal): void {
  if (!signal?.aborted) return
  throw isAirlockError(signal.reason)
    ? signal.reason
    : new AirlockError('INTERRUPTED', 'SIF writing was interrupted')
}

async function copyPartition(
  fh: FileHandle,
  src: string,
  at: number,
  expected: number,
  hash: ReturnType<typeof createHash>,
  opts: WriteSifOptions,
): Promise<void> {
  let copied = 0
  for await (const chunk of createReadStream(src, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    checkAborted(opts.signal)
    hash.update(chunk)
    await writeAll(fh, chunk, at + copied)
    copied += chunk.length
    opts.onProgress?.(copied)
  }
  if (copied !== expected) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${src} changed size while it was copied (${expected} -> ${copied} bytes)`,
    )
  }
}

function openError(err: unknown, out: string): AirlockError {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new AirlockError('INVALID_INPUT', `cannot write ${out}: its directory does not exist`, {
      cause: err,
    })
  }
  // Permission, read-only or full disk: IO_FAILED naming the path, with a hint (exit 1).
  return localIoError(err, out) ?? toAirlockError(err, `cannot write ${out}`)
}

/** Partition from a finished squashfs: prefix first, then the copy; hashed as it is written. */
async function fromFile(fh: FileHandle, plan: SifPlan, file: string, opts: WriteSifOptions) {
  const src = await open(file, 'r').catch((err) => {
    throw err.code === 'ENOENT'
      ? new AirlockError('NOT_FOUND', `squashfs file ${file} does not exist`)
      : toAirlockError(err, `cannot read squashfs ${file}`)
  })
  let size: number
  try {
    size = (await src.stat()).size
    const bad = await checkSquashfs(src, 0, size)
    if (bad) throw new AirlockError('INVALID_INPUT', `${file} is not a squashfs file: ${bad}`)
  } finally {
    await src.close()
  }
  const f = layoutOf(plan, size)
  const prefix = encodeSifPrefix(f.layout, f.contents, f.offset)
  const hash = createHash('sha256').update(prefix)
  await writeAll(fh, prefix, 0)
  await copyPartition(fh, file, f.offset, size, hash, opts)
  return { size, sha256: hash.digest('hex') }
}

/** Partition already written at `offset` by a tool: checks it, then writes the prefix in front. */
async function inFront(fh: FileHandle, plan: SifPlan, offset: number): Promise<number> {
  const size = (await fh.stat()).size - offset
  const bad = await checkSquashfs(fh, offset, Math.max(size, 0))
  if (bad) {
    throw new AirlockError(
      'INTERNAL',
      `the squashfs tool wrote no usable squashfs at offset ${offset}: ${bad}`,
    )
  }
  const f = layoutOf(plan, size)
  if (f.offset !== offset) throw new AirlockError('INTERNAL', 'SIF partition offset changed while writing')
  await writeAll(fh, encodeSifPrefix(f.layout, f.contents, offset), 0)
  return size
}

/**
 * Moves `file` to `tmp` (same filesystem only) and opens `length` bytes of room at its start with
 * `fallocate --insert-range` (Linux 3.15+, ext4/XFS; `length` is a multiple of 4096). false, with
 * `file` left where it was, when the filesystem or the kernel cannot: the caller copies instead.
 */
async function insertInFront(file: string, tmp: string, length: number): Promise<boolean> {
  try {
    await rename(file, tmp)
  } catch {
    return false // another filesystem (EXDEV), or gone: copy instead
  }
  const r = await run('fallocate', ['--insert-range', '--offset', '0', '--length', String(length), tmp], {
    reject: false,
  })
  if (r.exitCode === 0) return true
  await rename(tmp, file) // tmpfs, NFS, Lustre, GPFS…: put it back and copy
  return false
}

/**
 * Writes a complete SIF at `out` (mode 0755). The SHA-256 costs no extra read for a `file` source;
 * for `writeAt` it is one read pass over the finished file. On any error nothing is left behind.
 */
export async function writeSif(
  out: string,
  plan: SifPlan,
  partition: SifPartitionSource,
  opts: WriteSifOptions = {},
): Promise<WrittenSif> {
  checkAborted(opts.signal)
  const offset = partitionOffset(plan) // validates arch, names and ID before anything is written
  const tmp = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.tmp`)
  let fh: FileHandle | undefined
  try {
    const create = () =>
      open(tmp, 'wx', 0o755).catch((err) => {
        throw openError(err, out)
      })
    let size: number
    let sha256: string | undefined
    if ('file' in partition && partition.consume && (await insertInFront(partition.file, tmp, offset))) {
      // The squashfs is now the temporary file, with `offset` zero bytes in front of it.
      fh = await open(tmp, 'r+')
      size = await inFront(fh, plan, offset)
    } else if ('file' in partition) {
      fh = await create()
      const copied = await fromFile(fh, plan, partition.file, opts)
      size = copied.size
      sha256 = copied.sha256
      if (partition.consume) await unlink(partition.file).catch(() => undefined)
    } else {
      await (await create()).close()
      await partition.writeAt(tmp, offset, opts.signal)
      checkAborted(opts.signal)
      fh = await open(tmp, 'r+')
      size = await inFront(fh, plan, offset)
    }
    await fh.chmod(0o755)
    // No fsync, as apptainer and mksquashfs do not: flushing a multi-GB file costs seconds, and the
    // rename below still means no partial file is ever seen under the output name.
    await fh.close()
    fh = undefined
    sha256 ??= (await sha256OfFile(tmp, { signal: opts.signal })).sha256
    checkAborted(opts.signal)
    await rename(tmp, out)
    return { path: out, size: offset + size, sha256, partition: { offset, size } }
  } catch (err) {
    await fh?.close().catch(() => undefined)
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}
