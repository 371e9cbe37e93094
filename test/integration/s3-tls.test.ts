/**
 * S3 over TLS with a site CA, as the AWS CLI trusts one: `--ca-bundle FILE`, `AWS_CA_BUNDLE`, and
 * `ca_bundle` in the profile of ~/.aws/config
 * (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-options.html#cli-configure-options-ca_bundle).
 * Ceph RGW serves plain HTTP here, so a TLS-terminating proxy (node:tls) with a self-signed
 * certificate made by openssl sits in front of it.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createServer, type Server } from 'node:tls'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isolatedEnv, runCli } from '../helpers/cli.js'
import { startS3, type TestS3 } from '../helpers/s3.js'

const BUCKET = 'tls-bucket'
let s3: TestS3
let proxy: Server
let work: string
let caFile: string
let httpsEndpoint: string
let file: string

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'airlock-s3tls-'))
  caFile = path.join(work, 'ca.pem')
  const keyFile = path.join(work, 'key.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ],
    { stdio: 'ignore' },
  )
  s3 = await startS3()
  await s3.createBucket(BUCKET)
  const upstream = new URL(s3.endpoint)
  proxy = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (client) => {
    const up = connect(Number(upstream.port), upstream.hostname)
    client.on('error', () => up.destroy())
    up.on('error', () => client.destroy())
    client.pipe(up).pipe(client)
  })
  proxy.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const addr = proxy.address() as { port: number }
  httpsEndpoint = `https://127.0.0.1:${addr.port}`
  file = path.join(work, 'app.sif')
  writeFileSync(file, Buffer.alloc(70_000, 7))
}, 120_000)

afterAll(async () => {
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()))
  await s3?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e = isolatedEnv({ ...s3.env, AWS_ENDPOINT_URL_S3: httpsEndpoint, AWS_EC2_METADATA_DISABLED: 'true' })
  // This machine may name a CA bundle for everything; each test says which one it uses.
  delete e.AWS_CA_BUNDLE
  delete e.AWS_CONFIG_FILE
  delete e.AWS_PROFILE
  return { ...e, ...extra }
}

async function stored(key: string): Promise<boolean> {
  try {
    await s3.client().send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
    return true
  } catch {
    return false
  }
}

describe('S3 over TLS with a site CA', () => {
  it('without the CA, upload fails with TLS_FAILED and a hint naming --ca-bundle, AWS_CA_BUNDLE and ca_bundle', async () => {
    const r = await runCli(['upload', file, `s3://${BUCKET}/none/app.sif`], { env: env() })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/TLS certificate of 127\.0\.0\.1:\d+ could not be verified/)
    expect(r.stderr).toContain('--ca-bundle')
    expect(r.stderr).toContain('AWS_CA_BUNDLE')
    expect(r.stderr).toContain('ca_bundle')
    expect(await stored('none/app.sif')).toBe(false)
  })

  it('--ca-bundle FILE: upload works over HTTPS', async () => {
    const r = await runCli(['upload', '--ca-bundle', caFile, file, `s3://${BUCKET}/flag/app.sif`], {
      env: env(),
    })
    expect(r.code, r.stderr).toBe(0)
    expect(await stored('flag/app.sif')).toBe(true)
  })

  it('AWS_CA_BUNDLE: upload and download work over HTTPS', async () => {
    const e = env({ AWS_CA_BUNDLE: caFile })
    const r = await runCli(['upload', file, `s3://${BUCKET}/env/app.sif`], { env: e })
    expect(r.code, r.stderr).toBe(0)
    expect(await stored('env/app.sif')).toBe(true)
    const out = path.join(work, 'back.sif')
    const d = await runCli(['download', `s3://${BUCKET}/env/app.sif`, out], { env: e })
    expect(d.code, d.stderr).toBe(0)
    expect(readFileSync(out).equals(readFileSync(file))).toBe(true)
  })

  it('ca_bundle of the profile in ~/.aws/config: upload works over HTTPS', async () => {
    // The default profile (AWS_PROFILE unset): a named one would make the SDK skip the AWS_* keys.
    const e = env()
    mkdirSync(path.join(e.HOME as string, '.aws'), { recursive: true })
    writeFileSync(
      path.join(e.HOME as string, '.aws/config'),
      `[profile other]\nca_bundle = /nonexistent.pem\n\n[default]\nregion = ${s3.region}\nca_bundle = ${caFile}\n`,
    )
    const r = await runCli(['upload', file, `s3://${BUCKET}/profile/app.sif`], { env: e })
    expect(r.code, r.stderr).toBe(0)
    expect(await stored('profile/app.sif')).toBe(true)
  })

  it('an unreadable CA bundle is bad input naming the file and where it was given', async () => {
    const missing = path.join(work, 'missing.pem')
    const r = await runCli(['upload', file, `s3://${BUCKET}/bad/app.sif`], {
      env: env({ AWS_CA_BUNDLE: missing }),
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(missing)
    expect(r.stderr).toContain('AWS_CA_BUNDLE')
  })
})
