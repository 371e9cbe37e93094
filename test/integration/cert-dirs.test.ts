/**
 * Trusting a site CA without root (containers-certs.d(5)): a TLS registry whose CA is only in
 * $HOME/.config/containers/certs.d/<host>/ca.crt, or in a directory given with --cert-dir, as
 * skopeo reads them. skopeo is run on the same setup and must agree.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isolatedEnv, runCli, runProcess } from '../helpers/cli.js'
import { type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let tls: TestRegistry
let image: GeneratedImage
let work: string

beforeAll(async () => {
  tls = await startRegistry({ tls: true })
  image = await makeImage({ layerSizes: [20_000, 4_000], seed: 1601 })
  await pushRaw(tls, 'site/app', 'v1', image)
  work = await mkdtemp(path.join(tmpdir(), 'airlock-certs-'))
})

afterAll(async () => {
  await tls?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

/** An isolated HOME whose ~/.config/containers/certs.d/<host>/ca.crt is the registry's CA. */
function homeTrustingRegistry(): NodeJS.ProcessEnv {
  const env = isolatedEnv()
  const dir = path.join(env.HOME as string, '.config/containers/certs.d', tls.host)
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'ca.crt'), readFileSync(tls.caFile as string))
  return env
}

function skopeoIn(env: NodeJS.ProcessEnv, args: string[]) {
  return runProcess('skopeo', args, {
    env: { ...env, REGISTRY_AUTH_FILE: path.join(env.HOME as string, 'auth.json') },
  })
}

describe('registry CAs of non-root users', () => {
  it('without the CA anywhere, inspect fails with TLS_FAILED and a hint naming ~/.config/containers/certs.d', async () => {
    const env = isolatedEnv()
    const r = await runCli(['inspect', `docker://${tls.host}/site/app:v1`], { env })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/TLS certificate of 127\.0\.0\.1:\d+ could not be verified/)
    expect(r.stderr).toContain(`~/.config/containers/certs.d/${tls.host}/ca.crt`)
    expect(r.stderr).toContain('--cert-dir')
    // skopeo agrees that this setup is untrusted.
    const s = await skopeoIn(env, ['inspect', '--raw', `docker://${tls.host}/site/app:v1`])
    expect(s.code).not.toBe(0)
    expect(s.stderr).toMatch(/certificate/)
  })

  it('inspect and copy trust a CA in $HOME/.config/containers/certs.d/<host>/ca.crt, as skopeo does', async () => {
    const env = homeTrustingRegistry()
    const r = await runCli(['inspect', '--raw', `docker://${tls.host}/site/app:v1`], { env })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(image.manifest.bytes.toString('utf8').trim())

    const s = await skopeoIn(env, ['inspect', '--raw', `docker://${tls.host}/site/app:v1`])
    expect(s.stderr).toBe('')
    expect(s.stdout.trim()).toBe(r.stdout.trim())

    const layout = path.join(work, 'home-layout')
    const c = await runCli(['copy', `docker://${tls.host}/site/app:v1`, `oci:${layout}:v1`], {
      env,
    })
    expect(c.code, c.stderr + c.stdout).toBe(0)
    const back = await runCli(['copy', `oci:${layout}:v1`, `docker://${tls.host}/site/copied:v1`], {
      env,
    })
    expect(back.code, back.stderr).toBe(0)
    const check = await skopeoIn(env, ['inspect', '--raw', `docker://${tls.host}/site/copied:v1`])
    expect(check.code, check.stderr).toBe(0)
    expect(check.stdout.trim()).toBe(r.stdout.trim())
  })

  it('--cert-dir DIR (ca.crt directly inside) works for inspect, and copy takes --src-cert-dir/--dest-cert-dir', async () => {
    const env = isolatedEnv()
    const certDir = tls.certDir as string
    const r = await runCli(['inspect', '--cert-dir', certDir, `docker://${tls.host}/site/app:v1`], { env })
    expect(r.code, r.stderr).toBe(0)
    const s = await skopeoIn(env, ['inspect', '--cert-dir', certDir, `docker://${tls.host}/site/app:v1`])
    expect(s.code, s.stderr).toBe(0)

    const layout = path.join(work, 'certdir-layout')
    const c = await runCli(
      ['copy', '--src-cert-dir', certDir, `docker://${tls.host}/site/app:v1`, `oci:${layout}:v1`],
      { env },
    )
    expect(c.code, c.stderr + c.stdout).toBe(0)
    const d = await runCli(
      ['copy', '--dest-cert-dir', certDir, `oci:${layout}:v1`, `docker://${tls.host}/site/dest:v1`],
      { env },
    )
    expect(d.code, d.stderr).toBe(0)
    const copied = await skopeoIn(env, [
      'inspect',
      '--raw',
      '--cert-dir',
      certDir,
      `docker://${tls.host}/site/dest:v1`,
    ])
    expect(copied.code, copied.stderr).toBe(0)
    expect(copied.stdout.trim()).toBe(image.manifest.bytes.toString('utf8').trim())
    // The source flag is not the destination's: a copy into the registry with --src-cert-dir fails.
    const wrong = await runCli(
      ['copy', '--src-cert-dir', certDir, `oci:${layout}:v1`, `docker://${tls.host}/site/wrong:v1`],
      { env },
    )
    expect(wrong.code).not.toBe(0)
    expect(wrong.stderr).toContain('could not be verified')
  })

  it('--cert-dir replaces the per-host search, as skopeo --cert-dir does', async () => {
    const env = homeTrustingRegistry()
    const empty = path.join(work, 'empty-certs')
    mkdirSync(empty, { recursive: true })
    const r = await runCli(['inspect', '--cert-dir', empty, `docker://${tls.host}/site/app:v1`], { env })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain('could not be verified')
    const s = await skopeoIn(env, ['inspect', '--cert-dir', empty, `docker://${tls.host}/site/app:v1`])
    expect(s.code).not.toBe(0)
  })

  it('a client certificate without its key is refused, naming the missing file', async () => {
    const env = isolatedEnv()
    const dir = path.join(work, 'lone-cert')
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, 'ca.crt'), readFileSync(tls.caFile as string))
    writeFileSync(path.join(dir, 'client.cert'), readFileSync(tls.caFile as string))
    const r = await runCli(['inspect', '--cert-dir', dir, `docker://${tls.host}/site/app:v1`], { env })
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain('client.key')
    const s = await skopeoIn(env, ['inspect', '--cert-dir', dir, `docker://${tls.host}/site/app:v1`])
    expect(s.code).not.toBe(0)
    expect(s.stderr).toMatch(/missing key/i)
  })
})
