/**
 * The multipart path of `uploadFile`: resume or create the upload, send the parts (one read,
 * multipart-parts.ts), check the digest, complete, and stamp the SHA-256 (set-metadata.ts) unless
 * it was known up front. On failure the upload is aborted on the server (no orphan parts), except
 * with `resume`, which leaves it for the next run.
 */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { AirlockError } from '../errors.js'
import { type RemotePart, sendParts } from './multipart-parts.js'
import { abortUpload, findPendingUpload, listUploadedParts, resumablePartSize } from './pending-upload.js'
import { replaceMetadata } from './set-metadata.js'
import { SHA256_META, sha256FromMetadata } from './sha256-meta.js'

export interface MultipartContext {
  client: S3Client
  bucket: string
  key: string
  /** s3://BUCKET/KEY, for messages. */
  url: string
  file: string
  size: number
  /** Planned part size (a resumed upload keeps its own). */
  partSize: number
  jobs: number
  contentType: string
  /** Hex SHA-256 known up front (--checksum). */
  expected?: string
  serverChecksum: boolean
  resume: boolean
  copyObjectLimit?: number
  signal?: AbortSignal
  onBytes?: (done: number, total: number) => void
  notice: (message: string) => void
  /** Builds the error for a failure (the caller's mapping of SDK errors). */
  fail: (err: unknown, note?: string) => AirlockError
  /** Error for a digest that is not the expected one. */
  mismatch: (actual: string, left: string) => AirlockError
}

export interface MultipartOutcome {
  sha256: string
  parts: number
  partSize: number
  bytesSent: number
  resumed: boolean
  metadata: 'create' | 'copy' | 'multipart-copy'
}

interface Started {
  uploadId: string
  uploaded?: Map<number, RemotePart>
  partSize: number
  partChecksums: boolean
}

async function resumeOrCreate(c: MultipartContext): Promise<Started & { resumed: boolean }> {
  const { client, bucket, key, url, size, signal } = c
  if (c.resume) {
    const pending = await findPendingUpload(client, bucket, key, signal)
    if (pending) {
      const parts = await listUploadedParts(client, bucket, key, pending.uploadId, signal)
      const fitting = resumablePartSize(parts, size, c.partSize)
      if (fitting === undefined) {
        c.notice(`the pending upload of ${url} does not fit this file (other size or parts): aborting it`)
        await abortUpload(client, bucket, key, pending.uploadId)
      } else {
        c.notice(
          `resuming the upload of ${url}: ${parts.size} of ${Math.ceil(size / fitting)} parts on the server`,
        )
        return {
          uploadId: pending.uploadId,
          uploaded: parts,
          partSize: fitting,
          // AWS lists what the upload was created with; Complete must match it.
          partChecksums: pending.checksumAlgorithm
            ? pending.checksumAlgorithm === 'SHA256'
            : c.serverChecksum,
          resumed: true,
        }
      }
    } else {
      c.notice(`no pending upload of ${url} to resume: starting a new one`)
    }
  }
  const created = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: c.contentType,
      ...(c.expected !== undefined ? { Metadata: { [SHA256_META]: c.expected } } : {}),
      ...(c.serverChecksum ? { ChecksumAlgorithm: 'SHA256' } : {}),
    }),
    { abortSignal: signal },
  )
  if (!created.UploadId) throw new AirlockError('REGISTRY_HTTP', `${url}: the server gave no upload ID`)
  return { uploadId: created.UploadId, partSize: c.partSize, partChecksums: c.serverChecksum, resumed: false }
}

export async function uploadMultipart(c: MultipartContext): Promise<MultipartOutcome> {
  const { client, bucket, key, url, size, signal } = c
  const started = await resumeOrCreate(c)
  const { uploadId, partSize } = started

  let sent: Awaited<ReturnType<typeof sendParts>>
  try {
    sent = await sendParts({
      client,
      bucket,
      key,
      uploadId,
      file: c.file,
      size,
      partSize,
      jobs: c.jobs,
      partChecksums: started.partChecksums,
      uploaded: started.uploaded,
      signal,
      onBytes: c.onBytes,
    })
    if (c.expected !== undefined && sent.sha256 !== c.expected) {
      throw c.mismatch(sent.sha256, 'the upload was aborted, no object was written')
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: sent.parts },
      }),
      { abortSignal: signal },
    )
  } catch (err) {
    const wrongDigest = err instanceof AirlockError && err.code === 'DIGEST_MISMATCH'
    if (c.resume && !wrongDigest) {
      throw c.fail(err, 'the multipart upload stays on the server: run the same command again to resume it')
    }
    // Every part request has settled (sendParts waits for them), so one abort frees all parts.
    const aborted = await abortUpload(client, bucket, key, uploadId)
    if (wrongDigest && aborted) throw err
    throw c.fail(
      err,
      aborted
        ? 'the multipart upload was aborted on the server (no parts left)'
        : `aborting multipart upload ${uploadId} failed: remove it with aws s3api abort-multipart-upload`,
    )
  }

  // Complete. Check what the server holds (Complete's ETag is empty on Ceph 16; HEAD has it), then
  // stamp the SHA-256, unless CreateMultipartUpload carried it (a resumed upload's metadata is unknown).
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })
  if (head.ContentLength !== size) {
    throw new AirlockError(
      'SIZE_MISMATCH',
      `${url} has ${head.ContentLength} bytes after the upload, not ${size}`,
    )
  }
  let metadata: MultipartOutcome['metadata'] = 'create'
  if (c.expected === undefined || started.resumed) {
    try {
      metadata = await replaceMetadata({
        client,
        bucket,
        key,
        size,
        etag: head.ETag ?? '',
        metadata: { [SHA256_META]: sent.sha256 },
        contentType: c.contentType,
        partSize,
        jobs: c.jobs,
        copyObjectLimit: c.copyObjectLimit,
        signal,
      })
    } catch (err) {
      throw c.fail(err, 'the object is complete but has no sha256 metadata yet: run the upload again')
    }
    // The stamp took, on an object of the right size (stores that ignore the copy's ETag condition,
    // like Ceph 16, could otherwise stamp a concurrent writer's object unnoticed).
    const after = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: signal,
    })
    if (after.ContentLength !== size || sha256FromMetadata(after.Metadata) !== sent.sha256) {
      throw new AirlockError('REGISTRY_HTTP', `${url} changed while its sha256 metadata was set`, {
        hint: 'another upload to the same key ran at the same time: run the upload again',
      })
    }
  }
  return {
    sha256: sent.sha256,
    parts: sent.parts.length,
    partSize,
    bytesSent: sent.bytesSent,
    resumed: started.resumed,
    metadata,
  }
}
