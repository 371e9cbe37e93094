/**
 * The Singularity Image Format on disk: constants, and the little-endian encoding of the global
 * header (128 bytes) and of object descriptors (585 bytes each), as sylabs/sif writes them with Go
 * `encoding/binary` (no padding between fields). Source: https://github.com/sylabs/sif, pkg/sif.
 * Section marks used here and in the other SIF files: §2 the global header (sif.go type `header`,
 * create.go), §3 object descriptors (descriptor.go type `rawDescriptor` and its Extra layouts),
 * §4 constants (sif.go, arch.go), §5 file layout and alignment (create.go `CreateContainer`,
 * `nextAligned`; descriptor_input.go `NewDescriptorInput`).
 */
import { AirlockError } from '../errors.js'

export * from './sif-constants.js'

// §2: the global header.
export const HEADER_SIZE = 128
export const LAUNCH_SCRIPT_LENGTH = 32
export const SIF_MAGIC = 'SIF_MAGIC\0'
export const SIF_VERSION = '01'
/** What Apptainer and SingularityCE write (`assemblers/sif.go`). */
export const LAUNCH_SCRIPT = '#!/usr/bin/env run-singularity\n'
/** Go's `time.Time{}.Unix()`: the timestamp `OptCreateDeterministic` stores (§2). */
export const DETERMINISTIC_TIME = -62135596800

// §3: descriptors.
export const DESCRIPTOR_SIZE = 585
export const NAME_LENGTH = 128
export const EXTRA_LENGTH = 384
/** Stored GroupID = group | GROUP_MASK; a link to a group stores groupID | GROUP_MASK. */
export const GROUP_MASK = 0xf0000000
export const DEFAULT_GROUP = 1

// §5: defaults of `CreateContainer`.
export const DEFAULT_DESCRIPTORS_OFFSET = 4096
export const DEFAULT_DESCRIPTOR_CAPACITY = 48
export const PARTITION_ALIGNMENT = 4096

export interface SifHeader {
  launchScript: string
  /** "01" */
  version: string
  /** Two-digit arch code (§4), e.g. "02". */
  arch: string
  /** 16 raw UUID bytes. */
  id: Buffer
  /** Unix seconds. */
  createdAt: number
  modifiedAt: number
  descriptorsFree: number
  descriptorsTotal: number
  descriptorsOffset: number
  descriptorsSize: number
  dataOffset: number
  dataSize: number
}

export interface SifDescriptor {
  dataType: number
  used: boolean
  id: number
  /** As stored: group | GROUP_MASK (0 in an unused slot). */
  groupId: number
  /** As stored: an object ID, or groupID | GROUP_MASK; 0 means no link. */
  linkedId: number
  offset: number
  size: number
  sizeWithPadding: number
  createdAt: number
  modifiedAt: number
  name: string
  /** 384 type-specific bytes (§3 "Extra layouts"). */
  extra: Buffer
}

export interface PartitionExtra {
  fsType: number
  partType: number
  /** Two-digit arch code. */
  arch: string
}

function putString(buf: Buffer, offset: number, length: number, text: string, what: string): void {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length > length) {
    throw new AirlockError('INVALID_INPUT', `${what} is ${bytes.length} bytes; a SIF file holds ${length}`)
  }
  bytes.copy(buf, offset)
}

function getString(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length)
  const end = field.indexOf(0)
  return field.subarray(0, end < 0 ? length : end).toString('utf8')
}

function putInt64(buf: Buffer, offset: number, value: number, what: string): void {
  if (!Number.isSafeInteger(value)) throw new AirlockError('INTERNAL', `${what} ${value} is not an integer`)
  buf.writeBigInt64LE(BigInt(value), offset)
}

function getInt64(buf: Buffer, offset: number, what: string, file: string): number {
  const v = buf.readBigInt64LE(offset)
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new AirlockError('INVALID_INPUT', `${file}: ${what} ${v} is out of range; the SIF file is damaged`)
  }
  return Number(v)
}

function putArch(buf: Buffer, offset: number, code: string): void {
  if (!/^\d\d$/.test(code)) throw new AirlockError('INTERNAL', `SIF arch code "${code}" is not two digits`)
  buf.write(code, offset, 'latin1')
}

export function encodeHeader(h: SifHeader): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE)
  if (Buffer.byteLength(h.launchScript) >= LAUNCH_SCRIPT_LENGTH) {
    throw new AirlockError(
      'INVALID_INPUT',
      `launch script must be shorter than ${LAUNCH_SCRIPT_LENGTH} bytes`,
    )
  }
  putString(buf, 0, LAUNCH_SCRIPT_LENGTH, h.launchScript, 'launch script')
  buf.write(SIF_MAGIC, 32, 'latin1')
  putString(buf, 42, 2, h.version, 'version')
  putArch(buf, 45, h.arch)
  if (h.id.length !== 16) throw new AirlockError('INTERNAL', `SIF ID must be 16 bytes, not ${h.id.length}`)
  h.id.copy(buf, 48)
  const fields: Array<[keyof SifHeader, number]> = [
    ['createdAt', 64],
    ['modifiedAt', 72],
    ['descriptorsFree', 80],
    ['descriptorsTotal', 88],
    ['descriptorsOffset', 96],
    ['descriptorsSize', 104],
    ['dataOffset', 112],
    ['dataSize', 120],
  ]
  for (const [k, off] of fields) putInt64(buf, off, h[k] as number, k)
  return buf
}

