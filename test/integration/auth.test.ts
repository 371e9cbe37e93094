/**
 * Authentication through the built CLI against real registries (htpasswd Basic auth, and Bearer
 * tokens from a token server): login/logout and the auth files they write, stored credentials used
 * by later commands (and by skopeo), wrong passwords that never show up in any output, and token
 * requests with the right scopes, once per scope set.
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliResult, isolatedEnv, json, runCli } from '../helpers/cli.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'
import { skopeo } from '../helpers/skopeo.js'

const USER = 'testuser'
const PASS = 'testpass'
const WRONG = 'Wr0ng-Passw0rd-xyzzy'
const b64 = (s: string) => Buffer.from(s).toString('base64')

interface ErrorJson {
  error: { code: string; message: string; hint?: string }
}

let basic: TestRegistry
let token: TestRegistry
let img: GeneratedImage
let dir: string

beforeAll(async () => {
  ;[basic, token] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })])
  img = await makeImage({ layerSizes: [60_000, 40_000, 30_000, 20_000], seed: 101 })
  await Promise.all([pushRaw(basic, 'lib/app', 'v1', img), pushRaw(token, 'lib/app', 'v1', img)])
  dir = await mkdtemp(path.join(tmpdir(), 'airlock-auth-it-'))
})

afterAll(async () => {
  await Promise.all([basic?.stop(), token?.stop()])
})

const mode = (file: string) => statSync(file).mode & 0o777
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'))

/** Neither the password nor any Basic encoding of it appears anywhere in the output. */
function expectNoSecret(r: CliResult, password: string) {
  const all = r.stdout + r.stderr
  expect(all).not.toContain(password)
  expect(all).not.toContain(b64(`${USER}:${password}`))
}

const login = (host: string, password: string, args: string[] = [], env = isolatedEnv()) =>
  runCli(['login', '-u', USER, '--password-stdin', ...args, host], { env, input: `${password}\n` })

describe('airlock login / logout', () => {
  it('writes --authfile with mode 0600 and base64(user:pass), keeping what the file held', async () => {
    const file = path.join(dir, 'flag-auth.json')
    writeFileSync(
      file,
      JSON.stringify({
        auths: { 'keep.example.org': { auth: b64('keeper:kept') } },
        credHelpers: { 'gcr.io': 'gcloud' },
      }),
    )
    chmodSync(file, 0o644)
    const r = await login(basic.host, PASS, ['--authfile', file])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Login Succeeded: ${USER} at ${basic.host} (stored in ${file})`)
    expectNoSecret(r, PASS)
    expect(mode(file)).toBe(0o600)
    const doc = readJson(file)
    expect(doc.auths[basic.host]).toEqual({ auth: b64(`${USER}:${PASS}`) })
    expect(doc.auths['keep.example.org']).toEqual({ auth: b64('keeper:kept') })
    expect(doc.credHelpers).toEqual({ 'gcr.io': 'gcloud' })

    // A wrong password: exit 1, AUTH_FAILED, the file untouched, the password nowhere.
    const before = readFileSync(file)
    const bad = await login(basic.host, WRONG, ['--json', '--authfile', file])
    expect(bad.code).toBe(1)
    const err = json<ErrorJson>(bad).error
    expect(err.code).toBe('AUTH_FAILED')
    expect(`${err.message} ${err.hint}`).toContain(basic.host)
    expect(`${err.message} ${err.hint}`).toContain(`"${USER}"`)
    expectNoSecret(bad, WRONG)
    expect(readFileSync(file).equals(before)).toBe(true)
    expect(mode(file)).toBe(0o600)
  })

  it('stored credentials serve inspect without --creds, skopeo reads the file, logout removes only that entry', async () => {
    const file = path.join(dir, 'shared-auth.json')
    writeFileSync(file, JSON.stringify({ auths: { 'keep.example.org': { auth: b64('keeper:kept') } } }))
    expect((await login(basic.host, PASS, ['--authfile', file])).code).toBe(0)

    const ref = `docker://${basic.host}/lib/app:v1`
    const withFile = await runCli(['inspect', '--json', '--authfile', file, ref])
    expect(withFile.code, withFile.stderr).toBe(0)
    expect(json<{ digest: string }>(withFile).digest).toBe(img.manifest.digest)

    const sk = await skopeo(['inspect', '--authfile', file, '--tls-verify=false', ref])
    expect(sk.code, sk.stderr).toBe(0)
    expect(JSON.parse(sk.stdout).Digest).toBe(img.manifest.digest)

    const out = await runCli(['logout', '--authfile', file, basic.host])
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout).toContain(`Removed login credentials for ${basic.host} from ${file}`)
    expect(readJson(file)).toEqual({ auths: { 'keep.example.org': { auth: b64('keeper:kept') } } })
    expect(mode(file)).toBe(0o600)
    const again = await runCli(['logout', '--authfile', file, basic.host])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain(`Not logged in to ${basic.host}`)
  })

  it('writes REGISTRY_AUTH_FILE, then copy uses the stored credentials of both registries', async () => {
    const file = path.join(dir, 'env-auth.json')
    const env = isolatedEnv({ REGISTRY_AUTH_FILE: file })
    const issuedBefore = token.tokenServer!.issued.length
    const t = await login(token.host, PASS, [], env)
    expect(t.code, t.stderr).toBe(0)
    expect(t.stdout).toContain(`stored in ${file}`)
    // The credentials were checked against the token service, as the user who logs in.
    const loginTokens = token.tokenServer!.issued.slice(issuedBefore)
    expect(loginTokens.length).toBeGreaterThan(0)
    expect(loginTokens.every((x) => x.user === USER)).toBe(true)
    expect((await login(basic.host, PASS, [], env)).code).toBe(0)
    expect(mode(file)).toBe(0o600)
    expect(Object.keys(readJson(file).auths).sort()).toEqual([basic.host, token.host].sort())
    expect(existsSync(path.join(env.HOME!, '.config', 'containers', 'auth.json'))).toBe(false)

    const r = await runCli(['copy', '--json', `${token.host}/lib/app:v1`, `${basic.host}/copied/app:v1`], {
      env,
    })
    expect(r.code, r.stderr).toBe(0)
    const copied = await fetchManifestRaw(basic, 'copied/app', 'v1')
    expect(copied.bytes.equals(img.manifest.bytes)).toBe(true)

    // A wrong password for the token registry: refused by the token service, named, not printed.
    const bad = await login(token.host, WRONG, ['--json'], env)
    expect(bad.code).toBe(1)
    const err = json<ErrorJson>(bad).error
    expect(err.code).toBe('AUTH_FAILED')
    expect(err.message).toContain(token.host)
    expect(err.message).toContain(`"${USER}"`)
    expectNoSecret(bad, WRONG)
    expect(readJson(file).auths[token.host]).toEqual({ auth: b64(`${USER}:${PASS}`) })
  })

  it('writes $XDG_RUNTIME_DIR/containers/auth.json when neither --authfile nor REGISTRY_AUTH_FILE is set', async () => {
    const runtime = await mkdtemp(path.join(dir, 'run-'))
    const env = isolatedEnv({ XDG_RUNTIME_DIR: runtime })
    const r = await login(`https://${token.host}/`, PASS, [], env)
    expect(r.code, r.stderr).toBe(0)
    const file = path.join(runtime, 'containers', 'auth.json')
    expect(mode(file)).toBe(0o600)
    expect(readJson(file)).toEqual({ auths: { [token.host]: { auth: b64(`${USER}:${PASS}`) } } })
    expect(existsSync(path.join(env.HOME!, '.config', 'containers', 'auth.json'))).toBe(false)

    const inspect = await runCli(['inspect', '--json', '--no-config', `${token.host}/lib/app:v1`], { env })
    expect(inspect.code, inspect.stderr).toBe(0)
    expect(json<{ digest: string }>(inspect).digest).toBe(img.manifest.digest)
  })
})

