/**
 * Stamping the SHA-256 on an object after its bytes are in place, without sending them again.
 *
 * Why this exists: S3 takes user metadata only when an object is created (PutObject,
 * CreateMultipartUpload), but a one-read upload knows the file's SHA-256 only after the last part
 * is read. So a multipart upload without `--checksum` completes the object first and then copies
 * it onto itself with `MetadataDirective: REPLACE` and the final metadata: a server-side copy (no
 * byte crosses the network; Ceph RGW only rewrites the head object's attributes, AWS copies the
 * data inside S3). CopyObject takes sources up to 5 GiB; above that the same is done with a
 * multipart copy (UploadPartCopy of byte ranges of the object onto itself, then Complete).
 *
 * The copy names the ETag of the object just completed (`x-amz-copy-source-if-match`), so
 * metadata is not stamped on content that someone else wrote in between; Ceph 16 ignores that
 * condition (on CopyObject and UploadPartCopy), so the caller checks size and metadata afterwards.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3'
import { partRange } from './part-plan.js'
import { abortUpload } from './pending-upload.js'

/** CopyObject's limit on AWS S3. */
export const COPY_OBJECT_LIMIT = 5 * 1024 * 1024 * 1024

export interface SetMetadataOptions {
  client: S3Client
  bucket: string
  key: string
  size: number
  /** ETag of the object as completed. */
  etag: string
  metadata: Record<string, string>
  contentType: string
  /** Part size for a multipart copy (5 MiB to 5 GiB). */
  partSize: number
  jobs: number
  /** Objects above this size are copied in parts (default 5 GiB). */
  copyObjectLimit?: number
  signal?: AbortSignal
}

/** `bucket/key` for x-amz-copy-source: the key URL-encoded, slashes kept. */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
}

/** Returns how it was done: `copy` (CopyObject) or `multipart-copy`. */
export async function replaceMetadata(opts: SetMetadataOptions): Promise<'copy' | 'multipart-copy'> {
  const { client, bucket, key, size, etag, signal } = opts
  const source = copySource(bucket, key)
  if (size <= (opts.copyObjectLimit ?? COPY_OBJECT_LIMIT)) {
    await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: key,
        CopySource: source,
        CopySourceIfMatch: etag,
        MetadataDirective: 'REPLACE',
        Metadata: opts.metadata,
        ContentType: opts.contentType,
      }),
      { abortSignal: signal },
    )
    return 'copy'
  }

  const created = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      Metadata: opts.metadata,
      ContentType: opts.contentType,
    }),
    { abortSignal: signal },
  )
  const uploadId = created.UploadId!
  try {
    const count = Math.ceil(size / opts.partSize)
    const etags: string[] = new Array(count)
    let next = 1
    let failure: unknown
    const worker = async () => {
      while (next <= count && failure === undefined) {
        const n = next++
        const { start, end } = partRange(n, opts.partSize, size)
        try {
          const res = await client.send(
            new UploadPartCopyCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: n,
              CopySource: source,
              CopySourceIfMatch: etag,
              CopySourceRange: `bytes=${start}-${end - 1}`,
            }),
            { abortSignal: signal },
          )
          etags[n - 1] = res.CopyPartResult?.ETag ?? ''
        } catch (err) {
          failure ??= err
        }
      }
    }
    // Every worker has stopped before the upload is completed or aborted.
    await Promise.all(Array.from({ length: Math.min(opts.jobs, count) }, worker))
    if (failure !== undefined) throw failure
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
      }),
      { abortSignal: signal },
    )
    return 'multipart-copy'
  } catch (err) {
    await abortUpload(client, bucket, key, uploadId)
    throw err
  }
}
