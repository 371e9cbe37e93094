/**
 * `airlock upload FILE --to prominence`: the PROMINENCE upload flow.
 *
 * 1. the SHA-256 of the file, unless the caller knows it (`checksum`);
 * 2. `POST ${PROMINENCE_URL}/data/upload` with the name and that checksum (prominence-api.ts);
 * 3. the file, streamed to the presigned POST or PUT that came back (prominence-transfer.ts),
 *    hashed again on the way and cut short if it is not what step 1 promised.
 *
 * PROMINENCE's API needs the checksum before the upload starts (it goes into the presigned POST's
 * policy: prominence-eosc/prominence `prominence/data.py`, `prominence/backend/data_s3.py`), so
 * without `checksum` this flow reads the file twice; the PROMINENCE CLI reads twice too. Workers
 * cache images by that checksum. Objects land at `uploads/<user>/<name>` (or
 * `uploads/<group>/<name>` for a group path); jobs refer to them by `name`.
 *
 * A presigned POST or PUT is one request, so the store's single-request limit applies (5 GiB on
 * S3); unlike the PROMINENCE CLI there is no 2 GB limit from building the form in memory.
 */
import path from 'node:path'
import { AirlockError } from '../errors.js'
import { sha256OfFile } from '../sha256-file.js'
import { regularFileSize } from './local-file.js'
import { apiLabel, requestUpload } from './prominence-api.js'
import { objectLabel, transfer } from './prominence-transfer.js'
import { parseSha256Hex } from './sha256-meta.js'

export interface ProminenceUploadOptions {
  /** Object name in PROMINENCE (default: the file's base name); `group/name` for a group's space. */
  name?: string
  /** Hex SHA-256 of the file (`sha256:` prefix allowed), if known: the file is then read once. */
  checksum?: string
  /** API base, e.g. https://host/prominence/v1 (default: env PROMINENCE_URL). */
  url?: string
  /** Bearer token (default: env PROMINENCE_TOKEN). */
  token?: string
  /** Where url and token default from (default: process.env). */
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** Bytes read, by phase: `checksum` (first read, when no checksum is given) and `upload`. */
  onBytes?: (n: number, phase: 'checksum' | 'upload') => void
}

export interface ProminenceUploadResult {
  name: string
  size: number
  /** Hex SHA-256 of what was sent. */
  sha256: string
  /** From start to the store's answer, including the checksum pass. */
  seconds: number
  /** `post`: the checksum is stored with the object (PROMINENCE's policy pins it); `put`: it is not. */
  method: 'post' | 'put'
  /** How many times the file was read (2 when the checksum had to be computed first). */
  reads: 1 | 2
  /** Store URL of the object without any query (no signature), for people. */
  location: string
}

export function config(opts: ProminenceUploadOptions): { base: URL; token: string } {
  const env = opts.env ?? process.env
  const rawUrl = (opts.url ?? env.PROMINENCE_URL ?? '').trim()
  const token = (opts.token ?? env.PROMINENCE_TOKEN ?? '').trim()
  if (!rawUrl) {
    throw new AirlockError('INVALID_INPUT', 'PROMINENCE_URL is not set', {
      hint: 'set PROMINENCE_URL to the PROMINENCE API, e.g. https://host/prominence/v1',
    })
  }
  let base: URL
  try {
    base = new URL(rawUrl)
  } catch {
    throw new AirlockError('INVALID_INPUT', 'PROMINENCE_URL is not a URL', {
      hint: 'set PROMINENCE_URL to the PROMINENCE API, e.g. https://host/prominence/v1',
    })
  }
  if (!/^https?:$/.test(base.protocol) || base.username || base.password || base.search) {
    throw new AirlockError(
      'INVALID_INPUT',
      `PROMINENCE_URL must be a plain http(s) URL, got ${apiLabel(base)}`,
      {
        hint: 'no user name, password or query in it; the token goes in PROMINENCE_TOKEN',
      },
    )
  }
  if (!token) {
    throw new AirlockError('INVALID_INPUT', 'PROMINENCE_TOKEN is not set', {
      hint: 'set PROMINENCE_TOKEN to your PROMINENCE access token (e.g. from `prominence login`)',
    })
  }
  return { base, token }
}

function checkName(name: string): string {
  const parts = name.split('/')
  if (
    !name ||
    name.length > 1024 ||
    parts.some((p) => p === '' || p === '.' || p === '..') ||
    /[\0\r\n]/.test(name)
  ) {
    throw new AirlockError('INVALID_INPUT', `"${name.slice(0, 100)}" is not a valid PROMINENCE object name`, {
      hint: 'use a plain name like image.sif, or group/image.sif for a group you belong to',
    })
  }
  return name
}

/** Uploads `file` through PROMINENCE's data API. Prints nothing. */
export async function uploadToProminence(
  file: string,
  opts: ProminenceUploadOptions = {},
): Promise<ProminenceUploadResult> {
  const started = performance.now()
  const target = config(opts)
  const name = checkName(opts.name ?? path.basename(file))
  const checksum = opts.checksum === undefined ? undefined : parseSha256Hex(opts.checksum)
  const size = await regularFileSize(file)
  const sha256 =
    checksum ??
    (await sha256OfFile(file, { signal: opts.signal, onBytes: (n) => opts.onBytes?.(n, 'checksum') })).sha256

  const grant = await requestUpload(target, name, sha256, opts.signal)
  await transfer(grant, {
    file,
    size,
    sha256,
    checksumGiven: checksum !== undefined,
    name,
    signal: opts.signal,
    onBytes: (n) => opts.onBytes?.(n, 'upload'),
  })
  return {
    name,
    size,
    sha256,
    seconds: (performance.now() - started) / 1000,
    method: grant.method,
    reads: checksum ? 1 : 2,
    location: objectLabel(grant),
  }
}
