/**
 * Multipart uploads left on the server by an earlier run (killed, crashed, or failed with --resume):
 * finding the one for a key, listing its parts, and checking they fit the file's part layout.
 */
import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import type { RemotePart } from './multipart-parts.js'
import { MAX_PARTS, MIN_PART_SIZE, partRange } from './part-plan.js'

export interface PendingUpload {
  uploadId: string
  initiated?: Date
  /** What the server says the upload was created with (AWS lists it; Ceph 16 does not). */
  checksumAlgorithm?: string
}

/** The most recently started pending upload of exactly `key`, if any. */
export async function findPendingUpload(
  client: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<PendingUpload | undefined> {
  let best: PendingUpload | undefined
  let keyMarker: string | undefined
  let uploadIdMarker: string | undefined
  for (;;) {
    const res = await client.send(
      new ListMultipartUploadsCommand({
        Bucket: bucket,
        Prefix: key,
        ...(keyMarker ? { KeyMarker: keyMarker } : {}),
        ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
      }),
      { abortSignal: signal },
    )
    for (const u of res.Uploads ?? []) {
      if (u.Key !== key || !u.UploadId) continue
      if (!best || (u.Initiated && best.initiated && u.Initiated > best.initiated)) {
        best = {
          uploadId: u.UploadId,
          ...(u.Initiated ? { initiated: u.Initiated } : {}),
          ...(u.ChecksumAlgorithm ? { checksumAlgorithm: u.ChecksumAlgorithm } : {}),
        }
      }
    }
    if (!res.IsTruncated || (!res.NextKeyMarker && !res.NextUploadIdMarker)) break
    keyMarker = res.NextKeyMarker
    uploadIdMarker = res.NextUploadIdMarker
  }
  return best
}

/** Every part of an upload (ListParts pages through 1000 at a time). */
export async function listUploadedParts(
  client: S3Client,
  bucket: string,
  key: string,
  uploadId: string,
  signal?: AbortSignal,
): Promise<Map<number, RemotePart>> {
  const parts = new Map<number, RemotePart>()
  let marker: string | undefined
  for (;;) {
    const res = await client.send(
      new ListPartsCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        ...(marker ? { PartNumberMarker: marker } : {}),
      }),
      { abortSignal: signal },
    )
    for (const p of res.Parts ?? []) {
      if (p.PartNumber === undefined || !p.ETag) continue
      parts.set(p.PartNumber, {
        partNumber: p.PartNumber,
        size: p.Size ?? -1,
        etag: p.ETag,
        ...(p.ChecksumSHA256 ? { checksumSha256: p.ChecksumSHA256 } : {}),
      })
    }
    if (!res.IsTruncated || !res.NextPartNumberMarker || res.NextPartNumberMarker === marker) break
    marker = res.NextPartNumberMarker
  }
  return parts
}

/**
 * The part size the pending upload was made with, if its parts fit a file of `size` bytes cut at
 * that size: `preferred` (this run's plan) first, else the largest part listed. Undefined: they do
 * not fit (another file, or another part size that cannot be told), so the upload cannot go on.
 */
export function resumablePartSize(
  parts: Map<number, RemotePart>,
  size: number,
  preferred: number,
): number | undefined {
  if (parts.size === 0) return preferred
  const fits = (partSize: number): boolean => {
    if (partSize < MIN_PART_SIZE) return false
    const count = Math.max(1, Math.ceil(size / partSize))
    if (count > MAX_PARTS) return false
    for (const p of parts.values()) {
      if (p.partNumber > count) return false
      const { start, end } = partRange(p.partNumber, partSize, size)
      if (p.size !== end - start) return false
    }
    return true
  }
  if (fits(preferred)) return preferred
  const largest = Math.max(...[...parts.values()].map((p) => p.size))
  return fits(largest) ? largest : undefined
}

/** AbortMultipartUpload, not tied to any (possibly already aborted) signal. True when it worked. */
export async function abortUpload(
  client: S3Client,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<boolean> {
  try {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }))
    return true
  } catch (err) {
    // Already gone counts as done.
    return (err as { name?: string }).name === 'NoSuchUpload'
  }
}
