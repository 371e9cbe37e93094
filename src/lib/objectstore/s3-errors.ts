/**
 * AWS SDK errors turned into AirlockErrors with a stable code and a hint.
 *
 * Messages name the operation, the bucket/key and the server's error code, never credentials; the
 * server's own words are passed through redact() in the CLI as a last line of defence.
 */
import { AirlockError, type ErrorCode } from '../errors.js'

interface SdkError {
  name?: string
  code?: string
  message?: string
  Code?: string
  $metadata?: { httpStatusCode?: number; requestId?: string }
  $retryable?: unknown
}

const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
])

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
])

export function isAbortError(err: unknown): boolean {
  const e = err as SdkError | undefined
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR'
}

/** The HTTP status of an SDK error, if the server answered. */
export function statusOf(err: unknown): number | undefined {
  return (err as SdkError | undefined)?.$metadata?.httpStatusCode
}

/** The S3 error code (`NoSuchKey`, `AccessDenied`, ...) of an SDK error. */
export function s3CodeOf(err: unknown): string | undefined {
  const e = err as SdkError | undefined
  // HEAD answers have no body: the SDK then names the error `Unknown` (or `NotFound` for 404).
  const generic = ['Error', 'UnknownError', 'Unknown']
  return e?.Code ?? (e?.name && !generic.includes(e.name) ? e.name : undefined)
}

export function isNotFound(err: unknown): boolean {
  const code = s3CodeOf(err)
  return statusOf(err) === 404 || code === 'NotFound' || code === 'NoSuchKey'
}

/**
 * `what` says what was asked, for the message: `upload of app.sif to s3://b/k`.
 * `endpoint` is a host label (never a URL with userinfo).
 */
export function s3Error(err: unknown, what: string, endpoint: string): AirlockError {
  if (err instanceof AirlockError) return err
  const e = (err ?? {}) as SdkError
  const status = statusOf(err)
  const code = s3CodeOf(err)
  const serverText = e.message && e.message !== 'UnknownError' && e.message !== code ? `: ${e.message}` : ''
  const detail = code
    ? `${code}${status ? ` (HTTP ${status})` : ''}${serverText}`
    : `${status ? `HTTP ${status}` : 'error'}${serverText}`

  if (e.name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return new AirlockError('INVALID_INPUT', `${what}: no AWS credentials found`, {
      cause: err,
      hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials',
    })
  }
  if (isAbortError(err)) return new AirlockError('INTERRUPTED', `${what} was interrupted`, { cause: err })
  if (e.code && TLS_CODES.has(e.code)) {
    return new AirlockError(
      'TLS_FAILED',
      `${what}: TLS certificate of ${endpoint} could not be verified (${e.code})`,
      {
        cause: err,
        // As the AWS CLI: https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-options.html#cli-configure-options-ca_bundle
        hint: "give the CA that signed the endpoint's certificate with --ca-bundle FILE, AWS_CA_BUNDLE=FILE or ca_bundle = FILE in the profile of ~/.aws/config",
      },
    )
  }
  if (e.code && NETWORK.has(e.code)) {
    return new AirlockError('UNREACHABLE', `${what}: cannot reach ${endpoint} (${e.code})`, {
      cause: err,
      retryable: true,
      hint: 'check --endpoint / AWS_ENDPOINT_URL_S3 and that the server is up',
    })
  }
  if (e.name === 'TimeoutError') {
    return new AirlockError('UNREACHABLE', `${what}: ${endpoint} did not answer in time`, {
      cause: err,
      retryable: true,
    })
  }

  const mk = (c: ErrorCode, hint?: string, retryable = false) =>
    new AirlockError(c, `${what} failed: ${detail}`, { cause: err, status, hint, retryable })
  switch (code) {
    case 'NoSuchBucket':
      return mk('NOT_FOUND', 'check the bucket name, or create the bucket first')
    case 'NoSuchKey':
    case 'NotFound':
      return mk('NOT_FOUND', 'check the key (aws s3 ls s3://BUCKET/PREFIX lists them)')
    case 'NoSuchUpload':
      return mk('NOT_FOUND', 'the multipart upload is gone (aborted or completed): run the upload again')
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'InvalidToken':
    case 'ExpiredToken':
      return mk(
        'AUTH_FAILED',
        'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for this server',
      )
    case 'AccessDenied':
    case 'AllAccessDisabled':
      return mk('DENIED', 'these credentials may not do this on this bucket')
    case 'BadDigest':
    case 'InvalidDigest':
    case 'XAmzContentSHA256Mismatch':
      return mk('DIGEST_MISMATCH', 'the bytes changed on the way or the file changed while it was read')
    case 'QuotaExceeded':
      return mk('QUOTA_EXCEEDED', 'the bucket or user quota is full: free space or ask for a larger quota')
    case 'EntityTooLarge':
    case 'EntityTooSmall':
    case 'InvalidArgument':
    case 'InvalidRequest':
    case 'InvalidBucketName':
    case 'KeyTooLongError':
      return mk('INVALID_INPUT')
    default:
      break
  }
  if (status === 401 || status === 403) {
    return mk('AUTH_FAILED', 'wrong credentials, or no permission on this bucket')
  }
  if (status === 404) return mk('NOT_FOUND')
  if (status === 412) return mk('REGISTRY_HTTP', 'the object changed while airlock worked on it; run again')
  const retryable = status === undefined || status >= 500 || status === 429
  return mk('REGISTRY_HTTP', undefined, retryable)
}
