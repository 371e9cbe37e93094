/**
 * `airlock upload` / `airlock download` against a real S3 server: Ceph RADOS Gateway 16 on
 * 127.0.0.1 (test/helpers/s3.ts). Files are generated here; nothing is downloaded.
 */
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withPayloadHash } from '../../src/lib/objectstore/payload-hash.js'
import { hexToBase64 } from '../../src/lib/objectstore/sha256-meta.js'
import { uploadFile } from '../../src/lib/objectstore/upload.js'
import { type CliResult, isolatedEnv, json, runCli } from '../helpers/cli.js'
import { startS3, type TestS3 } from '../helpers/s3.js'

const BUCKET = 'airlock-upload-it'
const MiB = 1024 * 1024

let s3: TestS3
let client: S3Client
let dir: string
const outputs: CliResult[] = []

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex')
}

/** Fast "random" data: a random MiB repeated, each copy stamped with its index so parts differ. */
function data(size: number): Buffer {
  const block = randomBytes(MiB)
  const out = Buffer.allocUnsafe(size)
  for (let off = 0, i = 0; off < size; off += MiB, i++) {
    block.copy(out, off, 0, Math.min(MiB, size - off))
    if (size - off >= 8) out.writeUInt32BE(i, off)
  }
  return out
}

async function file(name: string, content: Buffer): Promise<string> {
  const p = path.join(dir, name)
  await writeFile(p, content)
  return p
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return isolatedEnv({ ...s3.env, AWS_EC2_METADATA_DISABLED: 'true', ...extra })
}

async function cli(args: string[], opts: Parameters<typeof runCli>[1] = {}): Promise<CliResult> {
  const r = await runCli(args, { env: env(), timeoutMs: 60_000, ...opts })
  outputs.push(r)
  return r
}

async function head(key: string) {
  try {
    return await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return undefined
    throw err
  }
}

async function pendingUploads(key: string) {
  const r = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: key }))
  return (r.Uploads ?? []).filter((u) => u.Key === key)
}

async function partsOnServer(key: string): Promise<number> {
  const [u] = await pendingUploads(key)
  if (!u) return 0
  const r = await client.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: u.UploadId }))
  return r.Parts?.length ?? 0
}

/** A TCP pass-through to RGW that slows client-to-server bytes (SigV4 signs the Host, which it keeps). */
async function slowProxy(bytesPerSecond: number): Promise<{ endpoint: string; close(): void }> {
  const target = new URL(s3.endpoint)
  const sockets = new Set<Socket>()
  const server: Server = createServer((down) => {
    const up = connect(Number(target.port), target.hostname)
    sockets.add(down).add(up)
    down.on('data', (chunk: Buffer) => {
      up.write(chunk)
      down.pause()
      setTimeout(() => down.resume(), (chunk.length / bytesPerSecond) * 1000)
    })
    up.pipe(down)
    const end = () => {
      down.destroy()
      up.destroy()
    }
    down.on('error', end).on('close', end)
    up.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

/** Runs the CLI and calls `kill` once `parts` parts of `key` are on the server. */
async function killAfterParts(
  args: string[],
  key: string,
  parts: number,
  signal: NodeJS.Signals,
  endpoint: string,
) {
  let child: ChildProcess | undefined
  const run = cli(args, {
    env: env({ AWS_ENDPOINT_URL_S3: endpoint }),
    onStderrLine: (_line, c) => {
      child = c
    },
  })
  let seen = 0
  for (let i = 0; i < 600 && seen < parts; i++) {
    await new Promise((r) => setTimeout(r, 50))
    seen = await partsOnServer(key)
  }
  expect(seen, 'parts uploaded before the kill').toBeGreaterThanOrEqual(parts)
  expect(child, 'the CLI printed its title').toBeDefined()
  child!.kill(signal)
  return run
}

beforeAll(async () => {
  s3 = await startS3()
  client = s3.client()
  await s3.createBucket(BUCKET)
  dir = await mkdtemp(path.join(tmpdir(), 'airlock-upload-it-'))
}, 120_000)

afterAll(async () => {
  // No command printed the secret key, whatever it did.
  for (const r of outputs) {
    expect(r.stdout).not.toContain(s3.secretAccessKey)
    expect(r.stderr).not.toContain(s3.secretAccessKey)
  }
  client?.destroy()
  await s3?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('checksum settings', () => {
  it("the SDK's default checksums break a streaming upload on RGW (411); airlock's settings work", async () => {
    const withDefaults = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    })
    const body = Buffer.from('streamed')
    const err = await withDefaults
      .send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'defaults',
          Body: Readable.from([body]),
          ContentLength: 8,
        }),
      )
      .catch((e: unknown) => e as { $metadata?: { httpStatusCode?: number } })
    withDefaults.destroy()
    expect(err?.$metadata?.httpStatusCode).toBe(411)
    // WHEN_REQUIRED (test helper's client, as airlock's) streams fine.
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'defaults',
        Body: Readable.from([body]),
        ContentLength: 8,
      }),
    )
    expect((await head('defaults'))?.ContentLength).toBe(8)
  })

  it('RGW checks the signed payload hash of every request (what airlock relies on per part)', async () => {
    const body = Buffer.from('the bytes sent')
    const wrong = withPayloadHash(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'payload', Body: body }),
      sha256(Buffer.from('other')),
    )
    const err = (await client.send(wrong).then(
      () => undefined,
      (e: unknown) => e,
    )) as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined
    expect(err?.$metadata?.httpStatusCode).toBe(400)
    expect(err?.name).toBe('XAmzContentSHA256Mismatch')
    await client.send(
      withPayloadHash(new PutObjectCommand({ Bucket: BUCKET, Key: 'payload', Body: body }), sha256(body)),
    )
    // x-amz-checksum-sha256, by contrast, is not checked by Ceph 16: a wrong one is accepted.
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'payload',
        Body: body,
        ChecksumSHA256: hexToBase64(sha256(Buffer.from('other'))),
      }),
    )
  })
})

