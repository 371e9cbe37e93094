/**
 * DigestVerifier: passes content through unchanged when it matches, and never lets a consumer see
 * the complete content of a blob that does not (it holds the last chunk until the end is checked).
 */
import { createHash } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { DigestVerifier } from '../../src/lib/digest.js'
import { AirlockError } from '../../src/lib/errors.js'

const sha = (algo: string, b: Buffer) => `${algo}:${createHash(algo).update(b).digest('hex')}`

function content(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff
  return b
}

function split(b: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  for (const s of sizes) {
    out.push(b.subarray(at, at + s))
    at += s
  }
  if (at < b.length) out.push(b.subarray(at))
  return out
}

/**
 * Pipes `chunks` through a verifier into a consumer that, like a destination, "commits" only when
 * its input ends. Reports what the consumer received and whether it committed.
 */
async function runThrough(
  chunks: Buffer[],
  digest: string,
  size: number,
): Promise<{
  received: Buffer
  committed: boolean
  error?: AirlockError
  verifier: DigestVerifier
  counted: number
}> {
  let counted = 0
  const verifier = new DigestVerifier(digest, size, 'blob test', (n) => {
    counted += n
  })
  const got: Buffer[] = []
  let committed = false
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      got.push(Buffer.from(chunk))
      cb()
    },
    final(cb) {
      committed = true
      cb()
    },
  })
  let error: AirlockError | undefined
  try {
    await pipeline(Readable.from(chunks, { objectMode: false }), verifier, sink)
  } catch (err) {
    if (!(err instanceof AirlockError)) throw err
    error = err
  }
  return { received: Buffer.concat(got), committed, error, verifier, counted }
}

describe('DigestVerifier', () => {
  it('passes matching content through unchanged, in several chunks, and counts the bytes', async () => {
    const data = content(100_000)
    const chunks = split(data, [1, 4095, 30_000, 7, 50_000])
    const r = await runThrough(chunks, sha('sha256', data), data.length)
    expect(r.error).toBeUndefined()
    expect(r.committed).toBe(true)
    expect(r.received.equals(data)).toBe(true)
    expect(r.verifier.bytes).toBe(100_000)
    expect(r.counted).toBe(100_000)
  })

  it('accepts an unknown size (-1), sha512 digests, and empty content', async () => {
    const data = content(10_000, 2)
    const r = await runThrough(split(data, [3000, 3000]), sha('sha512', data), -1)
    expect(r.error).toBeUndefined()
    expect(r.received.equals(data)).toBe(true)

    const empty = await runThrough([], sha('sha256', Buffer.alloc(0)), 0)
    expect(empty.error).toBeUndefined()
    expect(empty.committed).toBe(true)
    expect(empty.received.length).toBe(0)
  })

  it('on a digest mismatch errors before releasing the last chunk: the consumer never has it all', async () => {
    const good = content(64 * 1024, 3)
    const bad = Buffer.from(good)
    bad[40_000] ^= 0xff
    const chunks = split(bad, [16 * 1024, 16 * 1024, 16 * 1024])
    const r = await runThrough(chunks, sha('sha256', good), good.length)
    expect(r.error?.code).toBe('DIGEST_MISMATCH')
    expect(r.error?.message).toContain(sha('sha256', good))
    expect(r.error?.message).toContain(sha('sha256', bad))
    expect(r.committed).toBe(false)
    // Everything but the held-back last chunk at most.
    expect(r.received.length).toBeLessThanOrEqual(48 * 1024)
    expect(bad.subarray(0, r.received.length).equals(r.received)).toBe(true)
  })

  it('a wrong single-chunk blob reaches the consumer not at all', async () => {
    const data = content(5000, 4)
    const r = await runThrough([data], sha('sha256', content(5000, 5)), 5000)
    expect(r.error?.code).toBe('DIGEST_MISMATCH')
    expect(r.received.length).toBe(0)
    expect(r.committed).toBe(false)
  })

  it('a wrong blob delivered byte by byte still never reaches the consumer whole', async () => {
    const data = content(300, 6)
    const chunks = split(
      data,
      Array.from({ length: 300 }, () => 1),
    )
    const r = await runThrough(chunks, sha('sha256', content(300, 7)), 300)
    expect(r.error?.code).toBe('DIGEST_MISMATCH')
    expect(r.received.length).toBeLessThan(300)
    expect(r.committed).toBe(false)
  })

  it('an empty chunk after the content does not release the held last chunk', async () => {
    // A writer may write zero-length chunks; the content-carrying last chunk must still be held
    // back until the digest is checked.
    const data = content(4096, 8)
    const verifier = new DigestVerifier(sha('sha256', content(4096, 9)), 4096, 'blob test')
    const got: Buffer[] = []
    verifier.on('data', (c: Buffer) => got.push(c))
    const failed = new Promise<Error>((resolve) => verifier.on('error', resolve))
    verifier.write(data.subarray(0, 2048))
    verifier.write(data.subarray(2048))
    verifier.write(Buffer.alloc(0))
    verifier.end()
    const err = await failed
    expect((err as AirlockError).code).toBe('DIGEST_MISMATCH')
    expect(Buffer.concat(got).length).toBeLessThan(4096)
  })

  it('content longer than the size fails with SIZE_MISMATCH and is not released whole', async () => {
    const data = content(10_000, 10)
    const longer = Buffer.concat([data, Buffer.from('extra')])
    const r = await runThrough(split(longer, [5000, 5000]), sha('sha256', data), data.length)
    expect(r.error?.code).toBe('SIZE_MISMATCH')
    expect(r.error?.message).toContain('expected 10000')
    expect(r.committed).toBe(false)
    expect(r.received.length).toBeLessThan(10_000)
  })

  it('content shorter than the size fails with SIZE_MISMATCH at the end', async () => {
    const data = content(10_000, 11)
    const r = await runThrough(split(data.subarray(0, 9000), [4500]), sha('sha256', data), data.length)
    expect(r.error?.code).toBe('SIZE_MISMATCH')
    expect(r.error?.message).toContain('9000 bytes received, expected 10000')
    expect(r.committed).toBe(false)
    expect(r.received.length).toBeLessThan(9000)
  })

  it('refuses digest algorithms it cannot verify', () => {
    const make = () => new DigestVerifier('md5:d41d8cd98f00b204e9800998ecf8427e', 0, 'blob test')
    expect(make).toThrow(AirlockError)
    expect(make).toThrow(/md5/)
  })
})
