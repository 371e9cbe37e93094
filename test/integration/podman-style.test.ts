/**
 * Invocations as podman users type them (issue 16): arguments never come from piped stdin,
 * `load` reads an archive from stdin or -i, `login` asks for the password on a terminal, global
 * flags before the command, `--version --json`. Real registry and podman (vfs, temporary roots);
 * terminals are util-linux `script` pseudo-terminals. The CLI runs dist/ (`npm run build` first).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, isolatedEnv, json, runCli, runProcess } from '../helpers/cli.js'
import { makeImage, pushRaw } from '../helpers/images.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let reg: TestRegistry
let basic: TestRegistry
let podman: Podman
let scratch: string

beforeAll(async () => {
  ;[reg, basic, podman, scratch] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: 'htpasswd' }),
    makePodman(),
    mkdtemp(join(tmpdir(), 'airlock-podman-style-')),
  ])
  await pushRaw(reg, 'ps/app', '1', await makeImage({ layerSizes: [6_000], seed: 1601 }))
})
afterAll(async () => {
  await Promise.all([
    podman?.cleanup(),
    reg?.stop(),
    basic?.stop(),
    scratch && rm(scratch, { recursive: true, force: true }),
  ])
})

const node = process.execPath
/** A shell command line running the built CLI. */
const cli = (args: string) => `${node} ${BIN} ${args}`

function podmanEnv(): NodeJS.ProcessEnv {
  return isolatedEnv({ ...podman.env, TMPDIR: scratch })
}

/** Runs `command` under a pseudo-terminal; `onOutput` may answer through the terminal. */
function underTty(
  command: string,
  env: NodeJS.ProcessEnv,
  onOutput?: (all: string, write: (s: string) => void) => void,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let output = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const on = (d: Buffer) => {
      output += d
      onOutput?.(output, (s) => child.stdin.write(s))
    }
    child.stdout.on('data', on)
    child.stderr.on('data', on)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

async function makeArchive(name: string): Promise<string> {
  const archive = join(scratch, `${name}.tar`)
  const r = await runCli([
    'copy',
    '--quiet',
    `docker://${reg.host}/ps/app:1`,
    `docker-archive:${archive}:localhost/ps/${name}:1`,
  ])
  expect(r.code, r.stderr).toBe(0)
  return archive
}

describe('arguments never come from stdin', () => {
  it('echo DEST | airlock copy SRC is a usage error naming DESTINATION, and copies nothing', async () => {
    const r = await runCli(['copy', `docker://${reg.host}/ps/app:1`], { input: `${reg.host}/ps/piped:2\n` })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/destination/i)
    const tags = await fetch(`${reg.url}/v2/ps/piped/tags/list`)
    expect(tags.status).toBe(404)
  })
})

describe('airlock load, as podman load', () => {
  it('reads the archive from stdin (airlock load < archive.tar) into podman', async () => {
    const archive = await makeArchive('stdin')
    const r = await runProcess('sh', ['-c', `${cli('load')} < ${archive}`], {
      env: podmanEnv(),
      timeoutMs: 120_000,
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('localhost/ps/stdin:1')
    expect(await podman.inspect('localhost/ps/stdin:1')).toBeDefined()
  })

  it('loads -i archive.tar', async () => {
    const archive = await makeArchive('dash-i')
    const r = await runCli(['load', '-i', archive], { env: podmanEnv(), timeoutMs: 120_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(await podman.inspect('localhost/ps/dash-i:1')).toBeDefined()
  })

  it('with no archive on a terminal, is a usage error naming -i', async () => {
    const r = await underTty(cli('load'), podmanEnv())
    expect(r.code).toBe(2)
    expect(r.output).toContain('airlock load -i FILE')
  })
})

describe('airlock login -u USER HOST on a terminal', () => {
  it('asks for the password without echoing it, and writes the auth file', async () => {
    const authfile = join(scratch, 'auth.json')
    const password = basic.password as string
    let sent = false
    const r = await underTty(
      cli(`login -u ${basic.username} --authfile ${authfile} --tls-verify=false ${basic.host}`),
      isolatedEnv(),
      (all, write) => {
        if (!sent && all.includes('Password:')) {
          sent = true
          write(`${password}\r`)
        }
      },
    )
    expect(r.code, r.output).toBe(0)
    expect(r.output).toContain('Login Succeeded')
    expect(r.output).not.toContain(password)
    const auth = JSON.parse(await readFile(authfile, 'utf8')) as { auths: Record<string, { auth: string }> }
    expect(Buffer.from(auth.auths[basic.host].auth, 'base64').toString()).toBe(
      `${basic.username}:${password}`,
    )
  })
})

describe('global flags', () => {
  it('--debug before the command prints request lines, without secrets', async () => {
    const password = basic.password as string
    await pushRaw(basic, 'ps/dbg', '1', await makeImage({ layerSizes: [1_000], seed: 1602 }))
    const r = await runCli([
      '--debug',
      'tags',
      `${basic.host}/ps/dbg`,
      '--creds',
      `${basic.username}:${password}`,
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(new RegExp(`GET ${basic.host}/v2/ps/dbg/tags/list 200`))
    expect(r.stderr).not.toContain(password)
  })

  it('--version --json prints one JSON document', async () => {
    for (const args of [
      ['--version', '--json'],
      ['--json', '--version'],
    ]) {
      const r = await runCli(args)
      expect(r.code).toBe(0)
      const doc = json<{ version: string; node: string; platform: string; arch: string }>(r)
      expect(doc).toEqual({
        version: expect.any(String),
        node: process.version,
        platform: process.platform,
        arch: process.arch,
      })
    }
  })

  it('-v is the version only: mirror takes --verbose and -q', async () => {
    const v = await runCli(['mirror', '-v', 'spec.yaml'])
    expect(v.code).toBe(2)
    const help = await runCli(['mirror', '--help'])
    expect(help.stdout).toMatch(/-q, --quiet/)
    expect(help.stdout).toMatch(/ {4}--verbose/)
  })
})
