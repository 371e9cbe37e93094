/**
 * The PROMINENCE upload flow against the stand-in of its /data/upload endpoint (PROMINENCE cannot run
 * here; see test/helpers/prominence.ts), which hands out real presigned POST/PUT URLs of a real
 * Ceph RGW. RGW enforces the presigned POST's policy, so the checksum condition is checked by the
 * store itself, not by the stand-in.
 */
import { createHash, randomBytes } from 'node:crypto'
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { multipartForm } from '../../src/lib/objectstore/multipart-form.js'
import { uploadToProminence } from '../../src/lib/objectstore/prominence.js'
import { requestUpload } from '../../src/lib/objectstore/prominence-api.js'
import { send } from '../../src/lib/objectstore/prominence-http.js'
import { rejectionOf } from '../helpers/errors.js'
import { PROMINENCE_META, type ProminenceStandIn, startProminence } from '../helpers/prominence.js'
import { startS3, type TestS3 } from '../helpers/s3.js'

let s3: TestS3
let client: S3Client
let post: ProminenceStandIn
let put: ProminenceStandIn
const dir = mkdtempSync(path.join(tmpdir(), 'airlock-prominence-'))

function fileOf(name: string, size: number): { file: string; sha256: string } {
  const data = randomBytes(size)
  const file = path.join(dir, name)
  writeFileSync(file, data)
  return { file, sha256: createHash('sha256').update(data).digest('hex') }
}

async function stored(
  bucket: string,
  key: string,
): Promise<{ sha256: string; meta: Record<string, string> }> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  const hash = createHash('sha256')
  for await (const c of got.Body as Readable) hash.update(c as Buffer)
  return { sha256: hash.digest('hex'), meta: got.Metadata ?? {} }
}

async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    return true
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false
    throw err
  }
}

beforeAll(async () => {
  s3 = await startS3()
  client = s3.client()
  post = await startProminence({ s3, bucket: 'prominence-post' })
  put = await startProminence({ s3, bucket: 'prominence-put', mode: 'put' })
}, 180_000)

