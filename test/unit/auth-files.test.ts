/**
 * Credential lookup as containers-auth.json(5) describes it, against real files in a temp HOME, and
 * docker credential helpers run as real executables (a shell script on PATH).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import {
  authFileCandidates,
  defaultWriteAuthFile,
  findCredentials,
  lookupKeys,
  storeCredentials,
} from '../../src/lib/auth/auth-files.js'
import { AirlockError } from '../../src/lib/errors.js'

const REG = 'reg.example.org:5000'
const root = mkdtempSync(path.join(tmpdir(), 'airlock-authfiles-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const b64 = (s: string) => Buffer.from(s).toString('base64')
const entry = (user: string, pass: string) => ({ auth: b64(`${user}:${pass}`) })

let n = 0
let home: string
let bin: string
let helperLog: string
let env: NodeJS.ProcessEnv

function writeJson(file: string, doc: unknown): string {
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, JSON.stringify(doc))
  return file
}

/**
 * docker-credential-fake: checks it was called with `get` and reads the server URL from stdin, as
 * the docker-credential-helpers protocol says; logs what it got; answers from a fixed table.
 */
const HELPER = `#!/bin/sh
if [ "$1" != "get" ]; then echo "fake helper: expected get, got '$1'" >&2; exit 3; fi
IFS= read -r server || true
printf '%s %s\\n' "$1" "$server" >> "$FAKE_HELPER_LOG"
case "$server" in
  "reg.example.org:5000") printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}\\n' "$server" ;;
  "https://index.docker.io/v1/") printf '{"ServerURL":"%s","Username":"hub-user","Secret":"hub-secret"}\\n' "$server" ;;
  "broken.example") echo "error talking to the keychain: helper-internal" >&2; exit 2 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`

beforeEach(() => {
  const dir = path.join(root, String(++n))
  home = path.join(dir, 'home')
  bin = path.join(dir, 'bin')
  mkdirSync(home, { recursive: true })
  mkdirSync(bin, { recursive: true })
  const helper = path.join(bin, 'docker-credential-fake')
  writeFileSync(helper, HELPER)
  chmodSync(helper, 0o755)
  helperLog = path.join(dir, 'helper.log')
  writeFileSync(helperLog, '')
  env = { HOME: home, PATH: `${bin}:${process.env.PATH}`, FAKE_HELPER_LOG: helperLog }
})

const helperCalls = () => readFileSync(helperLog, 'utf8').split('\n').filter(Boolean)

describe('lookupKeys', () => {
  it('goes from the full repository path up to the bare host', () => {
    expect(lookupKeys(REG, 'team/sub/app')).toEqual([
      `${REG}/team/sub/app`,
      `${REG}/team/sub`,
      `${REG}/team`,
      REG,
    ])
    expect(lookupKeys(REG)).toEqual([REG])
  })

  it('adds the Docker Hub spellings for docker.io', () => {
    const keys = lookupKeys('docker.io', 'library/alpine')
    expect(keys.slice(0, 3)).toEqual(['docker.io/library/alpine', 'docker.io/library', 'docker.io'])
    expect(keys).toContain('https://index.docker.io/v1/')
    expect(keys.indexOf('https://index.docker.io/v1/')).toBeGreaterThan(keys.indexOf('docker.io/library'))
  })
})

describe('auth file locations', () => {
  it('reads --authfile, else REGISTRY_AUTH_FILE, else XDG_RUNTIME_DIR, ~/.config, ~/.docker', () => {
    expect(authFileCandidates({ HOME: '/h', REGISTRY_AUTH_FILE: '/env.json' }, '/flag.json')).toEqual([
      '/flag.json',
    ])
    expect(
      authFileCandidates({ HOME: '/h', REGISTRY_AUTH_FILE: '/env.json', XDG_RUNTIME_DIR: '/run' }),
    ).toEqual(['/env.json'])
    const all = authFileCandidates({ HOME: '/h', XDG_RUNTIME_DIR: '/run/user/1' })
    expect(all.slice(0, 3)).toEqual([
      '/run/user/1/containers/auth.json',
      '/h/.config/containers/auth.json',
      '/h/.docker/config.json',
    ])
    expect(defaultWriteAuthFile({ HOME: '/h', XDG_RUNTIME_DIR: '/run/user/1' })).toBe(
      '/run/user/1/containers/auth.json',
    )
    expect(defaultWriteAuthFile({ HOME: '/h' })).toBe('/h/.config/containers/auth.json')
    expect(defaultWriteAuthFile({ HOME: '/h', REGISTRY_AUTH_FILE: '/e.json' }, '/f.json')).toBe('/f.json')
  })
})

