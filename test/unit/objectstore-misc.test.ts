import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { parseDuration } from '../../src/lib/objectstore/presign.js'
import { s3Error } from '../../src/lib/objectstore/s3-errors.js'
import { hexToBase64, parseSha256Hex, sha256FromMetadata } from '../../src/lib/objectstore/sha256-meta.js'
import { Sha256Tap } from '../../src/lib/objectstore/sha256-stream.js'

const HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

describe('parseDuration', () => {
  it('reads seconds and units', () => {
    expect(parseDuration('3600')).toBe(3600)
    expect(parseDuration('90s')).toBe(90)
    expect(parseDuration('30m')).toBe(1800)
    expect(parseDuration('12h')).toBe(43200)
    expect(parseDuration('7d')).toBe(604800)
    expect(parseDuration('1w')).toBe(604800)
    expect(parseDuration('1d12h')).toBe(129600)
  })

  it('refuses more than 7 days (SigV4), zero and nonsense', () => {
    for (const bad of ['8d', '604801', '0', '', 'soon', '-5', '1.5h']) {
      expect(() => parseDuration(bad), bad).toThrow(/duration|between 1 second and 7 days/)
    }
  })
})

describe('sha256 metadata', () => {
  it('reads x-amz-meta-sha256, or PROMINENCE’s, and ignores malformed values', () => {
    expect(sha256FromMetadata({ sha256: HEX })).toBe(HEX)
    expect(sha256FromMetadata({ sha256: HEX.toUpperCase() })).toBe(HEX)
    expect(sha256FromMetadata({ prominence_sha256: HEX })).toBe(HEX)
    expect(sha256FromMetadata({ sha256: 'abc' })).toBeUndefined()
    expect(sha256FromMetadata(undefined)).toBeUndefined()
  })

  it('takes --checksum as hex, sha256:-prefixed or upper case', () => {
    expect(parseSha256Hex(HEX)).toBe(HEX)
    expect(parseSha256Hex(`sha256:${HEX.toUpperCase()}`)).toBe(HEX)
    expect(() => parseSha256Hex('abc')).toThrow(/64 hex digits/)
    expect(hexToBase64(HEX)).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=')
  })
})

describe('Sha256Tap', () => {
  it('passes bytes through and hashes them', async () => {
    const chunks = [Buffer.from('hello '), Buffer.from('world')]
    const seen: Buffer[] = []
    let counted = 0
    const tap = new Sha256Tap((n) => {
      counted += n
    })
    await pipeline(
      Readable.from(chunks),
      tap,
      new Writable({
        write(c, _e, cb) {
          seen.push(c)
          cb()
        },
      }),
    )
    expect(Buffer.concat(seen).toString()).toBe('hello world')
    expect(counted).toBe(11)
    expect(tap.bytes).toBe(11)
    expect(tap.sha256).toBe(createHash('sha256').update('hello world').digest('hex'))
  })
})

describe('s3Error', () => {
  const sdk = (name: string, status: number, message = 'UnknownError') =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } })

  it('maps S3 codes to airlock codes and exit codes', () => {
    const cases: Array<[unknown, string, number]> = [
      [sdk('NoSuchBucket', 404), 'NOT_FOUND', 1],
      [sdk('NoSuchKey', 404), 'NOT_FOUND', 1],
      [sdk('NotFound', 404), 'NOT_FOUND', 1],
      [sdk('SignatureDoesNotMatch', 403), 'AUTH_FAILED', 1],
      [sdk('Unknown', 403), 'AUTH_FAILED', 1],
      [sdk('AccessDenied', 403), 'DENIED', 1],
      [sdk('BadDigest', 400), 'DIGEST_MISMATCH', 5],
      [sdk('QuotaExceeded', 403), 'QUOTA_EXCEEDED', 4],
      [sdk('InternalError', 500), 'REGISTRY_HTTP', 1],
      [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'UNREACHABLE', 1],
      [
        Object.assign(new Error('Could not load credentials from any providers'), {
          name: 'CredentialsProviderError',
        }),
        'INVALID_INPUT',
        2,
      ],
    ]
    for (const [err, code, exit] of cases) {
      const e = s3Error(err, 'upload of x to s3://b/x', '127.0.0.1:7480')
      expect(e.code, String((err as Error).name)).toBe(code)
      expect(e.exitCode).toBe(exit)
      expect(e.message).toMatch(/^upload of x to s3:\/\/b\/x/)
    }
    expect(s3Error(sdk('Unknown', 403), 'head', 'h').message).toBe('head failed: HTTP 403')
    expect(s3Error(sdk('InternalError', 500), 'head', 'h').retryable).toBe(true)
  })
})