describe('round trips', () => {
  for (const size of [0, 1]) {
    it(`${size} byte file: same SHA-256 up and down`, async () => {
      const content = data(size)
      const f = await file(`tiny-${size}`, content)
      const up = await cli(['upload', f, '--to', `s3://${BUCKET}/tiny/`, '--json'])
      expect(up.code, up.stderr).toBe(0)
      const u = json(up)
      expect(u).toMatchObject({ key: `tiny/tiny-${size}`, size, sha256: sha256(content), skipped: false })
      expect((await head(`tiny/tiny-${size}`))?.Metadata?.sha256).toBe(sha256(content))
      const out = path.join(dir, `tiny-${size}.back`)
      const down = await cli(['download', `s3://${BUCKET}/tiny/tiny-${size}`, '-o', out, '--json'])
      expect(down.code, down.stderr).toBe(0)
      expect(json(down)).toMatchObject({ size, sha256: sha256(content), verified: true })
      expect((await readFile(out)).equals(content)).toBe(true)
    })
  }

  it('> 100 MB in parts, several in flight, same SHA-256; second upload skipped; --force sends again', async () => {
    const content = data(105 * MiB)
    const f = await file('big.sif', content)
    const up = await cli(['upload', f, '--to', `s3://${BUCKET}/big/`, '--json', '-j', '4'])
    expect(up.code, up.stderr).toBe(0)
    const u = json(up)
    expect(u).toMatchObject({ key: 'big/big.sif', size: content.length, sha256: sha256(content), parts: 7 })
    expect(u.metadata).toBe('copy') // digest known only at the end: stamped by server-side copy
    expect(u.reads).toBe(1)
    expect((await head('big/big.sif'))?.Metadata?.sha256).toBe(sha256(content))
    expect(await pendingUploads('big/big.sif')).toEqual([])

    const out = path.join(dir, 'big.back')
    const down = await cli(['download', `s3://${BUCKET}/big/big.sif`, '-o', out, '--json'])
    expect(down.code, down.stderr).toBe(0)
    expect(json(down)).toMatchObject({ sha256: sha256(content), verified: true })
    expect(sha256(await readFile(out))).toBe(sha256(content))
    await rm(out)

    const again = await cli(['upload', f, '--to', `s3://${BUCKET}/big/`])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('already there')
    const againJson = json(await cli(['upload', f, '--to', `s3://${BUCKET}/big/`, '--json']))
    expect(againJson).toMatchObject({ skipped: true, bytesSent: 0, reads: 1 })

    const forced = json(
      await cli([
        'upload',
        f,
        '--to',
        `s3://${BUCKET}/big/`,
        '--json',
        '--force',
        '--checksum',
        sha256(content),
      ]),
    )
    expect(forced).toMatchObject({ skipped: false, bytesSent: content.length, metadata: 'create' })
    expect((await head('big/big.sif'))?.Metadata?.sha256).toBe(sha256(content))
  })
})

