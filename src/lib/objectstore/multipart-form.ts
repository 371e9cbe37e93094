/**
 * The layout of a multipart/form-data body for an S3 presigned POST: the text before and after the
 * file, so the file can be streamed between them (prominence-file-body.ts) and never buffered, with
 * the Content-Length known before the first byte is sent.
 *
 * S3 and Ceph RGW want a Content-Length on a browser-style POST (RGW answers a chunked upload with
 * 411), and the file field must come last: every field after it is ignored (S3 POST Object,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html; the @aws-sdk/s3-presigned-post
 * README: "the file field goes last in the form"). The length is the fixed text around the file plus
 * the file's size, so a form of any size costs a few hundred bytes of memory. (The PROMINENCE CLI
 * builds the form with python-requests, which cannot stream it past 2 GB; prominence-eosc/cli
 * `prominence/client.py` and its CHANGELOG, 0.18.1.)
 */
import { randomBytes } from 'node:crypto'
import { AirlockError } from '../errors.js'

export interface FormFile {
  /** Bytes of the file part, exactly. */
  size: number
  /** The `filename` of the part (S3 substitutes it for `${filename}` in the key). */
  filename: string
  /** Form field name of the file; S3 wants `file`. */
  fieldName?: string
  contentType?: string
}

export interface MultipartForm {
  /** `multipart/form-data; boundary=...`, for the request header. */
  contentType: string
  /** Total bytes of the body: head + file size + tail. */
  contentLength: number
  boundary: string
  /** Every field, then the file part's header. */
  head: Buffer
  /** The closing boundary. */
  tail: Buffer
}

const CRLF = '\r\n'

/** Quotes a name or filename the way browsers do (WHATWG HTML, multipart/form-data encoding). */
function quoted(value: string): string {
  return `"${value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22')}"`
}

/**
 * Lays out a form: `fields` in their order (the presigned POST's `fields` as the server gave
 * them), then `file`. The boundary is random and checked not to occur in any field.
 */
export function multipartForm(
  fields: Record<string, string> | [string, string][],
  file: FormFile,
): MultipartForm {
  const entries = Array.isArray(fields) ? fields : Object.entries(fields)
  if (!Number.isSafeInteger(file.size) || file.size < 0) {
    throw new AirlockError(
      'INVALID_INPUT',
      `form file size must be a whole number of bytes, got ${file.size}`,
    )
  }
  let boundary = ''
  do {
    boundary = `----airlock${randomBytes(16).toString('hex')}`
  } while (entries.some(([k, v]) => k.includes(boundary) || v.includes(boundary)))

  let head = ''
  for (const [name, value] of entries) {
    head += `--${boundary}${CRLF}Content-Disposition: form-data; name=${quoted(name)}${CRLF}${CRLF}${value}${CRLF}`
  }
  head +=
    `--${boundary}${CRLF}Content-Disposition: form-data; name=${quoted(file.fieldName ?? 'file')}; ` +
    `filename=${quoted(file.filename)}${CRLF}` +
    `Content-Type: ${file.contentType ?? 'application/octet-stream'}${CRLF}${CRLF}`
  const headBytes = Buffer.from(head, 'utf8')
  const tailBytes = Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'utf8')
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: headBytes.length + file.size + tailBytes.length,
    boundary,
    head: headBytes,
    tail: tailBytes,
  }
}
