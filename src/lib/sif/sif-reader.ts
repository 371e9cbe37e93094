/**
 * Reads a SIF file natively: the global header and the descriptor table (a few tens of KiB, however
 * large the image), small objects on request, and the labels Apptainer stores in
 * `inspect-metadata.json`. Sections (§) are those listed in sif-format.ts (sylabs/sif pkg/sif).
 */
import { type FileHandle, open } from 'node:fs/promises'
import { AirlockError } from '../errors.js'
import {
  archName,
  DataType,
  DESCRIPTOR_SIZE,
  dataTypeName,
  decodeDescriptor,
  decodeHeader,
  decodePartitionExtra,
  fsTypeName,
  GROUP_MASK,
  HEADER_SIZE,
  hashTypeName,
  partTypeName,
  type SifDescriptor,
  type SifHeader,
  uuidString,
} from './sif-format.js'

export interface SifObject {
  id: number
  /** Display name of the data type, as siftool prints it: FS, Def.FILE, JSON.Generic, ... */
  type: string
  dataType: number
  /** Null when the object is in no group. */
  group: number | null
  link: { type: 'object' | 'group'; id: number } | null
  offset: number
  size: number
  sizeWithPadding: number
  name: string
  createdAt: Date
  modifiedAt: Date
  /** Partitions: fsType Squashfs/Ext3/..., partType System/PrimSys/Data/Overlay, Go arch name. */
  partition?: { fsType: string; partType: string; arch: string }
  /** Signatures: hash type and the signing key's fingerprint (hex). */
  signature?: { hashType: string; fingerprint: string }
  /** OCI.Blob and OCI.RootIndex: `sha256:<hex>`. */
  digest?: string
}

export interface SifInfo {
  path: string
  fileSize: number
  /** The global header (§2) with readable fields; `archCode` keeps the stored two-digit code. */
  header: Omit<SifHeader, 'arch' | 'id' | 'createdAt' | 'modifiedAt'> & {
    /** Go arch name of the primary partition ("unknown" when there is none). */
    arch: string
    archCode: string
    id: string
    createdAt: Date
    modifiedAt: Date
  }
  objects: SifObject[]
}

/** More descriptors than any real SIF has (default 48); guards allocations on damaged files. */
const MAX_DESCRIPTORS = 1 << 16

const secondsToDate = (s: number) => new Date(s * 1000)

function truncated(path: string, what: string, end: number, size: number): AirlockError {
  return new AirlockError(
    'INVALID_INPUT',
    `${path} is truncated or damaged: ${what} ends at byte ${end} but the file has ${size} bytes`,
    { hint: 'copy or download the SIF file again and compare its SHA-256' },
  )
}

async function readExactly(fh: FileHandle, length: number, at: number): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, at + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return buf.subarray(0, done)
}