describe('--checksum', () => {
  it('a wrong one aborts: no object, no multipart upload, exit 5', async () => {
    const wrong = 'ab'.repeat(32)
    const small = await file('wrong-small', data(1000))
    const r1 = await cli(['upload', small, '--to', `s3://${BUCKET}/wrong/`, '--checksum', wrong])
    expect(r1.code).toBe(5)
    expect(r1.stderr).toContain('--checksum')
    expect(await head('wrong/wrong-small')).toBeUndefined()

    const big = await file('wrong-big', data(12 * MiB))
    const r2 = await cli([
      'upload',
      big,
      '--to',
      `s3://${BUCKET}/wrong/`,
      '--checksum',
      wrong,
      '--part-size',
      '5',
    ])
    expect(r2.code).toBe(5)
    expect(r2.stderr).toMatch(/aborted/)
    expect(await head('wrong/wrong-big')).toBeUndefined()
    expect(await pendingUploads('wrong/wrong-big')).toEqual([])
  })
})

describe('interrupted uploads', () => {
  it('SIGTERM: the multipart upload is aborted on the server, no parts left', async () => {
    const f = await file('term.sif', data(40 * MiB))
    const proxy = await slowProxy(20 * MiB)
    try {
      const r = await killAfterParts(
        ['upload', f, '--to', `s3://${BUCKET}/kill/`, '--part-size', '5', '-j', '1'],
        'kill/term.sif',
        1,
        'SIGTERM',
        proxy.endpoint,
      )
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/interrupted.*aborted on the server/i)
    } finally {
      proxy.close()
    }
    expect(await pendingUploads('kill/term.sif')).toEqual([])
    expect(await head('kill/term.sif')).toBeUndefined()
  })

  it('SIGKILL leaves parts; --resume sends only the rest and the result is right', async () => {
    const content = data(40 * MiB)
    const f = await file('kill.sif', content)
    const proxy = await slowProxy(20 * MiB)
    try {
      const r = await killAfterParts(
        ['upload', f, '--to', `s3://${BUCKET}/kill/`, '--part-size', '5', '-j', '1'],
        'kill/kill.sif',
        2,
        'SIGKILL',
        proxy.endpoint,
      )
      expect(r.signal).toBe('SIGKILL')
    } finally {
      proxy.close()
    }
    const afterKill = await partsOnServer('kill/kill.sif')
    expect(afterKill).toBeGreaterThanOrEqual(2)

    // With --resume, an interrupt keeps the pending upload (for the next --resume) instead of aborting it.
    const proxy2 = await slowProxy(20 * MiB)
    try {
      const r = await killAfterParts(
        ['upload', f, '--to', `s3://${BUCKET}/kill/`, '--part-size', '5', '-j', '1', '--resume'],
        'kill/kill.sif',
        afterKill + 1,
        'SIGTERM',
        proxy2.endpoint,
      )
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(/resuming the upload/)
      expect(r.stderr).toMatch(/stays on the server/)
    } finally {
      proxy2.close()
    }
    const left = await partsOnServer('kill/kill.sif')
    expect(left).toBeGreaterThan(afterKill)
    expect(await pendingUploads('kill/kill.sif')).toHaveLength(1)

    const resumed = await cli([
      'upload',
      f,
      '--to',
      `s3://${BUCKET}/kill/`,
      '--part-size',
      '5',
      '--resume',
      '--json',
    ])
    expect(resumed.code, resumed.stderr).toBe(0)
    const u = json(resumed)
    expect(u).toMatchObject({ resumed: true, sha256: sha256(content), parts: 8 })
    expect(u.bytesSent as number).toBeLessThanOrEqual(content.length - left * 5 * MiB)
    expect(await pendingUploads('kill/kill.sif')).toEqual([])
    expect((await head('kill/kill.sif'))?.Metadata?.sha256).toBe(sha256(content))
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'kill/kill.sif' }))
    expect(sha256(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sha256(content))
  })
})