/** Decodes and checks a header as sylabs/sif `isValidSif` does (magic, version "01"). */
export function decodeHeader(buf: Buffer, file = 'input'): SifHeader {
  if (buf.length < HEADER_SIZE) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${file} is not a SIF file: ${buf.length} bytes, shorter than a header`,
    )
  }
  if (buf.toString('latin1', 32, 42) !== SIF_MAGIC) {
    throw new AirlockError('INVALID_INPUT', `${file} is not a SIF file (no SIF_MAGIC at byte 32)`, {
      hint: 'give a .sif file, as written by apptainer build or airlock sif build',
    })
  }
  const version = buf.toString('latin1', 42, 45)
  if (version !== `${SIF_VERSION}\0`) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${file}: SIF version ${JSON.stringify(version.replace(/\0+$/, ''))} is not supported (only ${SIF_VERSION})`,
    )
  }
  const int = (off: number, what: string) => getInt64(buf, off, what, file)
  return {
    launchScript: getString(buf, 0, LAUNCH_SCRIPT_LENGTH),
    version: SIF_VERSION,
    arch: getString(buf, 45, 3),
    id: Buffer.from(buf.subarray(48, 64)),
    createdAt: int(64, 'CreatedAt'),
    modifiedAt: int(72, 'ModifiedAt'),
    descriptorsFree: int(80, 'DescriptorsFree'),
    descriptorsTotal: int(88, 'DescriptorsTotal'),
    descriptorsOffset: int(96, 'DescriptorsOffset'),
    descriptorsSize: int(104, 'DescriptorsSize'),
    dataOffset: int(112, 'DataOffset'),
    dataSize: int(120, 'DataSize'),
  }
}

export function encodeDescriptor(d: SifDescriptor): Buffer {
  const buf = Buffer.alloc(DESCRIPTOR_SIZE)
  buf.writeInt32LE(d.dataType, 0)
  buf.writeUInt8(d.used ? 1 : 0, 4)
  buf.writeUInt32LE(d.id, 5)
  buf.writeUInt32LE(d.groupId >>> 0, 9)
  buf.writeUInt32LE(d.linkedId >>> 0, 13)
  putInt64(buf, 17, d.offset, 'Offset')
  putInt64(buf, 25, d.size, 'Size')
  putInt64(buf, 33, d.sizeWithPadding, 'SizeWithPadding')
  putInt64(buf, 41, d.createdAt, 'CreatedAt')
  putInt64(buf, 49, d.modifiedAt, 'ModifiedAt')
  // 57 UID and 65 GID: deprecated, written as 0 (§3).
  putString(buf, 73, NAME_LENGTH, d.name, `object name "${d.name}"`)
  if (d.extra.length > EXTRA_LENGTH) throw new AirlockError('INTERNAL', 'descriptor extra is too long')
  d.extra.copy(buf, 201)
  return buf
}

export function decodeDescriptor(buf: Buffer, file = 'input'): SifDescriptor {
  if (buf.length < DESCRIPTOR_SIZE)
    throw new AirlockError('INVALID_INPUT', `${file}: descriptor is truncated`)
  const int = (off: number, what: string) => getInt64(buf, off, what, file)
  return {
    dataType: buf.readInt32LE(0),
    used: buf[4] !== 0,
    id: buf.readUInt32LE(5),
    groupId: buf.readUInt32LE(9),
    linkedId: buf.readUInt32LE(13),
    offset: int(17, 'Offset'),
    size: int(25, 'Size'),
    sizeWithPadding: int(33, 'SizeWithPadding'),
    createdAt: int(41, 'CreatedAt'),
    modifiedAt: int(49, 'ModifiedAt'),
    name: getString(buf, 73, NAME_LENGTH),
    extra: Buffer.from(buf.subarray(201, 201 + EXTRA_LENGTH)),
  }
}

/** Partition extra: Fstype int32, Parttype int32, Arch [3]byte (§3). */
export function encodePartitionExtra(p: PartitionExtra): Buffer {
  const buf = Buffer.alloc(EXTRA_LENGTH)
  buf.writeInt32LE(p.fsType, 0)
  buf.writeInt32LE(p.partType, 4)
  putArch(buf, 8, p.arch)
  return buf
}

export function decodePartitionExtra(extra: Buffer): PartitionExtra {
  return { fsType: extra.readInt32LE(0), partType: extra.readInt32LE(4), arch: getString(extra, 8, 3) }
}

/** The canonical text form of 16 UUID bytes. */
export function uuidString(id: Buffer): string {
  const h = id.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
