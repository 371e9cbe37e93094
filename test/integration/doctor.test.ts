/**
 * `airlock doctor` (the built CLI) against this machine's real tools, with PATH narrowed to a directory
 * of symlinks to choose which tools exist, a real `podman system service` for the Docker Engine API,
 * and auth files, AWS settings and storage.conf in an isolated HOME.
 *
 * Two stand-ins, for what cannot be installed here, each a two-line shell script that prints a
 * version and nothing else: an old mksquashfs (4.4, without -tar) and apptainer (not in Debian).
 */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CAPABILITIES, type DoctorReport } from '../../src/lib/doctor/run-doctor.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { makePodman, type Podman, type PodmanService, startPodmanService } from '../helpers/podman.js'

let work: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-doctor-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

const which = async (tool: string) => (await execa('which', [tool])).stdout.trim()

/** A directory holding symlinks to the real `tools` and the given stand-in scripts, for PATH. */
async function binDir(name: string, tools: string[], scripts: Record<string, string> = {}): Promise<string> {
  const dir = join(work, name)
  await mkdir(dir, { recursive: true })
  for (const t of tools) await symlink(await which(t), join(dir, t))
  for (const [t, text] of Object.entries(scripts)) {
    await writeFile(join(dir, t), `#!/bin/sh\n${text}\n`)
    await chmod(join(dir, t), 0o755)
  }
  return dir
}

