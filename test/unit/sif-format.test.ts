/**
 * SIF encoding (§2–§5 as listed in src/lib/sif/sif-format.ts, from sylabs/sif pkg/sif): header and
 * descriptor round trips, the byte offset of every field, arch codes, the deterministic timestamp,
 * and layouts that are byte-identical to the golden files of sylabs/sif (compared by SHA-256 of
 * `pkg/sif/testdata/TestCreateContainer/*.golden`).
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import {
  archCode,
  archName,
  DataType,
  DESCRIPTOR_SIZE,
  DETERMINISTIC_TIME,
  dataTypeName,
  decodeDescriptor,
  decodeHeader,
  decodePartitionExtra,
  encodeDescriptor,
  encodeHeader,
  encodePartitionExtra,
  FsType,
  HEADER_SIZE,
  LAUNCH_SCRIPT,
  PartType,
  type SifDescriptor,
  type SifHeader,
  SUPPORTED_ARCHES,
  uuidString,
} from '../../src/lib/sif/sif-format.js'
import { labelsOf } from '../../src/lib/sif/sif-inspect.js'
import { encodeSifPrefix, layoutSif, nextAligned } from '../../src/lib/sif/sif-layout.js'
import { partitionOffset } from '../../src/lib/sif/sif-writer.js'

const header: SifHeader = {
  launchScript: LAUNCH_SCRIPT,
  version: '01',
  arch: '02',
  id: Buffer.from('de170c4336ab44a8bca91ea1a070a274', 'hex'),
  createdAt: 1_700_000_001,
  modifiedAt: 1_700_000_002,
  descriptorsFree: 44,
  descriptorsTotal: 48,
  descriptorsOffset: 4096,
  descriptorsSize: 48 * 585,
  dataOffset: 32176,
  dataSize: 123_456_789_012,
}

const descriptor: SifDescriptor = {
  dataType: DataType.Partition,
  used: true,
  id: 4,
  groupId: 0xf0000001,
  linkedId: 0xf0000002,
  offset: 36864,
  size: 5_000_000_000,
  sizeWithPadding: 5_000_000_100,
  createdAt: DETERMINISTIC_TIME,
  modifiedAt: 1_700_000_000,
  name: 'inspect-metadata.json',
  extra: encodePartitionExtra({ fsType: FsType.Squashfs, partType: PartType.PrimSys, arch: '04' }),
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const nil = Buffer.alloc(16)

function invalid(fn: () => unknown, pattern: RegExp): void {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('INVALID_INPUT')
    expect((err as AirlockError).message + ((err as AirlockError).hint ?? '')).toMatch(pattern)
    return
  }
  throw new Error('expected an INVALID_INPUT error')
}

describe('global header (§2)', () => {
  it('is 128 bytes with every field at its offset', () => {
    const b = encodeHeader(header)
    expect(b.length).toBe(HEADER_SIZE)
    expect(b.toString('latin1', 0, 32)).toBe(`${LAUNCH_SCRIPT}\0`)
    expect(b.toString('latin1', 32, 42)).toBe('SIF_MAGIC\0')
    expect(b.toString('latin1', 42, 45)).toBe('01\0')
    expect(b.toString('latin1', 45, 48)).toBe('02\0')
    expect(b.subarray(48, 64).toString('hex')).toBe('de170c4336ab44a8bca91ea1a070a274')
    const at = (off: number) => Number(b.readBigInt64LE(off))
    expect([64, 72, 80, 88, 96, 104, 112, 120].map(at)).toEqual([
      1_700_000_001, 1_700_000_002, 44, 48, 4096, 28080, 32176, 123_456_789_012,
    ])
  })

  it('round-trips', () => {
    expect(decodeHeader(encodeHeader(header))).toEqual(header)
  })

  it('stores the deterministic time -62135596800 as 0xFFFFFFF1886E0900', () => {
    expect(DETERMINISTIC_TIME).toBe(-62135596800)
    expect(DETERMINISTIC_TIME).toBe(new Date('0001-01-01T00:00:00Z').getTime() / 1000)
    const b = encodeHeader({ ...header, createdAt: DETERMINISTIC_TIME })
    expect(b.readBigUInt64LE(64)).toBe(0xfffffff1886e0900n)
    expect(decodeHeader(b).createdAt).toBe(DETERMINISTIC_TIME)
  })

  it('refuses what sylabs/sif refuses, naming the file', () => {
    const b = encodeHeader(header)
    invalid(() => decodeHeader(b.subarray(0, 100), 'x.sif'), /x\.sif is not a SIF file: 100 bytes/)
    const badMagic = Buffer.from(b)
    badMagic.write('NOT_MAGIC', 32, 'latin1')
    invalid(() => decodeHeader(badMagic, 'y.img'), /y\.img is not a SIF file/)
    const badVersion = Buffer.from(b)
    badVersion.write('02', 42, 'latin1')
    invalid(() => decodeHeader(badVersion, 'z.sif'), /z\.sif: SIF version "02" is not supported/)
    invalid(() => encodeHeader({ ...header, launchScript: 'x'.repeat(32) }), /launch script/)
  })
})

describe('descriptor (§3)', () => {
  it('is 585 bytes with every field at its offset', () => {
    const b = encodeDescriptor(descriptor)
    expect(b.length).toBe(DESCRIPTOR_SIZE)
    expect(b.readInt32LE(0)).toBe(0x4004)
    expect(b[4]).toBe(1)
    expect(b.readUInt32LE(5)).toBe(4)
    expect(b.readUInt32LE(9)).toBe(0xf0000001)
    expect(b.readUInt32LE(13)).toBe(0xf0000002)
    const at = (off: number) => Number(b.readBigInt64LE(off))
    expect([17, 25, 33, 41, 49, 57, 65].map(at)).toEqual([
      36864,
      5_000_000_000,
      5_000_000_100,
      DETERMINISTIC_TIME,
      1_700_000_000,
      0,
      0,
    ])
    expect(b.toString('latin1', 73, 73 + 22)).toBe('inspect-metadata.json\0')
    expect(b.subarray(95, 201).every((x) => x === 0)).toBe(true)
    // Partition extra: Fstype int32, Parttype int32, Arch [3]byte.
    expect([b.readInt32LE(201), b.readInt32LE(205), b.toString('latin1', 209, 212)]).toEqual([1, 2, '04\0'])
    expect(b.subarray(212).every((x) => x === 0)).toBe(true)
  })

  it('round-trips, partition extra included', () => {
    const d = decodeDescriptor(encodeDescriptor(descriptor))
    expect(d).toEqual(descriptor)
    expect(decodePartitionExtra(d.extra)).toEqual({ fsType: 1, partType: 2, arch: '04' })
  })

  it('refuses names longer than 128 bytes', () => {
    invalid(() => encodeDescriptor({ ...descriptor, name: 'n'.repeat(129) }), /128/)
  })
})

describe('constants (§4)', () => {
  it('maps Go arch names to two-digit codes and back', () => {
    expect(archCode('386')).toBe('01')
    expect(archCode('amd64')).toBe('02')
    expect(archCode('arm64')).toBe('04')
    expect(archCode('riscv64')).toBe('12')
    expect(archCode('loong64')).toBe('13')
    for (const a of SUPPORTED_ARCHES) expect(archName(archCode(a))).toBe(a)
    expect(archName('00')).toBe('unknown')
    expect(archName('99')).toBe('unknown')
    expect(archName('')).toBe('unknown')
  })

  it('rejects unknown arches, naming them and the supported ones', () => {
    invalid(() => archCode('x86_64'), /"x86_64".*amd64, arm, arm64/)
    invalid(() => archCode('unknown'), /"unknown"/)
  })

  it('names data types as siftool does', () => {
    expect(DataType.Deffile).toBe(0x4001)
    expect(DataType.GenericJSON).toBe(0x4006)
    expect(DataType.OCIBlob).toBe(0x400b)
    expect([0x4001, 0x4004, 0x4006, 0x400b, 0x4000, 0x400c].map(dataTypeName)).toEqual([
      'Def.FILE',
      'FS',
      'JSON.Generic',
      'OCI.Blob',
      'Unknown',
      'Unknown',
    ])
  })

  it('formats UUIDs', () => {
    expect(uuidString(header.id)).toBe('de170c43-36ab-44a8-bca9-1ea1a070a274')
    expect(uuidString(nil)).toBe('00000000-0000-0000-0000-000000000000')
  })
})

describe('layout (§5)', () => {
  const deterministic = { id: nil, time: DETERMINISTIC_TIME, launchScript: '' }
  const fs386 = { fsType: FsType.Squashfs, partType: PartType.PrimSys, arch: archCode('386') }

  it('aligns like nextAligned', () => {
    expect([0, 1, 1023, 1024, 1025].map((o) => nextAligned(o, 1024))).toEqual([0, 1024, 1024, 1024, 2048])
    expect(nextAligned(5, 0)).toBe(5)
  })

  it('is byte-identical to sylabs/sif golden files', () => {
    const empty = layoutSif([], deterministic)
    expect(sha256(encodeSifPrefix(empty, [], 32176))).toBe(
      '1987d6041b278a3a87810475ce3bbe5416bc0301471c29c1e2f020579a61f815',
    )
    const withTime = layoutSif([], { ...deterministic, time: 946702800 })
    expect(sha256(encodeSifPrefix(withTime, [], 32176))).toBe(
      'f5ddfd876fd8ef3fab4e8828320a3ca49126b85321cc60ce77769783dda58ad6',
    )
    for (const [alignment, golden] of [
      [undefined, 'c960f286dacba0958c5812f021182c46f2ee54ce82cbd8b36538315d29fe9164'],
      [0, '5eb0b8081195d421b25591489ac8970d1b7ea8da6be928cc340f763231da08d2'],
    ] as const) {
      const l = layoutSif(
        [
          { dataType: DataType.Generic, size: 2, alignment },
          { dataType: DataType.Partition, size: 2, alignment, partition: fs386 },
        ],
        deterministic,
      )
      const at = l.descriptors[1].offset
      expect(at).toBe(alignment === 0 ? 32178 : 32768)
      const file = Buffer.concat([
        encodeSifPrefix(l, [Buffer.from([0xfa, 0xce])], at),
        Buffer.from([0xfe, 0xed]),
      ])
      expect(sha256(file)).toBe(golden)
    }
  })

  it('fills header totals, IDs, groups and the primary arch', () => {
    const l = layoutSif(
      [
        { dataType: DataType.Deffile, size: 40 },
        { dataType: DataType.GenericJSON, name: 'a.json', size: 10 },
        { dataType: DataType.Partition, size: 8192, partition: { ...fs386, arch: '02' } },
      ],
      deterministic,
    )
    expect(l.header).toMatchObject({ arch: '02', descriptorsFree: 45, dataOffset: 32176 })
    expect(l.descriptors.map((d) => [d.id, d.groupId, d.offset, d.sizeWithPadding])).toEqual([
      [1, 0xf0000001, 32176, 40],
      [2, 0xf0000001, 32216, 10],
      [3, 0xf0000001, 32768, 32768 - 32226 + 8192],
    ])
    expect(l.header.dataSize).toBe(32768 + 8192 - 32176)
  })

  it('puts the partition at the first 4096 boundary after the small objects', () => {
    const plan = { definition: 'bootstrap: docker-archive\nfrom: x.tar\n\n', json: {}, arch: 'amd64' }
    expect(partitionOffset(plan)).toBe(32768)
    expect(partitionOffset({ ...plan, json: { 'a.json': Buffer.alloc(600) } })).toBe(36864)
    expect(partitionOffset({ ...plan, json: { 'a.json': Buffer.alloc(0) } })).toBe(32768)
    invalid(() => partitionOffset({ ...plan, arch: 'sparc' }), /"sparc"/)
  })
})

describe('labels from inspect-metadata.json', () => {
  it('reads data.attributes.labels', () => {
    const doc = { data: { attributes: { labels: { a: '1', n: 2 } } }, type: 'container' }
    expect(labelsOf(JSON.stringify(doc))).toEqual({ a: '1', n: '2' })
    expect(labelsOf('{"data":{}}')).toEqual({})
    expect(labelsOf('not json')).toBeUndefined()
  })
})