describe('presigned GET', () => {
  it('works with plain fetch; a tampered signature gets 403', async () => {
    const content = data(3000)
    const f = await file('shared.sif', content)
    const r = await cli(['upload', f, '--to', `s3://${BUCKET}/share/`, '--presign', '1h', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const u = json<{ presignedUrl: string; presignedUrlExpires: string }>(r)
    expect(u.presignedUrl).toMatch(/X-Amz-Expires=3600/)
    const res = await fetch(u.presignedUrl)
    expect(res.status).toBe(200)
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(content))
    const bad = u.presignedUrl.replace(
      /X-Amz-Signature=([0-9a-f])/,
      (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
    )
    expect((await fetch(bad)).status).toBe(403)

    const text = await cli(['upload', f, '--to', `s3://${BUCKET}/share/`, '--presign', '7d'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*X-Amz-Expires=604800/m)
    expect((await cli(['upload', f, '--to', `s3://${BUCKET}/share/`, '--presign', '8d'])).code).toBe(2)
  })
})

describe('download verification', () => {
  it('a tampered object (same metadata, other bytes) gives exit 5 and leaves no file', async () => {
    const content = data(5000)
    const f = await file('tamper.sif', content)
    expect((await cli(['upload', f, '--to', `s3://${BUCKET}/tamper/`])).code).toBe(0)
    const tampered = Buffer.from(content)
    tampered[100] ^= 1
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'tamper/tamper.sif',
        Body: tampered,
        Metadata: { sha256: sha256(content) },
      }),
    )
    const outDir = await mkdtemp(path.join(dir, 'dl-'))
    const r = await cli(['download', `s3://${BUCKET}/tamper/tamper.sif`, '-o', path.join(outDir, 'x.sif')])
    expect(r.code).toBe(5)
    expect(r.stderr).toMatch(/SHA-256/)
    expect(await readdir(outDir)).toEqual([])
  })

  it('an object without sha256 metadata: warning and verified false; --require-checksum refuses it', async () => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'plain/obj', Body: Buffer.from('plain') }))
    const outDir = await mkdtemp(path.join(dir, 'dl-'))
    const r = await cli(['download', `s3://${BUCKET}/plain/obj`, '-o', outDir, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/no sha256 metadata/)
    expect(json(r)).toMatchObject({ verified: false, size: 5, output: path.join(outDir, 'obj') })
    await rm(path.join(outDir, 'obj'))
    const strict = await cli(['download', `s3://${BUCKET}/plain/obj`, '-o', outDir, '--require-checksum'])
    expect(strict.code).toBe(5)
    expect(await readdir(outDir)).toEqual([])
  })
})

describe('resume (library)', () => {
  it('sends again a part that changed since the pending upload was started', async () => {
    const first = data(12 * MiB)
    const key = 'changed/changed.sif'
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))
    for (const n of [1, 2]) {
      await client.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: created.UploadId,
          PartNumber: n,
          Body: first.subarray((n - 1) * 5 * MiB, n * 5 * MiB),
        }),
      )
    }
    const changed = Buffer.from(first)
    changed[10] ^= 0xff // part 1 differs now; part 2 is the same
    const f = await file('changed.sif', changed)
    const notices: string[] = []
    const r = await uploadFile(f, `s3://${BUCKET}/changed/`, {
      endpoint: s3.endpoint,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      partSize: 5 * MiB,
      resume: true,
      onNotice: (m) => notices.push(m),
    })
    expect(notices.join('\n')).toMatch(/2 of 3 parts on the server/)
    expect(r).toMatchObject({ resumed: true, sha256: sha256(changed), bytesSent: 5 * MiB + 2 * MiB })
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
    expect(sha256(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sha256(changed))
    expect((await head(key))?.Metadata?.sha256).toBe(sha256(changed))
  })
})

