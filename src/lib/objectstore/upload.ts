/**
 * `airlock upload FILE s3://BUCKET/KEY` (or `s3://BUCKET/PREFIX/`, or `--to`): one read of the
 * file, its SHA-256 stored with the object as `x-amz-meta-sha256` (hex), multipart with several
 * parts in flight for large files.
 *
 * When the SHA-256 gets onto the object (S3 takes metadata only at PutObject/CreateMultipartUpload):
 * - a file that fits in one part is read into memory, hashed, and sent with one PutObject that
 *   carries the metadata and `x-amz-checksum-sha256` (AWS verifies it; Ceph 16 ignores it);
 * - with `--checksum HEX` the digest is known up front: it goes into CreateMultipartUpload, the
 *   bytes sent are hashed on the way, and a mismatch aborts the upload before Complete (no object);
 * - otherwise the parts are sent while the file is hashed, and once complete the object is copied
 *   onto itself server-side with the metadata (set-metadata.ts). Reading the file first to learn
 *   the digest would cost a second full read; uploading to a temporary key would cost the same copy.
 *
 * Skip: when the object exists with the file's size and a sha256 in its metadata, the file is hashed
 * and nothing is sent if the digests agree ("already there"). Only when they differ is the file read
 * a second time, to upload it (`reads: 2` in the result); `force` skips the check.
 *
 * Failures and interrupts abort the multipart upload on the server (no orphan parts), except with
 * `resume`, which leaves it for the next `resume` run. A resumed run finds the pending upload for
 * the key, lists its parts, reads the whole file again (the SHA-256 needs every byte) but sends only
 * the parts the server does not have or has with other content (multipart-parts.ts), and then
 * stamps the metadata by copy, since what the pending upload was created with cannot be read back.
 */
import { createHash } from 'node:crypto'
import path from 'node:path'
import { HeadObjectCommand, type HeadObjectCommandOutput, PutObjectCommand } from '@aws-sdk/client-s3'
import { AirlockError } from '../errors.js'
import { sha256OfFile } from '../sha256-file.js'
import { readWhole, regularFileSize } from './local-file.js'
import { planParts } from './part-plan.js'
import { withPayloadHash } from './payload-hash.js'
import { MAX_PRESIGN_SECONDS, presignGet } from './presign.js'
import { connectS3, type S3Connection, type S3ConnectionOptions } from './s3-client.js'
import { isNotFound, s3CodeOf, s3Error, statusOf } from './s3-errors.js'
import { formatS3Url, parseS3Url, uploadKey } from './s3-url.js'
import { hexToBase64, parseSha256Hex, SHA256_META, sha256FromMetadata } from './sha256-meta.js'
import { uploadMultipart } from './upload-multipart.js'

export interface UploadOptions extends S3ConnectionOptions {
  /**
   * Object name under the prefix when `to` ends in `/` (default: the file's base name); refused
   * with a `to` that is a whole key.
   */
  name?: string
  /** Expected hex SHA-256 of the file: stored up front, checked against the bytes sent. */
  checksum?: string
  /** Upload even when the object is already there with the same SHA-256. */
  force?: boolean
  /** Go on with a pending multipart upload of the key; leave it pending on failure. */
  resume?: boolean
  /** Also return a presigned GET URL valid this many seconds (at most 7 days). */
  presignSeconds?: number
  /** Part size in bytes (default: 16 MiB, more for files above 160 GB). */
  partSize?: number
  /** Parts in flight (default 4). */
  jobs?: number
  /** Send x-amz-checksum-sha256 with each part/object (default true). */
  serverChecksum?: boolean
  /** Above this size the metadata copy is a multipart copy (default 5 GiB, CopyObject's limit). */
  copyObjectLimit?: number
  /** Use this connection (left open) instead of making one. */
  connection?: S3Connection
  signal?: AbortSignal
  /** Bytes done (hashed for the skip check, then acknowledged by the server) and the total. */
  onBytes?: (done: number, total: number) => void
  /** Things worth telling a person (resuming, replacing, aborting). */
  onNotice?: (message: string) => void
}

export interface UploadResult {
  name: string
  bucket: string
  key: string
  size: number
  /** Hex SHA-256 of the file (as stored in x-amz-meta-sha256). */
  sha256: string
  /** s3://BUCKET/KEY */
  url: string
  presignedUrl?: string
  presignedUrlExpires?: string
  seconds: number
  /** True when the object was already there with the same SHA-256 and nothing was sent. */
  skipped: boolean
  resumed: boolean
  parts: number
  partSize?: number
  bytesSent: number
  /** How the sha256 metadata got onto the object. */
  metadata: 'put' | 'create' | 'copy' | 'multipart-copy' | 'existing'
  /** How many times the file was read (2 only when a same-size object with other content was replaced). */
  reads: number
}

const CONTENT_TYPE = 'application/octet-stream'

function checkOptions(opts: UploadOptions): void {
  const jobs = opts.jobs ?? 4
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) {
    throw new AirlockError('INVALID_INPUT', 'jobs (parts in flight) must be between 1 and 64')
  }
  const p = opts.presignSeconds
  if (p !== undefined && (!Number.isInteger(p) || p < 1 || p > MAX_PRESIGN_SECONDS)) {
    throw new AirlockError('INVALID_INPUT', 'a presigned URL lives from 1 second to 7 days')
  }
}

/**
 * Uploads `file` to `to`: s3://BUCKET/KEY, or s3://BUCKET/PREFIX/ for PREFIX/NAME (as `aws s3 cp`).
 * Prints nothing; failures are AirlockErrors.
 */
