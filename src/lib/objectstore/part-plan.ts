/**
 * How a file is cut into multipart-upload parts.
 *
 * S3 limits: parts of 5 MiB to 5 GiB (the last one may be smaller), at most 10,000 parts, objects up
 * to 5 TiB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html; @aws-sdk/lib-storage
 * `Upload.ts` enforces the same 10,000 parts). The default
 * part is 16 MiB: few enough requests for a fast upload, small enough that `jobs` parts in memory
 * stay modest (4 x 16 MiB); bigger files get bigger parts so that they fit in 10,000.
 */
import { AirlockError } from '../errors.js'

export const MiB = 1024 * 1024
export const MIN_PART_SIZE = 5 * MiB
export const MAX_PART_SIZE = 5 * 1024 * MiB
export const MAX_PARTS = 10_000
export const MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB
export const DEFAULT_PART_SIZE = 16 * MiB

export interface PartPlan {
  partSize: number
  partCount: number
  /** False when the whole file goes in one PutObject (it fits in one part). */
  multipart: boolean
}

export function planParts(size: number, requestedPartSize?: number): PartPlan {
  if (size > MAX_OBJECT_SIZE) {
    throw new AirlockError('INVALID_INPUT', `the file has ${size} bytes; S3 objects can have at most 5 TiB`)
  }
  if (
    requestedPartSize !== undefined &&
    (requestedPartSize < MIN_PART_SIZE || requestedPartSize > MAX_PART_SIZE)
  ) {
    throw new AirlockError('INVALID_INPUT', 'the part size must be between 5 MiB and 5 GiB')
  }
  // Smallest whole number of MiB that keeps the count within 10,000.
  const needed = Math.ceil(size / MAX_PARTS / MiB) * MiB
  const partSize = Math.max(requestedPartSize ?? DEFAULT_PART_SIZE, needed)
  const partCount = Math.max(1, Math.ceil(size / partSize))
  return { partSize, partCount, multipart: size > partSize }
}

/** Byte range [start, end) of 1-based part `n`. */
export function partRange(n: number, partSize: number, size: number): { start: number; end: number } {
  const start = (n - 1) * partSize
  return { start, end: Math.min(size, start + partSize) }
}
