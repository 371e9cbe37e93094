import { describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { checkKey, formatS3Url, objectKey, parseS3Url } from '../../src/lib/objectstore/s3-url.js'

function fails(f: () => unknown): AirlockError {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(AirlockError)
    return err as AirlockError
  }
  throw new Error('did not throw')
}

describe('parseS3Url', () => {
  it('splits bucket and key', () => {
    expect(parseS3Url('s3://images')).toEqual({ bucket: 'images', key: '' })
    expect(parseS3Url('s3://images/')).toEqual({ bucket: 'images', key: '' })
    expect(parseS3Url('s3://images/hpc/app.sif')).toEqual({ bucket: 'images', key: 'hpc/app.sif' })
    expect(parseS3Url('s3://my.bucket-1/a b/ü.sif')).toEqual({ bucket: 'my.bucket-1', key: 'a b/ü.sif' })
  })

  it('refuses what is not s3://BUCKET/…, with exit 2', () => {
    for (const bad of ['http://b/x', 'b/x', 's3:/b/x', 's3://', 's3://ab/x', 's3://Upper/x', 's3://a..b/x']) {
      const e = fails(() => parseS3Url(bad))
      expect(e.code, bad).toBe('INVALID_INPUT')
      expect(e.exitCode).toBe(2)
    }
    expect(fails(() => parseS3Url('s3://bkt/x/../y')).message).toMatch(/not a valid object key/)
    expect(fails(() => parseS3Url('s3://bucket//x')).message).toMatch(/not a valid object key/)
  })

  it('never repeats credentials written into the URL', () => {
    const e = fails(() => parseS3Url('s3://AKIAEXAMPLE:TopSecret123@bucket/x'))
    expect(e.message).toMatch(/must not carry credentials/)
    expect(`${e.message} ${e.hint}`).not.toContain('TopSecret123')
    const e2 = fails(() => parseS3Url('https://user:TopSecret123@host/x'))
    expect(`${e2.message} ${e2.hint}`).not.toContain('TopSecret123')
  })
})

describe('objectKey', () => {
  it('treats the part after the bucket as a prefix', () => {
    expect(objectKey('', 'app.sif')).toBe('app.sif')
    expect(objectKey('hpc', 'app.sif')).toBe('hpc/app.sif')
    expect(objectKey('hpc/', 'app.sif')).toBe('hpc/app.sif')
    expect(objectKey('hpc//', 'sub/app.sif')).toBe('hpc/sub/app.sif')
    expect(formatS3Url({ bucket: 'b', key: 'hpc/app.sif' })).toBe('s3://b/hpc/app.sif')
  })

  it('refuses empty names, folder names and bad keys', () => {
    expect(fails(() => objectKey('hpc', '')).code).toBe('INVALID_INPUT')
    expect(fails(() => objectKey('hpc', 'dir/')).code).toBe('INVALID_INPUT')
    expect(fails(() => objectKey('hpc', 'a\nb')).code).toBe('INVALID_INPUT')
    expect(fails(() => checkKey('x'.repeat(1025))).code).toBe('INVALID_INPUT')
    expect(checkKey('x'.repeat(1024))).toHaveLength(1024)
  })
})