/** An isolated HOME with no AWS, Docker or PROMINENCE settings from the machine running the tests. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = isolatedEnv()
  for (const k of Object.keys(env)) {
    if (/^(AWS_|DOCKER_|PROMINENCE_|AIRLOCK_|CONTAINERS_)/.test(k)) delete env[k]
  }
  return { ...env, AWS_EC2_METADATA_DISABLED: 'true', ...extra }
}

function capability(r: DoctorReport, name: string) {
  const c = r.capabilities.find((x) => x.name === name)
  if (!c) throw new Error(`no ${name} in ${JSON.stringify(r.capabilities.map((x) => x.name))}`)
  return c
}

function check(r: DoctorReport, cap: string, name: string) {
  const k = capability(r, cap).checks.find((x) => x.name === name)
  if (!k) throw new Error(`no check ${name} in ${cap}: ${JSON.stringify(capability(r, cap).checks)}`)
  return k
}

describe('--for sif', () => {
  it('without tar2sqfs, mksquashfs or apptainer: exit 1, naming the package to install', async () => {
    const path = await binDir('sif-none', ['fallocate'])
    const r = await runCli(['doctor', '--for', 'sif'], { env: cleanEnv({ PATH: path }) })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout).toMatch(/^MISSING sif \(sif build\)/m)
    expect(r.stdout).toMatch(/MISSING built-in converter .*neither is on PATH/)
    expect(r.stdout).toContain('fix: apt-get install squashfs-tools-ng')
    expect(r.stderr).toContain('not usable here: sif')
    // Only what was asked is checked.
    expect(r.stdout).not.toMatch(/^\S+\s+engine /m)
  })

  it('with tar2sqfs only: exit 0, the converter uses it, with its real version', async () => {
    const path = await binDir('sif-tar2sqfs', ['tar2sqfs'])
    const r = await runCli(['doctor', '--for', 'sif', '--json'], { env: cleanEnv({ PATH: path }) })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(rep).toMatchObject({ asked: ['sif'], missing: [], exitCode: 0 })
    const real = (await execa('tar2sqfs', ['--version'])).stdout.match(/\d+\.\d+\.\d+/)?.[0]
    expect(check(rep, 'sif', 'tar2sqfs')).toMatchObject({
      status: 'ok',
      found: join(path, 'tar2sqfs'),
      version: real,
    })
    expect(check(rep, 'sif', 'built-in converter')).toMatchObject({ status: 'ok', found: 'tar2sqfs' })
    expect(check(rep, 'sif', 'mksquashfs')).toMatchObject({ status: 'missing', optional: true })
    expect(check(rep, 'sif', 'fallocate')).toMatchObject({ status: 'missing', optional: true })
  })

  it('with mksquashfs 4.5 or later only: the converter uses mksquashfs -tar', async () => {
    const path = await binDir('sif-mksquashfs', ['mksquashfs'])
    const r = await runCli(['doctor', '--for', 'sif', '--json'], { env: cleanEnv({ PATH: path }) })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(check(rep, 'sif', 'mksquashfs')).toMatchObject({
      status: 'ok',
      version: expect.stringMatching(/^4\.[5-9]/),
    })
    expect(capability(rep, 'sif').summary).toBe('built-in converter with mksquashfs -tar')
  })

  it('an mksquashfs older than 4.5 (no -tar) does not count: exit 1', async () => {
    const path = await binDir('sif-old', [], { mksquashfs: 'echo "mksquashfs version 4.4 (2019/08/29)"' })
    const r = await runCli(['doctor', '--for', 'sif'], { env: cleanEnv({ PATH: path }) })
    expect(r.code, r.stdout).toBe(1)
    expect(r.stdout).toMatch(/warn\s+mksquashfs\s+.*\(4\.4\): 4\.4 has no -tar/)
    expect(r.stdout).toMatch(/MISSING built-in converter .*mksquashfs 4\.4, which has no -tar/)
  })

  it('apptainer on PATH is what --builder auto uses; it needs mksquashfs too', async () => {
    const apptainer = { apptainer: 'echo "apptainer version 1.3.4"' }
    const alone = await binDir('sif-apptainer', [], apptainer)
    const r = await runCli(['doctor', '--for', 'sif', '--json'], { env: cleanEnv({ PATH: alone }) })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(capability(rep, 'sif').summary).toBe('apptainer 1.3.4 (--builder auto)')
    expect(check(rep, 'sif', 'apptainer')).toMatchObject({ status: 'warn', version: '1.3.4' })
    expect(check(rep, 'sif', 'built-in converter')).toMatchObject({ status: 'missing', optional: true })

    const both = await binDir('sif-apptainer-mksquashfs', ['mksquashfs'], apptainer)
    const r2 = json<DoctorReport>(
      await runCli(['doctor', '--for', 'sif', '--json'], { env: cleanEnv({ PATH: both }) }),
    )
    expect(check(r2, 'sif', 'apptainer')).toMatchObject({ status: 'ok', found: join(both, 'apptainer') })
  })
})

describe('--for auth', () => {
  const password = 'S3cret-doctor-Passw0rd'
  const basic = Buffer.from(`robot$grp+ci:${password}`).toString('base64')

  it('lists the auth files in reading order with their registries, never a secret', async () => {
    const env = cleanEnv()
    const home = env.HOME as string
    const containers = join(home, '.config', 'containers', 'auth.json')
    const docker = join(home, '.docker', 'config.json')
    await mkdir(join(home, '.config', 'containers'), { recursive: true })
    await mkdir(join(home, '.docker'), { recursive: true })
    await writeFile(
      containers,
      JSON.stringify({
        auths: { 'harbor.example.org': { auth: basic }, 'https://index.docker.io/v1/': { auth: basic } },
      }),
      { mode: 0o600 },
    )
    await chmod(containers, 0o600)
    await writeFile(
      docker,
      JSON.stringify({
        auths: { 'registry.example.com:5000': { username: 'u', password } },
        credHelpers: { 'ghcr.io': 'doctor-missing-helper' },
      }),
    )
    await chmod(docker, 0o644)
    const config = join(home, '.config', 'airlock', 'config.yaml')
    await mkdir(join(home, '.config', 'airlock'), { recursive: true })
    await writeFile(config, 'harbor:\n  host: harbor.example.org\n')

    const human = await runCli(['doctor', '--for', 'auth'], { env })
    expect(human.code, human.stderr).toBe(0)
    const first = human.stdout.indexOf(containers)
    expect(first).toBeGreaterThan(0)
    expect(human.stdout.indexOf(docker)).toBeGreaterThan(first)
    expect(human.stdout).toContain('credentials for harbor.example.org, https://index.docker.io/v1/')
    expect(human.stdout).toContain(
      'registry.example.com:5000, ghcr.io (docker-credential-doctor-missing-helper)',
    )
    expect(human.stdout).toContain('credential helper docker-credential-doctor-missing-helper is not on PATH')
    expect(human.stdout).toContain(
      `fix: install docker-credential-doctor-missing-helper, or remove it from "credHelpers"; chmod 600 ${docker}`,
    )
    expect(human.stdout).toMatch(/ok\s+harbor\.host\s+harbor\.example\.org: credentials in .*auth\.json/)

    const machine = await runCli(['doctor', '--for', 'auth', '--json'], { env })
    const rep = json<DoctorReport>(machine)
    const files = capability(rep, 'auth').checks.filter((c) => c.name === 'auth file')
    expect(files.map((f) => f.found)).toEqual([containers, docker, join(home, '.dockercfg')])
    expect(files.map((f) => f.status)).toEqual(['ok', 'warn', 'missing'])
    for (const out of [human.stdout, human.stderr, machine.stdout, machine.stderr]) {
      expect(out).not.toContain(password)
      expect(out).not.toContain(basic)
      expect(out).not.toContain('robot$grp')
    }
  })

  it('REGISTRY_AUTH_FILE alone is read; without credentials --for auth exits 1 with the fix', async () => {
    const env = cleanEnv()
    const file = join(env.HOME as string, 'elsewhere.json')
    await mkdir(join(env.HOME as string, '.config', 'containers'), { recursive: true })
    await writeFile(
      join(env.HOME as string, '.config', 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'ignored.example.org': { auth: basic } } }),
    )
    const r = await runCli(['doctor', '--for', 'auth', '--json'], {
      env: { ...env, REGISTRY_AUTH_FILE: file },
    })
    expect(r.code).toBe(1)
    const rep = json<DoctorReport>(r)
    expect(rep.missing).toEqual(['auth'])
    const files = capability(rep, 'auth').checks.filter((c) => c.name === 'auth file')
    expect(files).toEqual([expect.objectContaining({ found: file, status: 'warn' })])
    expect(check(rep, 'auth', 'credentials')).toMatchObject({
      status: 'missing',
      fix: expect.stringContaining('airlock login'),
    })
    expect(r.stdout).not.toContain('ignored.example.org')
  })

  it('a broken auth file, or a credsStore that is not installed, makes auth unusable', async () => {
    const env = cleanEnv()
    const file = join(env.HOME as string, '.config', 'containers', 'auth.json')
    await mkdir(join(env.HOME as string, '.config', 'containers'), { recursive: true })
    await writeFile(file, '{"auths": {')
    const r = await runCli(['doctor', '--for', 'auth'], { env })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(
      new RegExp(`MISSING auth file\\s+${file.replace(/[.]/g, '\\.')}: auth file .* is not valid JSON`),
    )

    // findCredentials asks the credsStore for every registry not found before it, and fails when it is absent.
    await writeFile(
      file,
      JSON.stringify({ auths: { 'harbor.example.org': { auth: basic } }, credsStore: 'doctor-none' }),
    )
    await chmod(file, 0o600)
    const store = await runCli(['doctor', '--for', 'auth', '--json'], { env })
    expect(store.code).toBe(1)
    expect(check(json<DoctorReport>(store), 'auth', 'auth file')).toMatchObject({
      status: 'missing',
      found: file,
      detail: expect.stringContaining('credsStore names docker-credential-doctor-none, which is not on PATH'),
      fix: 'install docker-credential-doctor-none, or remove "credsStore" from the file',
    })
  })
})

describe('--for upload / prominence', () => {
  const keyId = 'AKIADOCTORTESTKEY01'
  const secret = 'doctor/secret+value/xyz'

  it('S3 settings from the environment are reported by name, the secret never', async () => {
    const env = cleanEnv({
      AWS_ACCESS_KEY_ID: keyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      AWS_REGION: 'eu-doctor-1',
    })
    const r = await runCli(['doctor', '--for', 'upload', '--json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(check(rep, 'upload', 'S3 credentials')).toMatchObject({
      status: 'ok',
      found: 'environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)',
    })
    expect(check(rep, 'upload', 'S3 endpoint')).toMatchObject({
      status: 'ok',
      found: 'http://127.0.0.1:9000',
      detail: expect.stringContaining('from AWS_ENDPOINT_URL_S3; path-style'),
    })
    expect(check(rep, 'upload', 'S3 region')).toMatchObject({
      found: 'eu-doctor-1',
      detail: 'from AWS_REGION',
    })
    const human = await runCli(['doctor', '--for', 'upload'], { env })
    for (const out of [r.stdout, r.stderr, human.stdout, human.stderr]) {
      expect(out).not.toContain(secret)
      expect(out).not.toContain(keyId)
    }
  })

  it('a profile in ~/.aws/credentials: named with its file; --endpoint wins over the environment', async () => {
    const env = cleanEnv({ AWS_PROFILE: 'doctor', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' })
    const file = join(env.HOME as string, '.aws', 'credentials')
    await mkdir(join(env.HOME as string, '.aws'), { recursive: true })
    await writeFile(file, `[doctor]\naws_access_key_id = ${keyId}\naws_secret_access_key = ${secret}\n`)
    const r = await runCli(['doctor', '--for', 'upload', '--json', '--endpoint', 'https://s3.example.org'], {
      env,
    })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(check(rep, 'upload', 'S3 credentials').found).toBe('profile "doctor"')
    expect(check(rep, 'upload', 'AWS profile')).toMatchObject({ status: 'ok', found: file })
    expect(check(rep, 'upload', 'S3 endpoint')).toMatchObject({ found: 'https://s3.example.org' })
    expect(r.stdout).not.toContain(secret)
    expect(r.stdout).not.toContain(keyId)
  })

  it('no credentials: exit 1 with what to set; a bad endpoint is named', async () => {
    const r = await runCli(['doctor', '--for', 'upload'], { env: cleanEnv() })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/MISSING S3 credentials\s+no AWS credentials found/)
    expect(r.stdout).toContain('fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY')
    const bad = await runCli(['doctor', '--for', 'upload', '--json'], {
      env: cleanEnv({
        AWS_ENDPOINT_URL_S3: 'ftp://s3.example.org',
        AWS_ACCESS_KEY_ID: keyId,
        AWS_SECRET_ACCESS_KEY: secret,
      }),
    })
    expect(bad.code).toBe(1)
    expect(check(json<DoctorReport>(bad), 'upload', 'S3 endpoint')).toMatchObject({
      status: 'missing',
      detail: 'AWS_ENDPOINT_URL_S3 must be an http:// or https:// URL',
    })
  })

  it('PROMINENCE: the API by origin, the token as "set"', async () => {
    const token = 'prominence-doctor-token-123'
    const r = await runCli(['doctor', '--for', 'prominence'], {
      env: cleanEnv({
        PROMINENCE_URL: 'https://prominence.example.org/prominence/v1/',
        PROMINENCE_TOKEN: token,
      }),
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/ok\s+PROMINENCE_URL\s+https:\/\/prominence\.example\.org\/prominence\/v1$/m)
    expect(r.stdout).toMatch(/ok\s+PROMINENCE_TOKEN\s+set \(not shown\)/)
    expect(r.stdout).not.toContain(token)
    const none = await runCli(['doctor', '--for', 'prominence'], { env: cleanEnv() })
    expect(none.code).toBe(1)
    expect(none.stdout).toContain('fix: set PROMINENCE_URL')
  })
})

describe('--for engine', () => {
  let p: Podman
  let svc: PodmanService
  beforeAll(async () => {
    p = await makePodman()
    svc = await startPodmanService(p)
  })
  afterAll(async () => {
    await svc?.stop()
    await p?.cleanup()
  })

  it('DOCKER_HOST at a running podman system service: the Docker Engine API answers', async () => {
    const r = await runCli(['doctor', '--for', 'engine', '--engine', 'docker', '--json'], {
      env: cleanEnv({ DOCKER_HOST: svc.dockerHost }),
    })
    expect(r.code, r.stdout).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(check(rep, 'engine', 'Docker Engine API')).toMatchObject({
      status: 'ok',
      optional: false,
      found: svc.dockerHost,
      version: expect.stringMatching(/^API \d+\.\d+, Podman Engine \d/),
      detail: 'answers /_ping (address from DOCKER_HOST)',
    })
    expect(check(rep, 'engine', 'engine used')).toMatchObject({ status: 'ok', found: 'docker' })
  })

  it('--docker-host at a dead socket: missing, with where airlock looked', async () => {
    const dead = `unix://${join(work, 'nothing.sock')}`
    const r = await runCli(['doctor', '--for', 'engine', '--engine', 'docker', '--docker-host', dead], {
      env: cleanEnv({ DOCKER_HOST: svc.dockerHost }),
    })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(
      /MISSING Docker Engine API\s+unix:\/\/.*nothing\.sock: cannot reach the Docker Engine API \(ENOENT\); address from --docker-host/,
    )
    expect(r.stdout).toMatch(/MISSING engine used/)
    expect(r.stderr).toContain('not usable here: engine')
  })

  it('podman on PATH comes first; without podman and with a dead DOCKER_HOST nothing works', async () => {
    const withPodman = await binDir('engine-podman', ['podman'])
    const ok = await runCli(['doctor', '--for', 'engine', '--json'], { env: cleanEnv({ PATH: withPodman }) })
    expect(ok.code, ok.stdout).toBe(0)
    const rep = json<DoctorReport>(ok)
    expect(check(rep, 'engine', 'engine used')).toMatchObject({ status: 'ok', found: 'podman' })
    expect(check(rep, 'engine', 'podman')).toMatchObject({ found: join(withPodman, 'podman') })

    const empty = await binDir('engine-none', [])
    const dead = `unix://${join(work, 'dead.sock')}`
    const bad = await runCli(['doctor', '--for', 'engine'], {
      env: cleanEnv({ PATH: empty, DOCKER_HOST: dead }),
    })
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/MISSING engine used\s+docker: docker is picked \(podman is not on PATH/)
    // Each engine alone is optional (either will do), so its own line is "-", not MISSING.
    expect(bad.stdout).toMatch(/^ {4}- {7}podman\s+podman is not on PATH/m)
    expect(bad.stdout).toMatch(/^ {4}- {7}Docker Engine API\s+unix:.*dead\.sock: cannot reach .*ENOENT/m)
  })
})

describe('quota, config and the whole report', () => {
  it('storage.conf and a config limit as airlock quota resolves them; --root wins', async () => {
    const graphroot = join(work, 'graph')
    const conf = join(work, 'storage.conf')
    await writeFile(
      conf,
      `[storage]\ndriver = "vfs"\ngraphroot = "${graphroot}"\nrunroot = "${join(work, 'run')}"\n`,
    )
    const config = join(work, 'quota-config.yaml')
    await writeFile(config, 'quota:\n  limit: 50G\n')
    const env = cleanEnv({ CONTAINERS_STORAGE_CONF: conf, AIRLOCK_CONFIG: config })
    const r = await runCli(['doctor', '--for', 'quota,config', '--json'], { env })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(check(rep, 'quota', 'podman storage')).toMatchObject({
      status: 'ok',
      found: conf,
      detail: expect.stringContaining(`graphroot ${graphroot}, driver vfs`),
    })
    expect(check(rep, 'quota', 'graphroot filesystem')).toMatchObject({
      status: 'ok',
      detail: expect.stringContaining('the graphroot does not exist yet'),
    })
    expect(check(rep, 'quota', 'limit')).toMatchObject({
      status: 'ok',
      found: '50.0 GiB hard (quota.limit in the config)',
    })
    expect(check(rep, 'config', 'config file')).toMatchObject({ found: config, detail: 'sets quota.limit' })

    const root = join(work, 'other-root')
    const r2 = json<DoctorReport>(
      await runCli(['doctor', '--for', 'quota', '--json', '--root', root], { env }),
    )
    expect(check(r2, 'quota', 'podman storage')).toMatchObject({
      found: '--root',
      detail: expect.stringContaining(`graphroot ${root},`),
    })
  })

  it('storage.conf from CONTAINERS_STORAGE_CONF whatever PATH holds (no podman, no cat)', async () => {
    const graphroot = join(work, 'graph-nopath')
    const conf = join(work, 'storage-nopath.conf')
    await writeFile(conf, `[storage]\ndriver = "vfs"\ngraphroot = "${graphroot}"\n`)
    const empty = await binDir('empty-for-storage', [])
    const r = await runCli(['doctor', '--for', 'quota', '--json'], {
      env: cleanEnv({ CONTAINERS_STORAGE_CONF: conf, PATH: empty }),
    })
    const rep = json<DoctorReport>(r)
    expect(check(rep, 'quota', 'podman storage')).toMatchObject({
      status: 'ok',
      found: conf,
      detail: expect.stringContaining(`graphroot ${graphroot}, driver vfs`),
    })
  })

  it('a broken config file is reported, not thrown', async () => {
    const config = join(work, 'broken-config.yaml')
    await writeFile(config, 'engine: podman\nnot_a_key: 1\n')
    const r = await runCli(['doctor', '--for', 'config'], { env: cleanEnv({ AIRLOCK_CONFIG: config }) })
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/MISSING config file\s+.*broken-config\.yaml/)
  })

  it('without --for: every capability, exit 0, one JSON document of the documented shape', async () => {
    const r = await runCli(['doctor', '--json'], { env: cleanEnv() })
    expect(r.code, r.stderr).toBe(0)
    const rep = json<DoctorReport>(r)
    expect(rep.asked).toEqual([])
    expect(rep.missing).toEqual([])
    expect(rep.exitCode).toBe(0)
    expect(typeof rep.seconds).toBe('number')
    expect(rep.capabilities.map((c) => c.name)).toEqual([...CAPABILITIES])
    for (const c of rep.capabilities) {
      expect(Object.keys(c).sort()).toEqual(['checks', 'commands', 'name', 'summary', 'usable'])
      expect(typeof c.usable).toBe('boolean')
      expect(c.checks.length).toBeGreaterThan(0)
      for (const k of c.checks) {
        expect(['ok', 'warn', 'missing']).toContain(k.status)
        expect(typeof k.name).toBe('string')
        if (k.status === 'ok') expect(k.fix).toBeUndefined()
        else if (!k.optional) expect(k.fix, `${c.name}/${k.name}`).toEqual(expect.any(String))
      }
    }
    // Nothing set up in this HOME: S3 and auth are not usable, yet without --for that is a report, not a failure.
    expect(capability(rep, 'upload').usable).toBe(false)
    expect(capability(rep, 'auth').usable).toBe(false)
    expect(capability(rep, 'copy').usable).toBe(true)
  })

  it('an unknown --for is a usage error naming it and listing the valid ones', async () => {
    const r = await runCli(['doctor', '--for', 'sif,bogus'], { env: cleanEnv() })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('"bogus" is not a capability airlock doctor knows')
    expect(r.stderr).toContain(`use one or more of: ${CAPABILITIES.join(', ')}`)
    const j = await runCli(['doctor', '--for', 'bogus', '--json'], { env: cleanEnv() })
    expect(j.code).toBe(2)
    expect(json(j)).toMatchObject({ error: { code: 'INVALID_INPUT' } })
  })
})
