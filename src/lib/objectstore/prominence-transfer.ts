/**
 * Sends a file to the URL PROMINENCE handed out: a presigned POST (the server's `fields`, then the
 * file last, as one streamed multipart form with a known Content-Length) or a presigned PUT (the
 * file as the body, with Content-Length). See S3's POST Object
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html) and the PROMINENCE CLI,
 * prominence-eosc/cli `prominence/client.py` `upload()` (success is 200, 201 or 204; Azure wants
 * `x-ms-blob-type: BlockBlob`).
 *
 * The bytes are hashed on the way (prominence-file-body.ts): if they are not the SHA-256 and size
 * promised to PROMINENCE, the request is cut before its last chunk and the store keeps nothing.
 */
import { AirlockError } from '../errors.js'
import { multipartForm } from './multipart-form.js'
import { networkError, type UploadGrant } from './prominence-api.js'
import type { FileBody } from './prominence-file-body.js'
import { type HttpAnswer, send } from './prominence-http.js'

export interface TransferInput {
  file: string
  size: number
  /** Hex SHA-256 the bytes must have. */
  sha256: string
  /** True when the user gave the checksum, false when it was computed in an earlier read. */
  checksumGiven: boolean
  /** The object name, as the file part's filename. */
  name: string
  signal?: AbortSignal
  onBytes?: (n: number) => void
}

/** Where the object went, for people: scheme, host, path and key; never the query (signature). */
export function objectLabel(grant: UploadGrant): string {
  const base = `${grant.url.protocol}//${grant.url.host}${grant.url.pathname}`
  const key = grant.fields.find(([k]) => k.toLowerCase() === 'key')?.[1]
  return key ? `${base.replace(/\/+$/, '')}/${key}` : base
}

/** Field names that carry a SHA-256 (PROMINENCE: `x-amz-meta-prominence_sha256`). */
const CHECKSUM_FIELD = /^x-amz-meta-.*sha256$/i

/**
 * Checks the form pins the checksum we computed: a server that signed another value would get a
 * 403 from the store after the whole file was sent.
 */
function checkPinnedChecksum(grant: UploadGrant, sha256: string): void {
  for (const [k, v] of grant.fields) {
    if (CHECKSUM_FIELD.test(k) && v.toLowerCase() !== sha256) {
      throw new AirlockError(
        'DIGEST_MISMATCH',
        `PROMINENCE signed the upload for SHA-256 ${v.slice(0, 80)} (field ${k}), but the file's is ${sha256}`,
        { hint: 'nothing was sent; ask for the upload again with the right --checksum' },
      )
    }
  }
}

function s3Error(text: string): { code: string; message: string } {
  const pick = (tag: string) =>
    new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(text)?.[1]?.replace(/\s+/g, ' ').slice(0, 300) ?? ''
  return { code: pick('Code'), message: pick('Message') }
}

function answerError(answer: HttpAnswer, grant: UploadGrant, where: string): AirlockError {
  const { code, message } = s3Error(answer.text)
  const said = [code, message].filter(Boolean).join(': ')
  const detail = `${where} answered ${answer.status}${said ? ` (${said})` : ''}`
  const status = answer.status
  if (status === 403) {
    const checksumField = grant.fields.find(([k]) => CHECKSUM_FIELD.test(k))?.[0]
    if (checksumField && message.toLowerCase().includes(checksumField.toLowerCase())) {
      return new AirlockError('DIGEST_MISMATCH', `the store refused the checksum: ${detail}`, {
        status,
        hint: 'the checksum sent does not match the one PROMINENCE signed; nothing was stored',
      })
    }
    return new AirlockError('DENIED', `the store refused the upload: ${detail}`, {
      status,
      hint:
        grant.method === 'post'
          ? 'a form field broke the presigned POST policy, or the upload URL expired; run the upload again'
          : 'the presigned URL expired or was signed for other headers; run the upload again',
    })
  }
  if (code === 'EntityTooLarge' || status === 413) {
    return new AirlockError(
      'UNSUPPORTED',
      `the file is larger than the store takes in this upload: ${detail}`,
      {
        status,
        hint: 'S3 takes at most 5 GiB in one POST or PUT, and the presigned POST may set a lower limit; upload to a bucket with `airlock upload --to s3://...` instead',
      },
    )
  }
  return new AirlockError('REGISTRY_HTTP', `upload failed: ${detail}`, {
    status,
    retryable: status >= 500 || status === 429,
  })
}

/** Streams the file to the grant's URL; resolves once the store has answered success. */
export async function transfer(grant: UploadGrant, input: TransferInput): Promise<void> {
  const where = `the object store at ${grant.url.host}`
  if (grant.method === 'post') checkPinnedChecksum(grant, input.sha256)
  const file: FileBody = { file: input.file, size: input.size, sha256: input.sha256, onBytes: input.onBytes }
  let answer: HttpAnswer
  try {
    if (grant.method === 'post') {
      const form = multipartForm(grant.fields, { size: input.size, filename: input.name.split('/').pop()! })
      answer = await send(grant.url, {
        method: 'POST',
        headers: { 'content-type': form.contentType },
        body: { ...file, head: form.head, tail: form.tail },
        signal: input.signal,
      })
    } else {
      const headers: Record<string, string> = {}
      if (grant.url.hostname.endsWith('.blob.core.windows.net')) headers['x-ms-blob-type'] = 'BlockBlob'
      answer = await send(grant.url, { method: 'PUT', headers, body: file, signal: input.signal })
    }
  } catch (err) {
    if (err instanceof AirlockError && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH')) {
      const why = input.checksumGiven
        ? 'does not match the checksum given'
        : 'changed after its checksum was computed'
      throw new AirlockError(err.code, `the file ${why}: ${err.message}`, {
        cause: err,
        hint: 'the upload was cut short before its last bytes, so nothing was stored',
      })
    }
    throw networkError(err, where, input.signal)
  }
  if (answer.status === 200 || answer.status === 201 || answer.status === 204) return
  throw answerError(answer, grant, where)
}
