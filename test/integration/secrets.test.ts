/**
 * No secret reaches stdout or stderr, by any switch (docs/security.md "Secrets in output"): the
 * built CLI runs with DEBUG=* (oclif's debug logging prints argv), NODE_DEBUG=http,net (node prints
 * request options with their headers), --debug (stack traces, causes) and --json (error documents),
 * and with usage errors that echo argv, while real copies against a registry with htpasswd auth and
 * one with token auth still authenticate with the password given.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, type CliResult, isolatedEnv, json, runCli, runProcess } from '../helpers/cli.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

const USER = 'testuser'
const PASS = 'Sekr3t-Zq7-airlock-pw'
const WRONG = 'Wr0ng-Qv4-airlock-pw'
const b64 = (s: string) => Buffer.from(s).toString('base64')
const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+/

let basic: TestRegistry
let token: TestRegistry
let img: GeneratedImage
let dir: string

beforeAll(async () => {
  ;[basic, token] = await Promise.all([
    startRegistry({ auth: 'htpasswd', password: PASS }),
    startRegistry({ auth: 'token', password: PASS }),
  ])
  img = await makeImage({ layerSizes: [30_000, 20_000], seed: 707 })
  await pushRaw(basic, 'lib/app', 'v1', img)
  dir = await mkdtemp(path.join(tmpdir(), 'airlock-secrets-it-'))
})

afterAll(async () => {
  await Promise.all([basic?.stop(), token?.stop()])
  await Promise.all([dir, ...homes].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })))
})

/** None of `secrets`, nor base64(user:secret) as in Basic headers, anywhere in what was printed. */
function expectNoSecret(r: CliResult, ...secrets: string[]) {
  const all = r.stdout + r.stderr
  for (const s of secrets) {
    expect(all, `"${s}" printed`).not.toContain(s)
    expect(all, `base64 of ${USER}:${s} printed`).not.toContain(b64(`${USER}:${s}`))
  }
  expect(all, 'a JWT printed').not.toMatch(JWT)
}