async function openSif(path: string): Promise<FileHandle> {
  try {
    const fh = await open(path, 'r')
    if (!(await fh.stat()).isFile()) {
      await fh.close()
      throw new AirlockError('INVALID_INPUT', `${path} is not a file`)
    }
    return fh
  } catch (err) {
    if (err instanceof AirlockError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new AirlockError('INVALID_INPUT', `${path} does not exist`)
    if (code === 'EISDIR') throw new AirlockError('INVALID_INPUT', `${path} is not a file`)
    throw new AirlockError('DENIED', `cannot read ${path}: ${code ?? err}`, { cause: err })
  }
}

function toObject(d: SifDescriptor): SifObject {
  const group = (d.groupId & ~GROUP_MASK) >>> 0
  const o: SifObject = {
    id: d.id,
    type: dataTypeName(d.dataType),
    dataType: d.dataType,
    group: group === 0 ? null : group,
    link:
      d.linkedId === 0
        ? null
        : (d.linkedId & GROUP_MASK) >>> 0 === GROUP_MASK
          ? { type: 'group', id: (d.linkedId & ~GROUP_MASK) >>> 0 }
          : { type: 'object', id: d.linkedId },
    offset: d.offset,
    size: d.size,
    sizeWithPadding: d.sizeWithPadding,
    name: d.name,
    createdAt: secondsToDate(d.createdAt),
    modifiedAt: secondsToDate(d.modifiedAt),
  }
  if (d.dataType === DataType.Partition) {
    const p = decodePartitionExtra(d.extra)
    o.partition = { fsType: fsTypeName(p.fsType), partType: partTypeName(p.partType), arch: archName(p.arch) }
  } else if (d.dataType === DataType.Signature) {
    const fingerprint = d.extra.subarray(4, 24).toString('hex').toUpperCase()
    o.signature = { hashType: hashTypeName(d.extra.readInt32LE(0)), fingerprint }
  } else if (d.dataType === DataType.OCIBlob || d.dataType === DataType.OCIRootIndex) {
    const end = d.extra.indexOf(0)
    o.digest = d.extra.subarray(0, end < 0 ? d.extra.length : end).toString('latin1')
  }
  return o
}

async function readWith(fh: FileHandle, path: string): Promise<SifInfo> {
  const fileSize = (await fh.stat()).size
  const h = decodeHeader(await readExactly(fh, HEADER_SIZE, 0), path)
  const damaged = (what: string) => new AirlockError('INVALID_INPUT', `${path} is damaged: ${what}`)
  if (h.descriptorsTotal < 0 || h.descriptorsTotal > MAX_DESCRIPTORS)
    throw damaged(`${h.descriptorsTotal} descriptors`)
  if (h.descriptorsSize !== h.descriptorsTotal * DESCRIPTOR_SIZE)
    throw damaged(`descriptor table of ${h.descriptorsSize} bytes for ${h.descriptorsTotal} descriptors`)
  if (h.descriptorsOffset < HEADER_SIZE) throw damaged(`descriptors at offset ${h.descriptorsOffset}`)
  const tableEnd = h.descriptorsOffset + h.descriptorsSize
  if (tableEnd > fileSize) throw truncated(path, 'the descriptor table', tableEnd, fileSize)
  const table = await readExactly(fh, h.descriptorsSize, h.descriptorsOffset)
  if (table.length < h.descriptorsSize) throw truncated(path, 'the descriptor table', tableEnd, fileSize)
  const objects: SifObject[] = []
  for (let i = 0; i < h.descriptorsTotal; i++) {
    const d = decodeDescriptor(table.subarray(i * DESCRIPTOR_SIZE, (i + 1) * DESCRIPTOR_SIZE), path)
    if (!d.used) continue
    if (d.offset < 0 || d.size < 0) throw damaged(`object ${d.id} has offset ${d.offset}, size ${d.size}`)
    if (d.offset + d.size > fileSize) throw truncated(path, `object ${d.id}`, d.offset + d.size, fileSize)
    objects.push(toObject(d))
  }
  // Field by field, so the JSON of `sif inspect` keeps the header's order with archCode after arch.
  const { launchScript, version, arch, id, createdAt, modifiedAt, ...counts } = h
  return {
    path,
    fileSize,
    header: {
      launchScript,
      version,
      arch: archName(arch),
      archCode: arch,
      id: uuidString(id),
      createdAt: secondsToDate(createdAt),
      modifiedAt: secondsToDate(modifiedAt),
      ...counts,
    },
    objects,
  }
}

/** Reads an object's bytes (small objects only: definitions, JSON; not partitions). */
export type SifObjectReader = (id: number, opts?: { maxBytes?: number }) => Promise<Buffer>

/**
 * Opens the SIF file at `path` once, reads its header and descriptor table, and hands them to `use`
 * with a reader for small objects of the same open file.
 */
export async function withSif<T>(
  path: string,
  use: (info: SifInfo, readObject: SifObjectReader) => Promise<T>,
): Promise<T> {
  const fh = await openSif(path)
  try {
    const info = await readWith(fh, path)
    return await use(info, async (id, opts = {}) => {
      const o = info.objects.find((x) => x.id === id)
      if (!o) {
        throw new AirlockError('NOT_FOUND', `${path} has no object ${id}`, {
          hint: `its objects are ${info.objects.map((x) => x.id).join(', ') || 'none'}`,
        })
      }
      const max = opts.maxBytes ?? 64 << 20
      if (o.size > max) {
        throw new AirlockError(
          'INVALID_INPUT',
          `object ${id} of ${path} is ${o.size} bytes, more than ${max}`,
          {
            hint: 'extract large objects with siftool dump',
          },
        )
      }
      return readExactly(fh, o.size, o.offset)
    })
  } finally {
    await fh.close()
  }
}

/** Header and objects of the SIF file at `path`; reads only the header and the descriptor table. */
export function readSif(path: string): Promise<SifInfo> {
  return withSif(path, async (info) => info)
}

/** The bytes of object `id` (small objects only: definitions, JSON; not partitions). */
export function readObject(path: string, id: number, opts: { maxBytes?: number } = {}): Promise<Buffer> {
  return withSif(path, (_, read) => read(id, opts))
}