export async function uploadFile(file: string, to: string, opts: UploadOptions = {}): Promise<UploadResult> {
  const started = performance.now()
  const dest = parseS3Url(to)
  const expected = opts.checksum !== undefined ? parseSha256Hex(opts.checksum) : undefined
  const key = uploadKey(dest, path.basename(file), opts.name)
  const name = opts.name ?? path.posix.basename(key)
  checkOptions(opts)
  const size = await regularFileSize(file)
  const plan = planParts(size, opts.partSize)
  const conn = opts.connection ?? (await connectS3(opts))
  const { client } = conn
  const { bucket } = dest
  const url = formatS3Url({ bucket, key })
  const signal = opts.signal
  const serverChecksum = opts.serverChecksum ?? true
  const what = `upload of ${path.basename(file)} to ${url}`
  const map = (err: unknown, note?: string) => mapError(err, what, conn.label, serverChecksum, signal, note)
  const mismatch = (actual: string, left: string) =>
    new AirlockError(
      'DIGEST_MISMATCH',
      `${file} has SHA-256 ${actual}, not the ${expected} given with --checksum; ${left}`,
      { hint: 'check the checksum (sha256sum FILE), or leave --checksum out to have airlock compute it' },
    )
  const base = { name, bucket, key, size, url }
  let reads = 0

  const finish = async (r: Omit<UploadResult, 'seconds' | keyof typeof base | 'reads'>) => {
    const out: UploadResult = { ...base, ...r, reads, seconds: 0 }
    if (opts.presignSeconds !== undefined) {
      const p = await presignGet(client, bucket, key, opts.presignSeconds)
      out.presignedUrl = p.url
      out.presignedUrlExpires = p.expiresAt
    }
    out.seconds = (performance.now() - started) / 1000
    return out
  }

  try {
    // Already there? Only a same-size object with a sha256 is worth hashing the file for.
    if (!opts.force) {
      let head: HeadObjectCommandOutput | undefined
      try {
        head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal })
      } catch (err) {
        if (!isNotFound(err)) throw err
      }
      const remote = sha256FromMetadata(head?.Metadata)
      if (head && remote && head.ContentLength === size && (expected === undefined || expected === remote)) {
        const local = (await sha256OfFile(file, { signal, onBytes: countUp(opts.onBytes, size) })).sha256
        reads++
        if (expected !== undefined && local !== expected) throw mismatch(local, 'nothing was sent')
        if (local === remote) {
          return await finish({
            sha256: local,
            skipped: true,
            resumed: false,
            parts: 0,
            bytesSent: 0,
            metadata: 'existing',
          })
        }
        opts.onNotice?.(`${url} exists with other content (sha256 ${remote.slice(0, 12)}…): replacing it`)
      }
    }

    if (!plan.multipart) {
      const body = await readWhole(file, size)
      reads++
      const sha256 = createHash('sha256').update(body).digest('hex')
      if (expected !== undefined && sha256 !== expected) throw mismatch(sha256, 'nothing was sent')
      const put = withPayloadHash(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: size,
          ContentType: CONTENT_TYPE,
          Metadata: { [SHA256_META]: sha256 },
          // A whole-object SHA-256 the store can verify (AWS does; Ceph 16 ignores it).
          ...(serverChecksum ? { ChecksumSHA256: hexToBase64(sha256) } : {}),
        }),
        sha256, // the signed payload hash: every SigV4 store checks it (payload-hash.ts)
      )
      await client.send(put, { abortSignal: signal })
      opts.onBytes?.(size, size)
      return await finish({
        sha256,
        skipped: false,
        resumed: false,
        parts: 1,
        bytesSent: size,
        metadata: 'put',
      })
    }

    reads++
    const r = await uploadMultipart({
      client,
      bucket,
      key,
      url,
      file,
      size,
      partSize: plan.partSize,
      jobs: opts.jobs ?? 4,
      contentType: CONTENT_TYPE,
      expected,
      serverChecksum,
      resume: opts.resume ?? false,
      copyObjectLimit: opts.copyObjectLimit,
      signal,
      onBytes: opts.onBytes,
      notice: (m) => opts.onNotice?.(m),
      fail: map,
      mismatch,
    })
    return await finish({ ...r, skipped: false })
  } catch (err) {
    throw map(err)
  } finally {
    if (!opts.connection) conn.close()
  }
}

/** Progress of a pass that reports increments (sha256OfFile) as done/total. */
function countUp(onBytes: UploadOptions['onBytes'], total: number): (n: number) => void {
  let done = 0
  return (n) => {
    done += n
    onBytes?.(done, total)
  }
}

/**
 * The AirlockError for a failure of this upload: INTERRUPTED when the signal fired, a hint when
 * the store refused S3 checksum headers, and `note` (what became of the multipart upload) appended.
 */
function mapError(
  err: unknown,
  what: string,
  label: string,
  serverChecksum: boolean,
  signal: AbortSignal | undefined,
  note?: string,
): AirlockError {
  if (err instanceof AirlockError && note === undefined) return err
  const e = s3Error(err, what, label)
  const suffix = note ? `; ${note}` : ''
  if (signal?.aborted || e.code === 'INTERRUPTED') {
    return new AirlockError('INTERRUPTED', `${what} was interrupted${suffix}`, { cause: err })
  }
  const code = s3CodeOf(err)
  const refused =
    serverChecksum && !(err instanceof AirlockError) && (statusOf(err) === 501 || code === 'NotImplemented')
  return new AirlockError(e.code, `${e.message}${suffix}`, {
    cause: e === err ? e.cause : err,
    status: e.status,
    retryable: e.retryable,
    hint: refused
      ? 'this store does not take S3 checksum headers: run again with --no-server-checksum'
      : e.hint,
  })
}
