/**
 * The parts of a multipart upload, sent from ONE sequential read of the file.
 *
 * Each part is read into its own buffer, in order; the buffer goes through the whole-file SHA-256
 * right away (so the digest covers the bytes exactly as they are sent) and is then sent while the
 * next parts are read: up to `jobs` parts in flight, at most jobs + 1 buffers, reused.
 *
 * Buffers rather than streams as bodies: the SDK knows the length (no aws-chunked encoding, which
 * some stores reject: aws/aws-sdk-js-v3#6810, ovh/public-cloud-roadmap#781) and
 * can retry a failed part by itself. Each part is hashed once more, on the thread pool (WebCrypto),
 * so the main thread only carries the whole-file hash: that digest is the signed SigV4 payload hash,
 * which every SigV4 store verifies (Ceph 16 too, payload-hash.ts), and, in base64, the part's
 * `x-amz-checksum-sha256`, which AWS and newer stores verify as well (COMPOSITE type,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html) and Ceph 16
 * ignores.
 *
 * Resuming: parts already on the server (from ListParts) are read and hashed like the others (the
 * whole-file SHA-256 needs every byte) but not sent again when they match what the server has: its
 * part checksum when it lists one, else the part's ETag, which is the MD5 of the part on stores
 * without SSE-KMS. A part that differs (the file changed) is sent again.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { type CompletedPart, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3'
import { AirlockError } from '../errors.js'
import { partRange } from './part-plan.js'
import { sha256Off, withPayloadHash } from './payload-hash.js'

export interface RemotePart {
  partNumber: number
  size: number
  etag: string
  checksumSha256?: string
}

export interface SendPartsOptions {
  client: S3Client
  bucket: string
  key: string
  uploadId: string
  file: string
  size: number
  partSize: number
  /** Parts in flight. */
  jobs: number
  /** Send x-amz-checksum-sha256 with each part. */
  partChecksums: boolean
  /** Parts the server already has (resume). */
  uploaded?: Map<number, RemotePart>
  signal?: AbortSignal
  /** Bytes the server has acknowledged (or already had), and the total. */
  onBytes?: (done: number, total: number) => void
}

export interface SendPartsResult {
  /** Hex SHA-256 of the whole file as read. */
  sha256: string
  parts: CompletedPart[]
  /** Bytes sent in this run. */
  bytesSent: number
  /** Parts found on the server and not sent again. */
  partsReused: number
}

/** `sha256` gives the part's SHA-256 (hashed at most once per part, whoever asks first). */
async function sameAsRemote(
  remote: RemotePart,
  buf: Buffer,
  sha256: () => Promise<Buffer>,
): Promise<boolean> {
  if (remote.size !== buf.length) return false
  if (remote.checksumSha256) return remote.checksumSha256 === (await sha256()).toString('base64')
  const etag = remote.etag.replace(/"/g, '').toLowerCase()
  if (!/^[0-9a-f]{32}$/.test(etag)) return false
  return etag === createHash('md5').update(buf).digest('hex')
}

export async function sendParts(opts: SendPartsOptions): Promise<SendPartsResult> {
  const { client, bucket, key, uploadId, size, partSize } = opts
  const count = Math.max(1, Math.ceil(size / partSize))
  const hash = createHash('sha256')
  const parts: CompletedPart[] = []
  const inflight = new Set<Promise<void>>()
  // Stops the other parts in flight on the first failure, or when the caller's signal fires.
  const stop = new AbortController()
  const onAbort = () => stop.abort(opts.signal?.reason)
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  if (opts.signal?.aborted) onAbort()
  let failure: unknown
  let acknowledged = 0
  let bytesSent = 0
  let partsReused = 0

  const progress = (n: number) => {
    acknowledged += n
    opts.onBytes?.(acknowledged, size)
  }

  const send = async (partNumber: number, body: Buffer, sha256: () => Promise<Buffer>): Promise<void> => {
    // One SHA-256 of the part, on the thread pool: the signed payload hash (verified by every
    // SigV4 store, payload-hash.ts) and, in base64, the S3 part checksum.
    const digest = await sha256()
    const checksum = opts.partChecksums ? digest.toString('base64') : undefined
    const command = new UploadPartCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
      ...(checksum ? { ChecksumSHA256: checksum } : {}),
    })
    const res = await client.send(withPayloadHash(command, digest.toString('hex')), {
      abortSignal: stop.signal,
    })
    if (!res.ETag) {
      throw new AirlockError('REGISTRY_HTTP', `the server gave no ETag for part ${partNumber} of ${key}`)
    }
    parts.push({ PartNumber: partNumber, ETag: res.ETag, ...(checksum ? { ChecksumSHA256: checksum } : {}) })
    bytesSent += body.length
    progress(body.length)
  }

  // Part buffers are reused once their request has succeeded (at most jobs + 1 exist): allocating
  // a fresh one per part costs more in garbage collection than the hashing does.
  const free: Buffer[] = []
  const fh = await open(opts.file, 'r')
  try {
    for (let n = 1; n <= count; n++) {
      while (inflight.size >= opts.jobs) await Promise.race(inflight)
      if (failure !== undefined || stop.signal.aborted) break
      const { start, end } = partRange(n, partSize, size)
      const block = free.pop() ?? Buffer.allocUnsafe(partSize)
      const buf = block.subarray(0, end - start)
      let filled = 0
      while (filled < buf.length) {
        const { bytesRead } = await fh.read(buf, filled, buf.length - filled, start + filled)
        if (bytesRead === 0) {
          throw new AirlockError('SIZE_MISMATCH', `${opts.file} got shorter while it was uploaded`, {
            hint: 'do not change a file while it is uploaded',
          })
        }
        filled += bytesRead
      }
      hash.update(buf)

      let digest: Promise<Buffer> | undefined
      const sha256 = () => (digest ??= sha256Off(buf))
      const remote = opts.uploaded?.get(n)
      if (remote && (await sameAsRemote(remote, buf, sha256))) {
        const checksum = opts.partChecksums ? (await sha256()).toString('base64') : undefined
        parts.push({ PartNumber: n, ETag: remote.etag, ...(checksum ? { ChecksumSHA256: checksum } : {}) })
        partsReused++
        progress(buf.length)
        free.push(block)
        continue
      }
      const p: Promise<void> = send(n, buf, sha256).then(
        () => {
          inflight.delete(p)
          free.push(block)
        },
        (err: unknown) => {
          // The block is not reused: a failed request's socket may still be writing it.
          inflight.delete(p)
          failure ??= err
          stop.abort(err)
        },
      )
      inflight.add(p)
    }
    await Promise.all(inflight)
  } catch (err) {
    failure ??= err
    stop.abort(err)
    await Promise.all(inflight)
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
    await fh.close()
  }
  if (opts.signal?.aborted) throw opts.signal.reason ?? failure
  if (failure !== undefined) throw failure
  parts.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0))
  return { sha256: hash.digest('hex'), parts, bytesSent, partsReused }
}
