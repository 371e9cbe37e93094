/**
 * `s3://BUCKET/KEY` URLs: parsing, checking, and joining a prefix with an object name.
 *
 * Messages quote at most the bucket and key, never the text between `s3://` and an `@` (a URL like
 * `s3://KEY:SECRET@bucket/x` must not get its secret printed back).
 */
import { AirlockError } from '../errors.js'

export interface S3Location {
  bucket: string
  /** Object key or prefix, without the leading slash; may be empty. */
  key: string
}

/** Bucket names as S3 and Ceph RGW accept them (3-63 of a-z 0-9 . - _; no leading/trailing . or -). */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/
const MAX_KEY_BYTES = 1024

const HINT =
  'write it as s3://BUCKET/KEY (e.g. s3://images/project/app.sif) or s3://BUCKET/PREFIX/ (e.g. s3://images/project/)'

/** Parses `s3://BUCKET[/KEY]`. Throws INVALID_INPUT with a message that holds no userinfo. */
export function parseS3Url(text: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(text)
  if (!m) {
    throw new AirlockError('INVALID_INPUT', `"${safeQuote(text)}" is not an s3:// URL`, { hint: HINT })
  }
  const bucket = m[1]!
  const key = m[2] ?? ''
  if (bucket.includes('@') || bucket.includes(':')) {
    throw new AirlockError('INVALID_INPUT', 'an s3:// URL must not carry credentials or a port', {
      hint: `${HINT}; credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, the server from --endpoint or AWS_ENDPOINT_URL_S3`,
    })
  }
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new AirlockError(
      'INVALID_INPUT',
      `"${safeQuote(bucket)}" is not a valid bucket name (in an s3:// URL)`,
      {
        hint: `bucket names have 3 to 63 lowercase letters, digits, dots and hyphens; ${HINT}`,
      },
    )
  }
  checkKey(key, true)
  return { bucket, key }
}

/** Object keys: at most 1024 bytes, no control characters, no leading slash. */
export function checkKey(key: string, allowEmpty = false): string {
  if (key === '' && allowEmpty) return key
  if (
    key === '' ||
    key.startsWith('/') ||
    Buffer.byteLength(key) > MAX_KEY_BYTES ||
    /\p{Cc}/u.test(key) ||
    key.split('/').some((p) => p === '.' || p === '..')
  ) {
    throw new AirlockError('INVALID_INPUT', `"${safeQuote(key)}" is not a valid object key`, {
      hint: 'keys are up to 1024 bytes of printable characters, without a leading "/" or "." and ".." parts',
    })
  }
  return key
}

/**
 * The key of `name` under `prefix`, read as a folder (`images` and `images/` both give
 * `images/NAME`); uploadKey decides when a destination is a prefix.
 */
export function objectKey(prefix: string, name: string): string {
  if (name === '' || name.endsWith('/')) {
    throw new AirlockError('INVALID_INPUT', `"${safeQuote(name)}" is not a valid object name`, {
      hint: 'give a name like app.sif (or sub/app.sif) with --name',
    })
  }
  const p = prefix.replace(/\/+$/, '')
  return checkKey(p === '' ? name.replace(/^\/+/, '') : `${p}/${name.replace(/^\/+/, '')}`)
}

/**
 * The key an upload to `dest` (the part of s3://BUCKET/… after the bucket) writes, as `aws s3 cp
 * FILE s3://…` decides it: a destination ending in `/` (or the bare bucket) is a prefix and the
 * object is PREFIX + the file's base name, or PREFIX + `name` when one is given; otherwise the
 * destination is the key itself. A key together with a name is ambiguous (is the key's last part a
 * folder, or the object to be renamed?) and refused, naming both.
 */
export function uploadKey(dest: S3Location, fileBase: string, name?: string): string {
  const isPrefix = dest.key === '' || dest.key.endsWith('/')
  if (!isPrefix) {
    if (name !== undefined) {
      const url = formatS3Url(dest)
      throw new AirlockError(
        'INVALID_INPUT',
        `the destination ${safeQuote(url)} is a whole key (it does not end in "/") and --name ${safeQuote(name)} names the object as well`,
        {
          hint: `for ${safeQuote(`${dest.key}/${name}`)} write ${safeQuote(`${url}/`)} with --name; for ${safeQuote(dest.key)} leave out --name`,
        },
      )
    }
    return checkKey(dest.key)
  }
  return objectKey(dest.key, name ?? fileBase)
}

export function formatS3Url(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.key}`
}

/** At most 100 characters of user input, with anything that looks like `user:secret@` cut out. */
function safeQuote(text: string): string {
  const noUserinfo = text.replace(/^([a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1…@')
  return noUserinfo.length > 100 ? `${noUserinfo.slice(0, 100)}…` : noUserinfo
}
