/**
 * `airlock download s3://BUCKET/KEY -o FILE`: the object is streamed to a temporary file next to
 * FILE while it is hashed, checked against the SHA-256 recorded with it (`x-amz-meta-sha256`, or
 * PROMINENCE's `x-amz-meta-prominence_sha256`) and against `--checksum` when given, and only then
 * renamed to FILE. On a mismatch, an error or an interrupt the temporary file is removed: FILE is
 * either the verified object or left as it was.
 *
 * An object without a recorded SHA-256 cannot be verified: it is downloaded with a notice and
 * `verified: false`, or refused with `requireChecksum`.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { AirlockError } from '../errors.js'
import { connectS3, type S3Connection, type S3ConnectionOptions } from './s3-client.js'
import { s3Error } from './s3-errors.js'
import { checkKey, formatS3Url, parseS3Url } from './s3-url.js'
import { parseSha256Hex, sha256FromMetadata } from './sha256-meta.js'
import { Sha256Tap } from './sha256-stream.js'

export interface DownloadOptions extends S3ConnectionOptions {
  /** Expected hex SHA-256 (in addition to the one recorded with the object). */
  checksum?: string
  /** Fail (exit 5) when the object has no recorded SHA-256 and no checksum is given. */
  requireChecksum?: boolean
  connection?: S3Connection
  signal?: AbortSignal
  onBytes?: (done: number, total: number) => void
  onNotice?: (message: string) => void
}

export interface DownloadResult {
  name: string
  bucket: string
  key: string
  url: string
  output: string
  size: number
  /** Hex SHA-256 of the bytes written. */
  sha256: string
  /** What it was checked against (the object's metadata, or --checksum). */
  expectedSha256?: string
  /** False when there was nothing to check against. */
  verified: boolean
  seconds: number
}

/**
 * As `aws s3 cp s3://B/KEY OUT`: no OUT, an OUT ending in "/" or an existing directory get the key's
 * base name (in that directory); any other OUT is the file itself.
 */
async function outputPath(output: string | undefined, key: string): Promise<string> {
  const base = path.posix.basename(key)
  if (output === undefined) return path.resolve(base)
  if (output.endsWith('/')) return path.resolve(output, base)
  const st = await stat(output).catch(() => undefined)
  return st?.isDirectory() ? path.resolve(output, base) : path.resolve(output)
}

/** Downloads `from` (s3://BUCKET/KEY) to `output` (default: the key's base name here). */
export async function downloadObject(
  from: string,
  output?: string,
  opts: DownloadOptions = {},
): Promise<DownloadResult> {
  const started = performance.now()
  const loc = parseS3Url(from)
  if (loc.key === '' || loc.key.endsWith('/')) {
    throw new AirlockError('INVALID_INPUT', `${formatS3Url(loc)} names no object (it ends with "/")`, {
      hint: 'give the whole key: s3://BUCKET/PATH/FILE',
    })
  }
  checkKey(loc.key)
  const given = opts.checksum !== undefined ? parseSha256Hex(opts.checksum) : undefined
  const target = await outputPath(output, loc.key)
  const dir = path.dirname(target)
  const dirStat = await stat(dir).catch(() => undefined)
  if (!dirStat?.isDirectory()) {
    throw new AirlockError('INVALID_INPUT', `${dir} is not a directory`, {
      hint: 'create it first, or choose another output',
    })
  }
  const url = formatS3Url(loc)
  const what = `download of ${url}`
  const conn = opts.connection ?? (await connectS3(opts))
  const temp = path.join(dir, `.${path.basename(target)}.airlock-${randomBytes(4).toString('hex')}.part`)
  let tempMade = false
  try {
    const res = await conn.client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), {
      abortSignal: opts.signal,
    })
    const recorded = sha256FromMetadata(res.Metadata)
    if (given && recorded && given !== recorded) {
      opts.onNotice?.(`${url} records sha256 ${recorded}, not the ${given} given: checking against both`)
    }
    const expected = given ?? recorded
    if (expected === undefined) {
      if (opts.requireChecksum) {
        ;(res.Body as Readable | undefined)?.destroy()
        throw new AirlockError('DIGEST_MISMATCH', `${url} has no sha256 metadata to verify it against`, {
          hint: 'give the expected digest with --checksum, or leave out --require-checksum',
        })
      }
      opts.onNotice?.(`${url} has no sha256 metadata: the download cannot be verified`)
    }
    const total = res.ContentLength ?? -1
    let done = 0
    const tap = new Sha256Tap((n) => {
      done += n
      opts.onBytes?.(done, total)
    })
    tempMade = true
    await pipeline(res.Body as Readable, tap, createWriteStream(temp, { flags: 'wx', mode: 0o644 }), {
      signal: opts.signal,
    })
    if (total >= 0 && tap.bytes !== total) {
      throw new AirlockError(
        'SIZE_MISMATCH',
        `${url}: ${tap.bytes} bytes received, the server announced ${total}`,
        {
          hint: 'the connection was cut; nothing was written, run the download again',
        },
      )
    }
    for (const [want, source] of [
      [given, '--checksum'],
      [recorded, 'its sha256 metadata'],
    ] as const) {
      if (want !== undefined && tap.sha256 !== want) {
        throw new AirlockError(
          'DIGEST_MISMATCH',
          `${url} has SHA-256 ${tap.sha256}, not ${want} as ${source} says; nothing was written`,
          { hint: 'the object was changed or damaged after it was uploaded: upload it again' },
        )
      }
    }
    await rename(temp, target)
    tempMade = false
    return {
      name: path.posix.basename(loc.key),
      bucket: loc.bucket,
      key: loc.key,
      url,
      output: target,
      size: tap.bytes,
      sha256: tap.sha256,
      ...(expected !== undefined ? { expectedSha256: expected } : {}),
      verified: expected !== undefined,
      seconds: (performance.now() - started) / 1000,
    }
  } catch (err) {
    if (opts.signal?.aborted) {
      throw new AirlockError('INTERRUPTED', `${what} was interrupted; nothing was written`, { cause: err })
    }
    const fsErr = err as NodeJS.ErrnoException
    if (fsErr?.code && ['open', 'write', 'rename', 'close'].includes(fsErr.syscall ?? '')) {
      throw new AirlockError('INTERNAL', `${what}: writing next to ${target} failed (${fsErr.code})`, {
        cause: err,
        hint: fsErr.code === 'ENOSPC' ? 'the disk is full' : 'check the permissions of the directory',
      })
    }
    throw s3Error(err, what, conn.label)
  } finally {
    if (tempMade) await unlink(temp).catch(() => undefined)
    if (!opts.connection) conn.close()
  }
}