describe('the metadata copy above the CopyObject limit', () => {
  it('is a multipart copy of the object onto itself (library)', async () => {
    const content = data(12 * MiB)
    const f = await file('mpcopy.sif', content)
    const r = await uploadFile(f, `s3://${BUCKET}/mpcopy/`, {
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      partSize: 5 * MiB,
      copyObjectLimit: MiB,
    })
    expect(r).toMatchObject({ metadata: 'multipart-copy', parts: 3, sha256: sha256(content) })
    expect((await head('mpcopy/mpcopy.sif'))?.Metadata?.sha256).toBe(sha256(content))
    const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mpcopy/mpcopy.sif' }))
    expect(sha256(Buffer.from(await got.Body!.transformToByteArray()))).toBe(sha256(content))
  })
})

describe('destinations as aws s3 cp reads them', () => {
  it('DEST or --to: ending in "/" is a prefix (+ the file name or --name), otherwise the key itself', async () => {
    const f = await file('dest.sif', data(100))
    const cases: Array<[string[], string]> = [
      [[`s3://${BUCKET}/p1/`], 'p1/dest.sif'],
      [[`s3://${BUCKET}/p2/renamed.sif`], 'p2/renamed.sif'],
      [['--to', `s3://${BUCKET}/p3/renamed.sif`], 'p3/renamed.sif'],
      [['--to', `s3://${BUCKET}/p4/`], 'p4/dest.sif'],
      [['--to', `s3://${BUCKET}/p5/`, '--name', 'named.sif'], 'p5/named.sif'],
      [[`s3://${BUCKET}/p6/`, '--name', 'sub/named.sif'], 'p6/sub/named.sif'],
    ]
    for (const [dest, key] of cases) {
      const r = await cli(['upload', f, ...dest, '--json'])
      expect(r.code, `${dest.join(' ')}: ${r.stderr}`).toBe(0)
      expect(json(r), dest.join(' ')).toMatchObject({ key, url: `s3://${BUCKET}/${key}` })
      expect((await head(key))?.Metadata?.sha256, dest.join(' ')).toBe(sha256(await readFile(f)))
    }
    // Nothing went to the old folder-like reading of a whole key.
    expect(await head('p2/renamed.sif/dest.sif')).toBeUndefined()
    expect(await head('p3/renamed.sif/dest.sif')).toBeUndefined()
  })

  it('--endpoint-url is --endpoint', async () => {
    const f = await file('ep.sif', data(100))
    const e = env()
    delete e.AWS_ENDPOINT_URL_S3
    const r = await cli(['upload', f, `s3://${BUCKET}/ep/`, '--endpoint-url', s3.endpoint, '--json'], {
      env: e,
    })
    expect(r.code, r.stderr).toBe(0)
    expect((await head('ep/ep.sif'))?.Metadata?.sha256).toBe(sha256(await readFile(f)))
    const d = await mkdtemp(path.join(dir, 'ep-'))
    const down = await cli(['download', `s3://${BUCKET}/ep/ep.sif`, `${d}/`, '--endpoint-url', s3.endpoint], {
      env: e,
    })
    expect(down.code, down.stderr).toBe(0)
    expect(await readdir(d)).toEqual(['ep.sif'])
  })

  it('ambiguous combinations are usage errors naming both; nothing is stored', async () => {
    const f = await file('amb.sif', data(100))
    const keyAndName = await cli(['upload', f, `s3://${BUCKET}/amb/x.sif`, '--name', 'y.sif'])
    expect(keyAndName.code).toBe(2)
    expect(keyAndName.stderr).toContain(`s3://${BUCKET}/amb/x.sif`)
    expect(keyAndName.stderr).toContain('y.sif')
    const twice = await cli(['upload', f, `s3://${BUCKET}/amb/a/`, '--to', `s3://${BUCKET}/amb/b/`])
    expect(twice.code).toBe(2)
    expect(twice.stderr).toContain(`s3://${BUCKET}/amb/a/`)
    expect(twice.stderr).toContain(`s3://${BUCKET}/amb/b/`)
    const none = await cli(['upload', f])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/no destination/)
    for (const key of ['amb/x.sif', 'amb/x.sif/y.sif', 'amb/a/amb.sif', 'amb/b/amb.sif']) {
      expect(await head(key), key).toBeUndefined()
    }
  })

  it('download s3://B/KEY OUT: OUT ending in "/" or a directory gets the base name, else is the file', async () => {
    const content = data(300)
    await cli(['upload', await file('dl.sif', content), `s3://${BUCKET}/dl/`])
    const d = await mkdtemp(path.join(dir, 'dl-pos-'))
    const intoDir = await cli(['download', `s3://${BUCKET}/dl/dl.sif`, `${d}/`, '--json'])
    expect(intoDir.code, intoDir.stderr).toBe(0)
    expect(json(intoDir)).toMatchObject({ output: path.join(d, 'dl.sif'), verified: true })
    const existing = await cli(['download', `s3://${BUCKET}/dl/dl.sif`, d, '--json'], { cwd: d })
    expect(existing.code, existing.stderr).toBe(0)
    expect(json(existing)).toMatchObject({ output: path.join(d, 'dl.sif') })
    const named = await cli(['download', `s3://${BUCKET}/dl/dl.sif`, 'out.sif'], { cwd: d })
    expect(named.code, named.stderr).toBe(0)
    expect((await readdir(d)).sort()).toEqual(['dl.sif', 'out.sif'])
    expect((await readFile(path.join(d, 'out.sif'))).equals(content)).toBe(true)
    // A "/" that names no directory is not taken for a file name.
    const missing = await cli(['download', `s3://${BUCKET}/dl/dl.sif`, `${d}/nodir/`])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain(path.join(d, 'nodir'))
    const both = await cli(['download', `s3://${BUCKET}/dl/dl.sif`, 'a.sif', '-o', 'b.sif'], { cwd: d })
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/a\.sif.*b\.sif/)
    expect((await readdir(d)).sort()).toEqual(['dl.sif', 'out.sif'])
  })
})