describe('--creds with a wrong password', () => {
  for (const which of ['htpasswd', 'token'] as const) {
    it(`${which}: exit 1, names registry and user, never the password (--json, and --debug for Basic)`, async () => {
      const reg = which === 'htpasswd' ? basic : token
      const ref = `${reg.host}/lib/app:v1`
      const asJson = await runCli(['inspect', '--json', '--creds', `${USER}:${WRONG}`, ref])
      expect(asJson.code).toBe(1)
      const err = json<ErrorJson>(asJson).error
      expect(err.code).toBe('AUTH_FAILED')
      expect(err.message).toContain(reg.host)
      expect(`${err.message} ${err.hint}`).toContain(`"${USER}"`)
      expectNoSecret(asJson, WRONG)
      if (which === 'token') return

      const debug = await runCli(['inspect', '--debug', '--creds', `${USER}:${WRONG}`, ref])
      expect(debug.code).toBe(1)
      expect(debug.stderr).toContain(`Error: `)
      expect(debug.stderr).toContain(reg.host)
      expect(debug.stderr).toContain(USER)
      expect(debug.stderr).toMatch(/\n\s+at /) // --debug does print the stack
      expectNoSecret(debug, WRONG)
    })
  }
})

describe('bearer tokens', () => {
  it('are requested with the right scopes and user, once per scope set for a whole copy', async () => {
    const issued = token.tokenServer!.issued
    issued.length = 0
    const r = await runCli([
      'copy',
      '--json',
      '--src-creds',
      `${USER}:${PASS}`,
      '--dest-creds',
      `${USER}:${PASS}`,
      `${token.host}/lib/app:v1`,
      `${token.host}/lib/mirror:v1`,
    ])
    expect(r.code, r.stderr).toBe(0)
    const out = json<{ blobs: { total: number; mounted: number } }>(r)
    expect(out.blobs.total).toBe(5)
    expect(out.blobs.mounted).toBe(5)
    expect((await fetchManifestRaw(token, 'lib/mirror', 'v1')).bytes.equals(img.manifest.bytes)).toBe(true)

    const sets = issued.map((t) => [...t.scope].sort().join(' '))
    // No scope set was asked for twice, although 5 blobs were checked and mounted.
    expect(sets.length).toBe(new Set(sets).size)
    expect(new Set(sets)).toEqual(
      new Set([
        'repository:lib/app:pull',
        'repository:lib/mirror:pull',
        'repository:lib/mirror:pull,push',
        'repository:lib/app:pull repository:lib/mirror:pull,push',
      ]),
    )
    for (const t of issued) {
      expect(t.user).toBe(USER)
      expect(t.service).toBe('test-registry')
      // The token service granted exactly what was asked for.
      expect(t.access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).sort()).toEqual(
        [...t.scope].sort(),
      )
    }
  })
})
