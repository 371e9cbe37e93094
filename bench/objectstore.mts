/**
 * objectstore: SHA-256 and uploads to object storage, against the peer tools on the same machine in
 * the same run (targets from the object-storage issue).
 *
 * - hash: the SHA-256 of a 2 GiB file (in the page cache) by airlock's file hasher (the checksum pass
 *   of the PROMINENCE flow, dist/lib/sha256-file.js) against `openssl dgst
 *   -sha256` (target: ≥ 0.9× its throughput); beside them `sha256sum` and hashing in a stream
 *   Transform (DigestVerifier over a file stream, as copies and downloads hash what flows);
 * - upload: a 1 GiB file to a fresh key of a local Ceph RGW (bluestore, so the data is not held in
 *   RAM) with `airlock upload FILE --to s3://...` against one presigned PUT by `curl -T` carrying the
 *   SHA-256 as `x-amz-meta-sha256` (target: ≥ 1.0× curl's throughput; curl's checksum is computed
 *   beforehand and not timed); beside them the PROMINENCE flow (stand-in API, presigned POST) with
 *   `--checksum` given (one read) and computed first (two reads), against `curl -F` sending the
 *   same presigned POST form (as the PROMINENCE CLI does; RGW takes a POST slower than a PUT).
 * Whole-process wall time, median of the trials, tools interleaved; every result is checked.
 *
 *   npx tsx bench/objectstore.mts [--trials 3] [--hash-mb 2048] [--upload-mb 1024]
 */
import { createHash, randomFillSync } from 'node:crypto'
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { redact } from '../src/ui/redact.js'
import { startProminence } from '../test/helpers/prominence.js'
import { startS3 } from '../test/helpers/s3.js'
import {
  type BenchResult,
  BIN,
  ENV,
  isMain,
  log,
  MB,
  measured,
  median,
  numArg,
  row,
  standalone,
} from './lib.mjs'

const work = mkdtempSync(path.join(tmpdir(), 'airlock-bench-objectstore-'))
process.on('exit', () => rmSync(work, { recursive: true, force: true }))
const DIST = path.resolve(path.dirname(BIN), '..', 'dist')
const BENCH = 'objectstore'

/** A file of pseudo-random bytes (incompressible), written in 16 MiB blocks, and its SHA-256 (hex). */
function randomFile(name: string, mb: number): { file: string; sha256: string } {
  const file = path.join(work, name)
  const fd = openSync(file, 'w')
  const block = Buffer.allocUnsafe(16 * MB)
  const hash = createHash('sha256')
  for (let left = mb * MB; left > 0; left -= block.length) {
    const chunk = randomFillSync(block).subarray(0, Math.min(left, block.length))
    writeSync(fd, chunk)
    hash.update(chunk)
  }
  closeSync(fd)
  return { file, sha256: hash.digest('hex') }
}

/** Runs an ES module snippet in a fresh node (whole process timed, like the peers). */
function nodeModule(code: string, env: NodeJS.ProcessEnv) {
  return measured(process.execPath, ['--input-type=module', '-e', code], env)
}

/** `measured`, with any presigned URL's signature in a failure message scrubbed. */
async function quietly<T>(what: Promise<T>): Promise<T> {
  try {
    return await what
  } catch (err) {
    throw new Error(redact((err as Error).message))
  }
}

const rotate = <T,>(xs: T[], n: number): T[] => xs.map((_, i) => xs[(i + n) % xs.length]!)
const mibps = (bytes: number, seconds: number[]) => bytes / MB / median(seconds)

// ---------------------------------------------------------------------------------------------------

type HashTool = 'airlock' | 'airlock-stream' | 'openssl' | 'sha256sum'

/** The command line of one hash of `file` with `tool` (airlock's from the built dist). */
function hashCommand(tool: HashTool, file: string, expected: string): [string, string[]] {
  const f = JSON.stringify(file)
  const node = (lines: string[]): [string, string[]] => [
    process.execPath,
    ['--input-type=module', '-e', lines.join('\n')],
  ]
  switch (tool) {
    case 'airlock':
      return node([
        `const m = await import(${JSON.stringify(`${DIST}/lib/sha256-file.js`)})`,
        `console.log((await m.sha256OfFile(${f})).sha256)`,
      ])
    case 'airlock-stream':
      return node([
        `import { createReadStream, statSync } from 'node:fs'`,
        `import { Writable } from 'node:stream'`,
        `import { pipeline } from 'node:stream/promises'`,
        `const { DigestVerifier } = await import(${JSON.stringify(`${DIST}/lib/digest.js`)})`,
        `const check = new DigestVerifier('sha256:${expected}', statSync(${f}).size, ${f})`,
        `await pipeline(createReadStream(${f}, { highWaterMark: 1 << 20 }), check, new Writable({ write: (_c, _e, cb) => cb() }))`,
        `console.log('${expected}')`,
      ])
    case 'openssl':
      return ['openssl', ['dgst', '-sha256', '-r', file]]
    case 'sha256sum':
      return ['sha256sum', [file]]
  }
}

