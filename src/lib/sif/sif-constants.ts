/**
 * SIF constants and their names (§4 in sif-format.ts; sylabs/sif pkg/sif `sif.go`, `arch.go`): data
 * types, file system and partition types, hash types, and the two-digit arch codes with their Go names.
 */
import { AirlockError } from '../errors.js'

export const DataType = {
  Deffile: 0x4001,
  EnvVar: 0x4002,
  Labels: 0x4003,
  Partition: 0x4004,
  Signature: 0x4005,
  GenericJSON: 0x4006,
  Generic: 0x4007,
  CryptoMessage: 0x4008,
  SBOM: 0x4009,
  OCIRootIndex: 0x400a,
  OCIBlob: 0x400b,
} as const

/** The display strings of sylabs/sif `DataType.String()`, which siftool prints, from 0x4001 on. */
const DATA_TYPE_NAMES = [
  'Def.FILE',
  'Env.Vars',
  'JSON.Labels',
  'FS',
  'Signature',
  'JSON.Generic',
  'Generic/Raw',
  'Cryptographic Message',
  'SBOM',
  'OCI.RootIndex',
  'OCI.Blob',
]

export function dataTypeName(code: number): string {
  return DATA_TYPE_NAMES[code - DataType.Deffile] ?? 'Unknown'
}

export const FsType = {
  Squashfs: 1,
  Ext3: 2,
  ImmuObj: 3,
  Raw: 4,
  EncryptedSquashfs: 5,
  /** Only in apptainer/sif. */
  GocryptfsSquashfs: 6,
} as const

const FS_TYPE_NAMES = ['', 'Squashfs', 'Ext3', 'Archive', 'Raw', 'Encrypted squashfs', 'Gocryptfs squashfs']

export function fsTypeName(code: number): string {
  return FS_TYPE_NAMES[code] || 'Unknown'
}

export const PartType = { System: 1, PrimSys: 2, Data: 3, Overlay: 4 } as const

const PART_TYPE_NAMES = ['', 'System', 'PrimSys', 'Data', 'Overlay']

/** `PrimSys` where siftool prints `*System`. */
export function partTypeName(code: number): string {
  return PART_TYPE_NAMES[code] || 'Unknown'
}

/** Hash types of signatures, by their number (1 SHA256 ... 5 BLAKE2B). */
const HASH_TYPE_NAMES = ['', 'SHA256', 'SHA384', 'SHA512', 'BLAKE2S', 'BLAKE2B']

export function hashTypeName(code: number): string {
  return HASH_TYPE_NAMES[code] || 'Unknown'
}

/** §4 arch codes, indexed by their number: "02" is amd64. "00" is unknown. */
const GO_ARCHES =
  'unknown 386 amd64 arm arm64 ppc64 ppc64le mips mipsle mips64 mips64le s390x riscv64 loong64'.split(' ')

export const SUPPORTED_ARCHES: readonly string[] = GO_ARCHES.slice(1)

/** The two-digit SIF arch code ("02") of a Go arch name ("amd64"); rejects "unknown" as sylabs/sif does. */
export function archCode(goArch: string): string {
  const i = GO_ARCHES.indexOf(goArch)
  if (i <= 0) {
    throw new AirlockError('INVALID_INPUT', `architecture "${goArch}" cannot be stored in a SIF file`, {
      hint: `use a Go architecture name: ${SUPPORTED_ARCHES.join(', ')}`,
    })
  }
  return String(i).padStart(2, '0')
}

/** The Go arch name of a SIF arch code; "unknown" for "00" and codes this version does not know. */
export function archName(code: string): string {
  return /^\d\d$/.test(code) ? (GO_ARCHES[Number(code)] ?? 'unknown') : 'unknown'
}
