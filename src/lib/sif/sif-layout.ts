/**
 * Where sylabs/sif `CreateContainer` puts things: descriptors and data objects placed one after
 * the other, partitions aligned on absolute 4096-byte offsets, header totals filled in. Pure
 * arithmetic and encoding; writing files is sif-writer.ts. Sections (§) are those of sif-format.ts.
 */
import { AirlockError } from '../errors.js'
import {
  DataType,
  DEFAULT_DESCRIPTOR_CAPACITY,
  DEFAULT_DESCRIPTORS_OFFSET,
  DEFAULT_GROUP,
  DESCRIPTOR_SIZE,
  EXTRA_LENGTH,
  encodeDescriptor,
  encodeHeader,
  encodePartitionExtra,
  GROUP_MASK,
  HEADER_SIZE,
  LAUNCH_SCRIPT,
  PARTITION_ALIGNMENT,
  type PartitionExtra,
  PartType,
  SIF_VERSION,
  type SifDescriptor,
  type SifHeader,
} from './sif-format.js'

export interface SifObjectInput {
  dataType: number
  name?: string
  size: number
  /** Default 1 (`DefaultObjectGroup`); 0 stores no group (`OptNoGroup`). */
  group?: number
  /** An object ID; 0 or absent for no link. */
  link?: number
  /** Default 4096 for partitions, 0 (none) for everything else (§5). */
  alignment?: number
  partition?: PartitionExtra
  /** Type-specific extra bytes for non-partition objects. */
  extra?: Buffer
}

export interface SifLayoutOptions {
  /** 16 bytes. */
  id: Buffer
  /** Unix seconds for the header and every descriptor. */
  time: number
  launchScript?: string
  capacity?: number
  descriptorsOffset?: number
}

export interface SifLayout {
  header: SifHeader
  /** One per input object, in order; object i has ID i+1 and descriptor slot i. */
  descriptors: SifDescriptor[]
}

/** `nextAligned` of create.go. */
export function nextAligned(offset: number, alignment: number): number {
  if (alignment <= 0 || offset % alignment === 0) return offset
  return offset + alignment - (offset % alignment)
}

/** Places `objects` as `CreateContainer(OptCreateWithDescriptors(...))` does (§3, §5). */
export function layoutSif(objects: SifObjectInput[], opts: SifLayoutOptions): SifLayout {
  const capacity = opts.capacity ?? DEFAULT_DESCRIPTOR_CAPACITY
  const descriptorsOffset = opts.descriptorsOffset ?? DEFAULT_DESCRIPTORS_OFFSET
  if (objects.length > capacity) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${objects.length} objects do not fit ${capacity} SIF descriptors`,
    )
  }
  const descriptorsSize = capacity * DESCRIPTOR_SIZE
  const dataOffset = descriptorsOffset + descriptorsSize
  let dataSize = 0
  let arch = '00'
  const descriptors = objects.map((o, i): SifDescriptor => {
    if (!Number.isSafeInteger(o.size) || o.size < 0) {
      throw new AirlockError('INTERNAL', `SIF object size ${o.size} is not valid`)
    }
    const isPartition = o.dataType === DataType.Partition
    if (isPartition !== (o.partition !== undefined)) {
      throw new AirlockError('INTERNAL', 'partition metadata goes with partition objects, and only there')
    }
    if (o.partition?.partType === PartType.PrimSys) {
      if (arch !== '00') throw new AirlockError('INVALID_INPUT', 'a SIF file holds one primary partition')
      arch = o.partition.arch
    }
    const unaligned = dataOffset + dataSize
    const offset = nextAligned(unaligned, o.alignment ?? (isPartition ? PARTITION_ALIGNMENT : 0))
    const sizeWithPadding = offset - unaligned + o.size
    dataSize += sizeWithPadding
    const extra = o.partition ? encodePartitionExtra(o.partition) : (o.extra ?? Buffer.alloc(0))
    if (extra.length > EXTRA_LENGTH) throw new AirlockError('INTERNAL', 'descriptor extra is too long')
    return {
      dataType: o.dataType,
      used: true,
      id: i + 1,
      groupId: ((o.group ?? DEFAULT_GROUP) | GROUP_MASK) >>> 0,
      linkedId: o.link ?? 0,
      offset,
      size: o.size,
      sizeWithPadding,
      createdAt: opts.time,
      modifiedAt: opts.time,
      name: o.name ?? '',
      extra,
    }
  })
  const header: SifHeader = {
    launchScript: opts.launchScript ?? LAUNCH_SCRIPT,
    version: SIF_VERSION,
    arch,
    id: opts.id,
    createdAt: opts.time,
    modifiedAt: opts.time,
    descriptorsFree: capacity - objects.length,
    descriptorsTotal: capacity,
    descriptorsOffset,
    descriptorsSize,
    dataOffset,
    dataSize,
  }
  if (descriptorsOffset < HEADER_SIZE) throw new AirlockError('INTERNAL', 'descriptors overlap the header')
  return { header, descriptors }
}

/**
 * The first `length` bytes of the file: header, zeros, the descriptor table (unused slots zero),
 * and the bytes of every object that lies wholly before `length` (`contents[i]` for object i;
 * objects at or past `length`, such as the partition, are written separately).
 */
export function encodeSifPrefix(
  layout: SifLayout,
  contents: Array<Buffer | undefined>,
  length: number,
): Buffer {
  const { header, descriptors } = layout
  if (length < header.dataOffset) throw new AirlockError('INTERNAL', 'SIF prefix ends inside the descriptors')
  const buf = Buffer.alloc(length)
  encodeHeader(header).copy(buf, 0)
  descriptors.forEach((d, i) => {
    encodeDescriptor(d).copy(buf, header.descriptorsOffset + i * DESCRIPTOR_SIZE)
    if (d.offset >= length) return
    const data = contents[i]
    if (!data || data.length !== d.size || d.offset + d.size > length) {
      throw new AirlockError('INTERNAL', `SIF object ${d.id} does not fit the prefix it was placed in`)
    }
    data.copy(buf, d.offset)
  })
  return buf
}