async function hashOnce(tool: HashTool, file: string, expected: string) {
  const [cmd, args] = hashCommand(tool, file, expected)
  const r = await measured(cmd, args)
  const got = r.stdout.trim().split(/\s+/)[0]
  if (got !== expected) throw new Error(`${tool} printed ${got}, expected ${expected}`)
  return r.seconds
}

async function hashBench(trials: number, mb: number) {
  log(`objectstore: writing a ${mb} MiB random file`)
  const { file, sha256: expected } = randomFile('hash.bin', mb)
  const runs: Record<HashTool, number[]> = { airlock: [], 'airlock-stream': [], openssl: [], sha256sum: [] }
  for (let t = 0; t < trials; t++) {
    for (const tool of rotate(Object.keys(runs) as HashTool[], t)) {
      runs[tool].push(await hashOnce(tool, file, expected))
      log(`objectstore hash ${t + 1}/${trials}: ${tool.padEnd(14)} ${runs[tool].at(-1)!.toFixed(2)} s`)
    }
  }
  rmSync(file)
  const bytes = mb * MB
  const [a, s, o, sum] = [runs.airlock, runs['airlock-stream'], runs.openssl, runs.sha256sum].map((x) =>
    mibps(bytes, x),
  ) as [number, number, number, number]
  const metric = `SHA-256 of ${mb} MiB: airlock vs openssl dgst (throughput)`
  const rows = [
    row(BENCH, metric, 'MiB/s', a, o, 'ratio ≥ 0.9', a / o >= 0.9),
    row(BENCH, 'SHA-256 in a stream Transform (DigestVerifier) vs openssl dgst', 'MiB/s', s, o),
    row(BENCH, 'SHA-256: airlock vs sha256sum (beside)', 'MiB/s', a, sum),
  ]
  return { rows, details: { mb, runs } }
}

// ---------------------------------------------------------------------------------------------------

async function checkObject(client: S3Client, bucket: string, prefix: string, size: number, sha256: string) {
  const list = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
  const keys = (list.Contents ?? []).map((o) => o.Key!)
  if (keys.length !== 1)
    throw new Error(`expected one object under ${bucket}/${prefix}, found ${keys.length}`)
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[0] }))
  const meta = head.Metadata?.sha256 ?? head.Metadata?.prominence_sha256
  if (head.ContentLength !== size || meta !== sha256) {
    throw new Error(
      `${bucket}/${keys[0]}: ${head.ContentLength} bytes, sha256 metadata ${meta}; wanted ${size}, ${sha256}`,
    )
  }
  await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keys[0] }))
}