describe('findCredentials', () => {
  it('finds nothing (anonymous) when no file exists', async () => {
    expect(await findCredentials(REG, 'team/app', { env })).toBeUndefined()
  })

  it('follows the precedence: --authfile, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, ~/.config, ~/.docker', async () => {
    const runtime = path.join(home, 'run')
    const flagFile = writeJson(path.join(home, 'flag.json'), { auths: { [REG]: entry('from-flag', 'p1') } })
    const envFile = writeJson(path.join(home, 'env.json'), { auths: { [REG]: entry('from-env', 'p2') } })
    writeJson(path.join(runtime, 'containers', 'auth.json'), {
      auths: { [REG]: entry('from-runtime', 'p3') },
    })
    const configFile = writeJson(path.join(home, '.config', 'containers', 'auth.json'), {
      auths: { [REG]: entry('from-config', 'p4') },
    })
    writeJson(path.join(home, '.docker', 'config.json'), { auths: { [REG]: entry('from-docker', 'p5') } })

    const full = { ...env, REGISTRY_AUTH_FILE: envFile, XDG_RUNTIME_DIR: runtime }
    expect(await findCredentials(REG, 'a/b', { env: full, authfile: flagFile })).toEqual({
      username: 'from-flag',
      password: 'p1',
    })
    expect(await findCredentials(REG, 'a/b', { env: full })).toEqual({ username: 'from-env', password: 'p2' })
    expect(await findCredentials(REG, 'a/b', { env: { ...env, XDG_RUNTIME_DIR: runtime } })).toEqual({
      username: 'from-runtime',
      password: 'p3',
    })
    expect(await findCredentials(REG, 'a/b', { env })).toEqual({ username: 'from-config', password: 'p4' })
    rmSync(configFile)
    expect(await findCredentials(REG, 'a/b', { env })).toEqual({ username: 'from-docker', password: 'p5' })
  })

  it('falls through to the next file when the first has no entry for the registry', async () => {
    writeJson(path.join(home, '.config', 'containers', 'auth.json'), {
      auths: { 'other.example': entry('o', 'o') },
    })
    writeJson(path.join(home, '.docker', 'config.json'), { auths: { [REG]: entry('docker-user', 'dp') } })
    expect(await findCredentials(REG, 'x/y', { env })).toEqual({ username: 'docker-user', password: 'dp' })
  })

  it('uses the most specific key: host/ns/repo over host/ns over host', async () => {
    writeJson(path.join(home, '.config', 'containers', 'auth.json'), {
      auths: {
        [REG]: entry('host-user', 'h'),
        [`${REG}/team/app`]: entry('repo-user', 'r'),
        [`${REG}/team`]: entry('ns-user', 'n'),
      },
    })
    expect((await findCredentials(REG, 'team/app', { env }))?.username).toBe('repo-user')
    expect((await findCredentials(REG, 'team/other', { env }))?.username).toBe('ns-user')
    expect((await findCredentials(REG, 'teamx/app', { env }))?.username).toBe('host-user')
    expect((await findCredentials(REG, undefined, { env }))?.username).toBe('host-user')
    // A password may contain colons: only the first one splits.
    writeJson(path.join(home, '.config', 'containers', 'auth.json'), {
      auths: { [REG]: entry('u', 'a:b:c') },
    })
    expect(await findCredentials(REG, 'team/app', { env })).toEqual({ username: 'u', password: 'a:b:c' })
  })

  it('finds docker.io credentials stored under https://index.docker.io/v1/', async () => {
    writeJson(path.join(home, '.docker', 'config.json'), {
      auths: { 'https://index.docker.io/v1/': entry('hubber', 'hubpass') },
    })
    expect(await findCredentials('docker.io', 'library/alpine', { env })).toEqual({
      username: 'hubber',
      password: 'hubpass',
    })
    expect(await findCredentials('ghcr.io', 'library/alpine', { env })).toBeUndefined()
  })

  it('matches keys written as URLs, and username/password entries', async () => {
    writeJson(path.join(home, '.docker', 'config.json'), {
      auths: {
        [`https://${REG}/v2/`]: entry('url-user', 'up'),
        'plain.example': { username: 'pu', password: 'pp' },
      },
    })
    expect(await findCredentials(REG, 'a', { env })).toEqual({ username: 'url-user', password: 'up' })
    expect(await findCredentials('plain.example', 'a', { env })).toEqual({ username: 'pu', password: 'pp' })
  })

  it('reads the legacy ~/.dockercfg', async () => {
    writeJson(path.join(home, '.dockercfg'), { [REG]: entry('legacy', 'lp') })
    expect(await findCredentials(REG, 'a', { env })).toEqual({ username: 'legacy', password: 'lp' })
  })

  it('refuses an auth file that is not JSON, naming the file', async () => {
    const file = path.join(home, 'broken.json')
    writeFileSync(file, '{"auths": ')
    const err = await findCredentials(REG, 'a', { env, authfile: file }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('INVALID_INPUT')
    expect((err as AirlockError).message).toContain(file)
  })

  it('runs the credHelpers helper with get and the server on stdin', async () => {
    writeJson(path.join(home, '.docker', 'config.json'), {
      auths: { [REG]: entry('ignored', 'ignored') },
      credHelpers: { [REG]: 'fake', 'docker.io': 'fake' },
    })
    expect(await findCredentials(REG, 'team/app', { env })).toEqual({
      username: 'helper-user',
      password: 'helper-secret',
    })
    expect(helperCalls()).toEqual([`get ${REG}`])
    expect(await findCredentials('docker.io', 'library/alpine', { env })).toEqual({
      username: 'hub-user',
      password: 'hub-secret',
    })
    expect(helperCalls()).toEqual([`get ${REG}`, 'get https://index.docker.io/v1/'])
  })

  it('runs the credsStore helper for registries without their own helper', async () => {
    writeJson(path.join(home, '.docker', 'config.json'), { auths: { [REG]: {} }, credsStore: 'fake' })
    expect(await findCredentials(REG, 'team/app', { env })).toEqual({
      username: 'helper-user',
      password: 'helper-secret',
    })
    expect(helperCalls()).toEqual([`get ${REG}`])
  })

  it('a helper answering "credentials not found" means anonymous access', async () => {
    writeJson(path.join(home, '.docker', 'config.json'), {
      credHelpers: { 'nothing.example': 'fake' },
      credsStore: 'fake',
    })
    expect(await findCredentials('nothing.example', 'a', { env })).toBeUndefined()
    expect(await findCredentials('unknown.example', 'a', { env })).toBeUndefined()
    expect(helperCalls()).toEqual(['get nothing.example', 'get unknown.example'])
  })

  it('a failing helper is EXEC_FAILED with its message; a missing one says it is not installed', async () => {
    writeJson(path.join(home, '.docker', 'config.json'), {
      credHelpers: { 'broken.example': 'fake', 'missing.example': 'not-installed-anywhere' },
    })
    const broken = (await findCredentials('broken.example', 'a', { env }).catch(
      (e: unknown) => e,
    )) as AirlockError
    expect(broken.code).toBe('EXEC_FAILED')
    expect(broken.message).toContain('docker-credential-fake')
    expect(broken.message).toContain('helper-internal')
    const missing = (await findCredentials('missing.example', 'a', { env }).catch(
      (e: unknown) => e,
    )) as AirlockError
    expect(missing.code).toBe('EXEC_FAILED')
    expect(missing.message).toContain('docker-credential-not-installed-anywhere')
    expect(missing.hint).toContain('credHelpers')
  })
})

describe('storeCredentials', () => {
  it('writes mode 0600, keeps other entries and keys, and removes only the given registry', async () => {
    const file = writeJson(path.join(home, 'auth.json'), {
      auths: { 'keep.example': entry('k', 'k') },
      credHelpers: { 'x.example': 'fake' },
    })
    chmodSync(file, 0o644)
    await storeCredentials(REG, { username: 'u', password: 'p' }, { env, authfile: file })
    const doc = JSON.parse(readFileSync(file, 'utf8'))
    expect(doc.auths[REG]).toEqual({ auth: b64('u:p') })
    expect(doc.auths['keep.example']).toEqual(entry('k', 'k'))
    expect(doc.credHelpers).toEqual({ 'x.example': 'fake' })
    const { statSync } = await import('node:fs')
    expect(statSync(file).mode & 0o777).toBe(0o600)

    const removed = await storeCredentials(REG, undefined, { env, authfile: file })
    expect(removed.changed).toBe(true)
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).auths)).toEqual(['keep.example'])
    const again = await storeCredentials(REG, undefined, { env, authfile: file })
    expect(again.changed).toBe(false)
  })

  it('logging out of docker.io removes every Docker Hub spelling, and only those', async () => {
    const file = writeJson(path.join(home, 'hub.json'), {
      auths: {
        'https://index.docker.io/v1/': entry('a', 'a'),
        'docker.io': entry('b', 'b'),
        'ghcr.io': entry('c', 'c'),
      },
    })
    const r = await storeCredentials('docker.io', undefined, { env, authfile: file })
    expect(r).toEqual({ file, changed: true })
    expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({ 'ghcr.io': entry('c', 'c') })
  })
})
