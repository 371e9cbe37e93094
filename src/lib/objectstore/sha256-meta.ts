/**
 * Where an object's SHA-256 lives: user metadata `x-amz-meta-sha256` (hex), which every
 * S3-compatible store keeps and returns on HEAD/GET. PROMINENCE's uploads carry it as
 * `x-amz-meta-prominence_sha256` (prominence-eosc/prominence `prominence/backend/data_s3.py`), which
 * airlock reads too.
 *
 * S3's own `x-amz-checksum-sha256` is not enough: it is base64, a multipart object only has a
 * checksum of part checksums (`COMPOSITE`, "...-N"), and stores such as Ceph 16 ignore it
 * (S3 checksum types: https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html;
 * full-object checksums exist only for the CRC algorithms, so a whole-file SHA-256 of a multipart
 * object has to be kept by the client, here in metadata).
 */
import { AirlockError } from '../errors.js'

/** Metadata key (the SDK adds the `x-amz-meta-` prefix). */
export const SHA256_META = 'sha256'
const ALSO_READ = ['prominence_sha256']

const HEX64 = /^[0-9a-f]{64}$/

/** The hex SHA-256 recorded on an object, if any (malformed values count as none). */
export function sha256FromMetadata(meta: Record<string, string> | undefined): string | undefined {
  if (!meta) return undefined
  for (const k of [SHA256_META, ...ALSO_READ]) {
    const v = meta[k]?.trim().toLowerCase()
    if (v && HEX64.test(v)) return v
  }
  return undefined
}

/** `--checksum` as given by a user: 64 hex digits, optionally `sha256:`-prefixed; returns lowercase hex. */
export function parseSha256Hex(text: string, flag = '--checksum'): string {
  const v = text
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '')
  if (!HEX64.test(v)) {
    throw new AirlockError('INVALID_INPUT', `${flag} must be a SHA-256 as 64 hex digits`, {
      hint: 'e.g. the first word of `sha256sum FILE`',
    })
  }
  return v
}

/** S3's `x-amz-checksum-sha256` wants base64, not hex. */
export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64')
}