async function uploadBench(trials: number, mb: number) {
  const hasUpload = existsSync(path.join(DIST, 'commands', 'upload.js'))
  if (!hasUpload) log('objectstore: dist/commands/upload.js is missing: `airlock upload` rows are skipped')
  log(`objectstore: starting Ceph RGW (bluestore) and writing a ${mb} MiB random file`)
  const s3 = await startS3({ objectStore: 'bluestore' })
  try {
    const client = s3.client()
    const bucket = 'bench'
    await s3.createBucket(bucket)
    const prominence = await startProminence({ s3, bucket: 'bench-prominence' })
    const { file, sha256 } = randomFile('upload.bin', mb)
    const bytes = mb * MB
    const inner: number[] = []

    const airlock = async (key: string) => {
      const args = [BIN, 'upload', file, '--to', `s3://${bucket}/${key}/`, '--json']
      const r = await quietly(measured(process.execPath, args, { ...ENV, ...s3.env }))
      const out = JSON.parse(r.stdout) as { skipped?: boolean; seconds?: number }
      if (out.skipped) throw new Error('airlock upload skipped a fresh key')
      if (typeof out.seconds === 'number') inner.push(out.seconds)
      await checkObject(client, bucket, key, bytes, sha256)
      return r.seconds
    }
    const curl = async (key: string) => {
      const put = new PutObjectCommand({ Bucket: bucket, Key: `${key}/upload.bin`, Metadata: { sha256 } })
      const url = await getSignedUrl(client, put, {
        expiresIn: 3600,
        unhoistableHeaders: new Set(['x-amz-meta-sha256']),
      })
      const headers = ['-H', 'Expect:', '-H', `x-amz-meta-sha256: ${sha256}`]
      const r = await quietly(
        measured('curl', ['-sS', '--fail', '-o', '/dev/null', ...headers, '-T', file, url]),
      )
      await checkObject(client, bucket, key, bytes, sha256)
      return r.seconds
    }
    const viaProminence = (checksum: boolean) => async (key: string) => {
      const opts = `{ name: '${key}.bin'${checksum ? `, checksum: '${sha256}'` : ''} }`
      const code = [
        `const m = await import(${JSON.stringify(`${DIST}/lib/objectstore/prominence.js`)})`,
        `console.log(JSON.stringify(await m.uploadToProminence(${JSON.stringify(file)}, ${opts})))`,
      ]
      const r = await quietly(nodeModule(code.join('\n'), { ...ENV, ...prominence.env }))
      if (JSON.parse(r.stdout).sha256 !== sha256) throw new Error('PROMINENCE flow: wrong sha256')
      await checkObject(client, prominence.bucket, `uploads/alice/${key}`, bytes, sha256)
      return r.seconds
    }
    // The PROMINENCE CLI's way: the presigned POST's fields and the file as a multipart form.
    const curlPost = async (key: string) => {
      const api = await fetch(`${prominence.url}/data/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${prominence.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ filename: `${key}.bin`, checksum: sha256 }),
      })
      const grant = (await api.json()) as { url: string; fields: Record<string, string> }
      const form = Object.entries(grant.fields).flatMap(([k, v]) => ['--form-string', `${k}=${v}`])
      const args = [
        '-sS',
        '--fail',
        '-o',
        '/dev/null',
        '-H',
        'Expect:',
        ...form,
        '-F',
        `file=@${file}`,
        grant.url,
      ]
      const r = await quietly(measured('curl', args))
      await checkObject(client, prominence.bucket, `uploads/alice/${key}`, bytes, sha256)
      return r.seconds
    }
    const tools: Record<string, (key: string) => Promise<number>> = {
      ...(hasUpload ? { airlock } : {}),
      curl,
      'curl-post': curlPost,
      'prominence-1read': viaProminence(true),
      'prominence-2reads': viaProminence(false),
    }
    const runs = Object.fromEntries(Object.keys(tools).map((t) => [t, [] as number[]]))
    for (let t = 0; t < trials; t++) {
      for (const tool of rotate(Object.keys(tools), t)) {
        runs[tool]!.push(await tools[tool]!(`${tool}-${t}`))
        log(`objectstore upload ${t + 1}/${trials}: ${tool.padEnd(17)} ${runs[tool]!.at(-1)!.toFixed(2)} s`)
      }
    }
    await prominence.stop()
    rmSync(file)
    const c = mibps(bytes, runs.curl!)
    const vsCurl = (metric: string, seconds: number[]) =>
      row(BENCH, metric, 'MiB/s', mibps(bytes, seconds), c)
    const rows = []
    if (hasUpload) {
      const a = mibps(bytes, runs.airlock!)
      const metric = `upload ${mb} MiB: airlock upload vs curl -T presigned PUT (throughput)`
      rows.push(row(BENCH, metric, 'MiB/s', a, c, 'ratio ≥ 1.0', a / c >= 1))
      if (inner.length) rows.push(vsCurl('upload: airlock’s own seconds (--json) vs curl -T', inner))
    }
    const p = mibps(bytes, runs['curl-post']!)
    const vsPost = (metric: string, seconds: number[]) =>
      row(BENCH, metric, 'MiB/s', mibps(bytes, seconds), p)
    rows.push(
      vsPost(
        'upload: PROMINENCE flow, --checksum given (1 read) vs curl -F same POST',
        runs['prominence-1read']!,
      ),
      vsPost(
        'upload: PROMINENCE flow, checksum computed (2 reads) vs curl -F same POST',
        runs['prominence-2reads']!,
      ),
      vsCurl('upload: curl -F presigned POST (beside) vs curl -T presigned PUT', runs['curl-post']!),
    )
    return { rows, details: { mb, runs, airlockInnerSeconds: inner, airlockUploadBuilt: hasUpload } }
  } finally {
    await s3.stop()
  }
}

export async function objectstoreBench(
  trials = numArg('trials', 3),
  hashMb = numArg('hash-mb', 2048),
  uploadMb = numArg('upload-mb', 1024),
): Promise<BenchResult> {
  const hash = await hashBench(trials, hashMb)
  const upload = await uploadBench(trials, uploadMb)
  return {
    name: BENCH,
    rows: [...hash.rows, ...upload.rows],
    details: { trials, hash: hash.details, upload: upload.details },
  }
}

if (isMain(import.meta.url)) await standalone(BENCH, () => objectstoreBench())