afterAll(async () => {
  await post?.stop()
  await put?.stop()
  await s3?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('uploadToProminence', () => {
  it('uploads through the presigned POST; the object has the file bytes and the checksum as metadata', async () => {
    const { file, sha256 } = fileOf('image.sif', 5 * 1024 * 1024 + 17)
    const seen: Record<string, number> = { checksum: 0, upload: 0 }
    const r = await uploadToProminence(file, { env: post.env, onBytes: (n, phase) => (seen[phase]! += n) })
    expect(r).toMatchObject({
      name: 'image.sif',
      size: 5 * 1024 * 1024 + 17,
      sha256,
      method: 'post',
      reads: 2,
    })
    expect(seen).toEqual({ checksum: r.size, upload: r.size })
    expect(r.location).toBe(`${s3.endpoint}/prominence-post/uploads/alice/image.sif`)
    expect(post.calls.at(-1)).toMatchObject({ user: 'alice', name: 'image.sif', checksum: sha256 })
    const obj = await stored('prominence-post', 'uploads/alice/image.sif')
    expect(obj.sha256).toBe(sha256)
    expect(obj.meta[PROMINENCE_META]).toBe(sha256)
  })

  it('reads the file once when the checksum is given, and takes an empty file', async () => {
    const { file, sha256 } = fileOf('empty.tar', 0)
    const r = await uploadToProminence(file, {
      env: post.env,
      checksum: sha256.toUpperCase(),
      name: 'team/empty.tar',
    })
    expect(r).toMatchObject({ size: 0, sha256, method: 'post', reads: 1 })
    const obj = await stored('prominence-post', 'uploads/team/empty.tar')
    expect(obj).toEqual({ sha256, meta: { [PROMINENCE_META]: sha256 } })
  })

  it('uploads through a presigned PUT when the server hands one out', async () => {
    const { file, sha256 } = fileOf('put.sif', 3 * 1024 * 1024 + 5)
    const r = await uploadToProminence(file, { url: put.url, token: put.token, env: {} })
    expect(r).toMatchObject({ sha256, method: 'put', reads: 2 })
    expect(r.location).toBe(`${s3.endpoint}/prominence-put/uploads/alice/put.sif`)
    expect((await stored('prominence-put', 'uploads/alice/put.sif')).sha256).toBe(sha256)
  })

  it('a --checksum that is not the file’s aborts the upload and leaves no object (POST and PUT)', async () => {
    const { file } = fileOf('wrong.sif', 2 * 1024 * 1024 + 3)
    const wrong = 'ab'.repeat(32)
    for (const server of [post, put]) {
      const err = await rejectionOf(uploadToProminence(file, { env: server.env, checksum: wrong }))
      expect(err.code).toBe('DIGEST_MISMATCH')
      expect(err.exitCode).toBe(5)
      expect(err.message).toContain('does not match the checksum given')
      expect(await exists(server.bucket, 'uploads/alice/wrong.sif')).toBe(false)
    }
  })

  it('a file changed after its checksum pass is not stored (checked before its last bytes are sent)', async () => {
    const size = 40 * 1024 * 1024
    const cases = [
      { name: 'edited.sif', grow: false },
      { name: 'grown.sif', grow: true },
    ]
    for (const { name, grow } of cases) {
      const { file } = fileOf(name, size)
      let changed = false
      const onBytes = (_n: number, phase: string) => {
        if (phase === 'upload' && !changed) {
          changed = true
          // Three 4 MiB buffers at most are read ahead of the socket: the end of the file is still unread.
          const fd = openSync(file, 'r+')
          writeSync(fd, Buffer.from('changed'), 0, 7, size - 7)
          closeSync(fd)
          if (grow) appendFileSync(file, 'more')
        }
      }
      const err = await rejectionOf(uploadToProminence(file, { env: post.env, onBytes }))
      expect(err.code).toBe(grow ? 'SIZE_MISMATCH' : 'DIGEST_MISMATCH')
      expect(err.message).toContain('changed after its checksum was computed')
      expect(await exists(post.bucket, `uploads/alice/${name}`)).toBe(false)
    }
  })

  it('RGW refuses a presigned POST form whose checksum field was changed (403), and takes the real one', async () => {
    const { file, sha256 } = fileOf('tamper.sif', 1000)
    const target = { base: new URL(post.url), token: post.token }
    const grant = await requestUpload(target, 'tamper.sif', sha256)
    expect(grant.method).toBe('post')
    const bytes = (await import('node:fs')).readFileSync(file)
    const submit = (fields: [string, string][]) => {
      const form = multipartForm(fields, { size: bytes.length, filename: 'tamper.sif' })
      return send(grant.url, {
        method: 'POST',
        headers: { 'content-type': form.contentType, 'content-length': form.contentLength },
        body: Buffer.concat([form.head, bytes, form.tail]),
      })
    }
    const meta = `x-amz-meta-${PROMINENCE_META}`
    const tampered = grant.fields.map(([k, v]) => [k, k === meta ? 'cd'.repeat(32) : v] as [string, string])
    const refused = await submit(tampered)
    expect(refused.status).toBe(403)
    expect(refused.text).toContain('AccessDenied')
    expect(await exists(post.bucket, 'uploads/alice/tamper.sif')).toBe(false)
    expect((await submit(grant.fields)).status).toBe(204)
    expect((await stored(post.bucket, 'uploads/alice/tamper.sif')).meta[PROMINENCE_META]).toBe(sha256)
  })
})

describe('uploadToProminence errors', () => {
  const { file } = fileOf('small.sif', 10)

  it('missing PROMINENCE_URL or PROMINENCE_TOKEN is bad input (exit 2)', async () => {
    for (const env of [
      { PROMINENCE_TOKEN: 't' },
      { PROMINENCE_URL: post.url },
      { PROMINENCE_URL: 'ftp://x/y', PROMINENCE_TOKEN: 't' },
    ]) {
      const err = await rejectionOf(uploadToProminence(file, { env }))
      expect(err.code).toBe('INVALID_INPUT')
      expect(err.exitCode).toBe(2)
      expect(err.message).toMatch(/PROMINENCE_(URL|TOKEN)/)
    }
  })

  it('a missing file, a bad checksum or a bad name is bad input (exit 2)', async () => {
    const cases = [
      () => uploadToProminence(path.join(dir, 'nope.sif'), { env: post.env }),
      () => uploadToProminence(file, { env: post.env, checksum: 'xyz' }),
      () => uploadToProminence(file, { env: post.env, name: '../up.sif' }),
    ]
    for (const c of cases) expect((await rejectionOf(c())).exitCode).toBe(2)
  })

  it('a rejected token is AUTH_FAILED and the token appears nowhere', async () => {
    const token = 'sEcReT-t0ken-value-1234567890'
    const err = await rejectionOf(
      uploadToProminence(file, { env: { PROMINENCE_URL: post.url, PROMINENCE_TOKEN: token } }),
    )
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.status).toBe(401)
    const shown = JSON.stringify({ ...err.toJSON(), stack: err.stack, cause: String(err.cause ?? '') })
    expect(shown).not.toContain(token)
    expect(err.message).toContain('127.0.0.1')
  })

  it('a file over the POST policy’s size limit is refused by the store (UNSUPPORTED), nothing stored', async () => {
    const small = await startProminence({ s3, bucket: 'prominence-small', maxBytes: 1024 })
    try {
      const over = fileOf('over.sif', 2048)
      const err = await rejectionOf(uploadToProminence(over.file, { env: small.env, checksum: over.sha256 }))
      expect(err.code).toBe('UNSUPPORTED')
      expect(err.message).toContain('EntityTooLarge')
      // A large one is refused before it is all sent: the answer is read when it arrives before the
      // store closes the connection, else the upload fails as a closed connection (EPIPE).
      const big = fileOf('big.sif', 16 * 1024 * 1024)
      const early = await rejectionOf(uploadToProminence(big.file, { env: small.env, checksum: big.sha256 }))
      expect(['UNSUPPORTED', 'UNREACHABLE']).toContain(early.code)
      for (const e of [err, early]) expect(e.message).not.toMatch(/Signature|Credential|Policy=/)
      expect(await exists(small.bucket, 'uploads/alice/over.sif')).toBe(false)
      expect(await exists(small.bucket, 'uploads/alice/big.sif')).toBe(false)
    } finally {
      await small.stop()
    }
  })

  it('an abort during the checksum or the upload is INTERRUPTED and leaves no object', async () => {
    const { file } = fileOf('abort.sif', 32 * 1024 * 1024)
    for (const when of ['checksum', 'upload'] as const) {
      const ac = new AbortController()
      const err = await rejectionOf(
        uploadToProminence(file, {
          env: post.env,
          signal: ac.signal,
          onBytes: (_n, phase) => phase === when && ac.abort(),
        }),
      )
      expect(err.code).toBe('INTERRUPTED')
    }
    expect(await exists(post.bucket, 'uploads/alice/abort.sif')).toBe(false)
  })

  it('a group the user is not in is DENIED with the server’s reason', async () => {
    const err = await rejectionOf(uploadToProminence(file, { env: post.env, name: 'other/small.sif' }))
    expect(err.code).toBe('DENIED')
    expect(err.message).toContain('Not authorized to access upload with this path')
  })

  it('an API that is not there is UNREACHABLE or bad input, with no token in the message', async () => {
    const down = await rejectionOf(
      uploadToProminence(file, { url: 'http://127.0.0.1:9/prominence/v1', token: post.token }),
    )
    expect(down.code).toBe('UNREACHABLE')
    const wrongPath = await rejectionOf(
      uploadToProminence(file, { url: `${post.url}/nothing`, token: post.token }),
    )
    expect(wrongPath.code).toBe('INVALID_INPUT')
    for (const e of [down, wrongPath]) expect(e.message).not.toContain(post.token)
  })
})