const homes: string[] = []
/** The built CLI in a fresh HOME (removed after the tests) with `env` added. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const e = isolatedEnv(env)
  homes.push(e.HOME!)
  return runCli(args, { env: e })
}

describe('secrets in output', () => {
  it('DEBUG=* with --debug: a real copy between htpasswd and token registries works, argv dumps show user:***', async () => {
    const r = await cli(
      [
        'copy',
        '--src-creds',
        `${USER}:${PASS}`,
        `--dest-creds=${USER}:${PASS}`,
        '--tls-verify=false',
        '--debug',
        `docker://${basic.host}/lib/app:v1`,
        `docker://${token.host}/lib/copied:v1`,
      ],
      { DEBUG: '*' },
    )
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    // oclif's debug logging did print argv, with the password masked and the user kept.
    expect(r.stderr).toMatch(/oclif:config runCommand copy/)
    expect(r.stderr).toContain(`'${USER}:***'`)
    expect(r.stderr).toContain(`'--dest-creds=${USER}:***'`)
    expectNoSecret(r, PASS)
    // The registries got the real password: the token server issued a push token to the user, and
    // the image is there.
    expect(
      token.tokenServer!.issued.some((t) => t.user === USER && t.scope.some((s) => s.includes('push'))),
    ).toBe(true)
    expect((await fetchManifestRaw(token, 'lib/copied', 'v1')).digest).toBe(img.manifest.digest)
  })

  it('NODE_DEBUG=http,net: the Authorization headers node prints are masked, Basic and Bearer', async () => {
    const r = await cli(
      [
        'copy',
        '--src-creds',
        `${USER}:${PASS}`,
        '--dest-creds',
        `${USER}:${PASS}`,
        '--tls-verify=false',
        `docker://${basic.host}/lib/app:v1`,
        `docker://${token.host}/lib/node-debug:v1`,
      ],
      { NODE_DEBUG: 'http,net' },
    )
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    expect(r.stderr).toContain("authorization: 'Basic ***'")
    expect(r.stderr).toContain("authorization: 'Bearer ***'")
    expectNoSecret(r, PASS)
    expect((await fetchManifestRaw(token, 'lib/node-debug', 'v1')).digest).toBe(img.manifest.digest)
  })

  it('login -p with DEBUG=* and NODE_DEBUG=http: logged in, the password nowhere', async () => {
    const authfile = path.join(dir, 'auth.json')
    const r = await cli(
      ['login', '-u', USER, '-p', PASS, '--authfile', authfile, '--tls-verify=false', basic.host],
      {
        DEBUG: '*',
        NODE_DEBUG: 'http',
      },
    )
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    expect(r.stdout).toContain(`Login Succeeded: ${USER}`)
    expect(r.stderr).toContain(`'-p', '***'`)
    expectNoSecret(r, PASS)
  })

  it('a wrong password: --json error documents, --debug stack traces and DEBUG=* show none of it', async () => {
    const args = [
      'copy',
      '--src-creds',
      `${USER}:${WRONG}`,
      '--tls-verify=false',
      `docker://${basic.host}/lib/app:v1`,
      `docker://${basic.host}/lib/wrong:v1`,
    ]
    const asJson = await cli([...args, '--json'], { DEBUG: '*' })
    expect(asJson.code).toBe(1)
    expect(json<{ error: { code: string } }>(asJson).error.code).toBe('AUTH_FAILED')
    expectNoSecret(asJson, WRONG, PASS)

    const debug = await cli([...args, '--debug'], { DEBUG: '*', NODE_DEBUG: 'http' })
    expect(debug.code).toBe(1)
    expect(debug.stderr).toMatch(/Error: .*/)
    expect(debug.stderr).toMatch(/^HTTP \d+: /m)
    expect(debug.stderr).toContain(`'--src-creds', '${USER}:***'`)
    expect(debug.stderr).toMatch(/^\s+at .*copy-image/m)
    expectNoSecret(debug, WRONG, PASS)
  })

  it('usage errors that echo argv: unknown flags, unexpected arguments, --creds without a colon', async () => {
    const cases: Array<{ args: string[]; code: number }> = [
      { args: ['copy', '--dest-creds', `${USER}:${PASS}`, '--bogus', 'oci:x:y', 'docker://h/a:b'], code: 2 },
      {
        args: ['copy', '--json', '--bogus', `--dest-creds=${USER}:${PASS}`, 'oci:x:y', 'docker://h/a:b'],
        code: 2,
      },
      { args: ['copy', `--src-creds=${USER}:${PASS}`, 'oci:x:y', 'docker://h/a:b', 'extra'], code: 2 },
      { args: ['tags', '--debug', '--creds', PASS, `${basic.host}/lib/app`], code: 2 },
      { args: ['tags', '--json', `--creds=${PASS}`, `${basic.host}/lib/app`], code: 2 },
      { args: ['login', '-u', USER, `-p${PASS}`, basic.host, 'extra'], code: 2 },
    ]
    const results = await Promise.all(cases.map((c) => cli(c.args, { DEBUG: '*' })))
    results.forEach((r, i) => {
      expect(r.code, `${cases[i].args.join(' ')}\n${r.stderr.slice(-1000)}`).toBe(cases[i].code)
      expectNoSecret(r, PASS)
    })
  })

  it('AWS secrets from the environment and passwords in URLs: not in NODE_DEBUG headers nor errors', async () => {
    const file = path.join(dir, 'small.bin')
    await writeFile(file, Buffer.alloc(1024, 7))
    const secretKey = 'wJalrXUtnFEMI-K7MDENG-airlock-sk'
    const session = 'IQoJb3JpZ2luX2VjEAirlockSessionToken'
    const urlPass = 'Url-P4ss-airlock'
    const aws = {
      AWS_ACCESS_KEY_ID: 'AKIDAIRLOCKEXAMPLE',
      AWS_SECRET_ACCESS_KEY: secretKey,
      AWS_SESSION_TOKEN: session,
      AWS_REGION: 'us-east-1',
    }
    const upload = (endpoint: string, env: NodeJS.ProcessEnv) =>
      cli(['upload', file, '--to', 's3://bucket/prefix', '--endpoint', endpoint, '--debug'], {
        ...aws,
        ...env,
      })
    // The registry is no S3 store: the SDK sends a signed request (printed by node) and fails.
    const [signed, withUrlPass] = await Promise.all([
      upload(basic.url, { NODE_DEBUG: 'http' }),
      upload(`http://akid:${urlPass}@${basic.host}`, { DEBUG: '*' }),
    ])
    expect(signed.code).toBe(1)
    // Node 20 prints the request's headers under NODE_DEBUG=http, Node 24 does not: where they are
    // printed, they are masked (test/unit/redact.test.ts covers the forms).
    if (/x-amz-security-token/i.test(signed.stderr)) {
      expect(signed.stderr).toContain("'x-amz-security-token': '***'")
      expect(signed.stderr).toContain("authorization: 'AWS4-HMAC-SHA256 ***'")
    }
    expect(signed.stderr).toMatch(/HTTP \d+: /)
    expect(withUrlPass.code).toBe(2)
    expect(withUrlPass.stderr).toContain('--endpoint must not carry credentials')
    for (const r of [signed, withUrlPass]) expectNoSecret(r, secretKey, session, urlPass)
  })

  it('uncaught exceptions and byte writes are redacted too (guardOutput of the built module)', async () => {
    const mod = pathToFileURL(path.resolve(path.dirname(BIN), '../dist/ui/redact.js')).href
    const script = `
      const { guardOutput } = await import(${JSON.stringify(mod)})
      guardOutput(['copy', '--dest-creds', '${USER}:${PASS}'], {})
      process.stdout.write(Buffer.from('bytes ${USER}:${PASS}\\n'))
      setTimeout(() => { throw new Error('crashed with ${USER}:${PASS}') }, 1)
    `
    const r = await runProcess(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH },
    })
    expect(r.code).toBe(1)
    expect(r.stdout).toBe(`bytes ${USER}:***\n`)
    expect(r.stderr).toContain(`crashed with ${USER}:***`)
    expectNoSecret(r, PASS)
  })
})