describe('bad input: exit 2, a clear message, no secret', () => {
  it('bad URLs, missing credentials, missing files', async () => {
    const f = await file('ok.sif', data(10))
    const cases: Array<[string[], RegExp, NodeJS.ProcessEnv?]> = [
      [['upload', f, '--to', 'http://bucket/x'], /not an s3:\/\/ URL/],
      [['upload', f, '--to', 's3://'], /not a valid bucket name/],
      [
        ['upload', f, '--to', `s3://AKIAEXAMPLE:${s3.secretAccessKey}@${BUCKET}/x`],
        /must not carry credentials/,
      ],
      [['download', `s3://${BUCKET}/`, '-o', dir], /names no object/],
      [['upload', path.join(dir, 'no-such-file'), '--to', `s3://${BUCKET}/x/`], /does not exist/],
      [['upload', f, '--to', `s3://${BUCKET}/x/`, '--checksum', 'xyz'], /64 hex digits/],
      [
        [
          'upload',
          f,
          '--to',
          `s3://${BUCKET}/x/`,
          '--endpoint',
          `http://key:${s3.secretAccessKey}@127.0.0.1:1`,
        ],
        /must not carry credentials/,
      ],
      [
        ['upload', f, '--to', `s3://${BUCKET}/x/`],
        /no AWS credentials/,
        { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
      ],
    ]
    const runs = cases.flatMap(([args, message, extra]) => {
      // Both output modes for the cases that hold a secret; text mode for the rest.
      const modes = extra || args.join(' ').includes(s3.secretAccessKey) ? [[], ['--json']] : [[]]
      return modes.map((mode) => ({ args: [...args, ...mode], json: mode.length > 0, message, extra }))
    })
    // Three at a time: each run is mostly the CLI's start-up.
    for (let i = 0; i < runs.length; i += 3) {
      await Promise.all(
        runs.slice(i, i + 3).map(async ({ args, json: jsonMode, message, extra }) => {
          const e = extra ? env(extra) : env()
          if (extra) {
            delete e.AWS_ACCESS_KEY_ID
            delete e.AWS_SECRET_ACCESS_KEY
          }
          const r = await cli(args, { env: e })
          expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
          expect(jsonMode ? r.stdout : r.stderr).toMatch(message)
        }),
      )
    }
  })
})
