/**
 * The release tarballs (`node scripts/release.mjs`, what `npm run release` runs): built once into a
 * temp dir, checked with `sha256sum -c`, unpacked, and run the way an air-gapped login node runs them:
 * a clean environment whose PATH has no node and no npm, through the launcher and through symlinks
 * to it, with a real command against a local registry. The tarball of the other architecture
 * (arm64 on an x64 machine) cannot run here: its contents are compared with this machine's one, and
 * its runtime/node must be an ELF for its architecture.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ok, runProcess as run } from '../helpers/cli.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

const execFileAsync = promisify(execFile)

const ROOT = path.resolve(import.meta.dirname, '../..')
const SCRIPT = path.join(ROOT, 'scripts', 'release.mjs')
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version
const NODE_VERSION = /export const NODE_VERSION = '(\d+\.\d+\.\d+)'/.exec(readFileSync(SCRIPT, 'utf8'))![1]!

function elfMachine(file: string): number {
  const fd = openSync(file, 'r')
  const head = Buffer.alloc(20)
  readSync(fd, head, 0, 20, 0)
  closeSync(fd)
  expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF')
  return head.readUInt16LE(18)
}

/** Relative path → sha256 of every regular file under dir. */
function fileHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile())
        out.set(path.relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'))
    }
  }
  walk(dir)
  return out
}

let tmp: string
let out: string
/** The architecture of this machine, whose tarball runs here, and the other one, which is only inspected. */
const HOST = process.arch === 'arm64' ? 'arm64' : 'x64'
const OTHER = HOST === 'x64' ? 'arm64' : 'x64'
const ELF_MACHINE = { x64: 0x3e, arm64: 0xb7 } // x86-64, aarch64
let host: string // unpacked airlock/ of this machine's tarball
let other: string // unpacked airlock/ of the other architecture's tarball
let tarballs: Record<'x64' | 'arm64', string>
/** The only programs on PATH in `env`: no node, no npm. */
let tools: string
let env: NodeJS.ProcessEnv
let buildLog: string

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'airlock-release-'))
  out = path.join(tmp, 'out')
  // Both architectures in one run: the app is built once, each runtime is a cached npm package.
  const build = await run(process.execPath, [SCRIPT, '--arch', 'all', '--out', out], {
    env: process.env,
    cwd: ROOT,
    timeoutMs: 280_000,
  })
  buildLog = build.stderr
  ok(build, 'scripts/release.mjs')
  tarballs = {
    x64: path.join(out, `airlock-${VERSION}-linux-x64.tar.gz`),
    arm64: path.join(out, `airlock-${VERSION}-linux-arm64.tar.gz`),
  }
  for (const [arch, file] of Object.entries(tarballs)) {
    const dir = path.join(tmp, `unpacked-${arch}`)
    mkdirSync(dir)
    await execFileAsync('tar', ['-xzf', file, '-C', dir])
    if (arch === HOST) host = path.join(dir, 'airlock')
    else other = path.join(dir, 'airlock')
  }

  tools = path.join(tmp, 'tools')
  mkdirSync(tools)
  // readlink: what the launcher uses to follow symlinks; mkdir: to make its compile cache directory.
  // Nothing else: no node, no npm.
  symlinkSync('/usr/bin/readlink', path.join(tools, 'readlink'))
  symlinkSync('/usr/bin/mkdir', path.join(tools, 'mkdir'))
  const home = path.join(tmp, 'home')
  mkdirSync(home)
  env = { PATH: tools, HOME: home, LANG: 'C.UTF-8' }
}, 300_000)

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

describe('release tarballs', () => {
  it('are built for x64 and arm64, each with a sha256 file that sha256sum -c accepts', async () => {
    expect(buildLog).toContain('production packages, as package-lock.json pins them')
    for (const file of Object.values(tarballs)) {
      expect(statSync(file).size).toBeGreaterThan(20e6)
      const sums = readFileSync(`${file}.sha256`, 'utf8')
      expect(sums).toMatch(new RegExp(`^[0-9a-f]{64}  ${path.basename(file).replaceAll('.', '\\.')}\\n$`))
      const check = await execFileAsync('sha256sum', ['-c', `${path.basename(file)}.sha256`], { cwd: out })
      expect(check.stdout).toBe(`${path.basename(file)}: OK\n`)
    }
    // A changed byte fails the check.
    const sums = `${tarballs[HOST]}.sha256`
    const line = readFileSync(sums, 'utf8')
    writeFileSync(
      sums,
      line.replace(/^./, (c) => (c === '0' ? '1' : '0')),
    )
    await expect(execFileAsync('sha256sum', ['-c', path.basename(sums)], { cwd: out })).rejects.toThrow()
    writeFileSync(sums, line)
  })

  it('hold airlock/ only, owned by 0:0, with one mtime and sorted names (for reproducible bytes)', async () => {
    const { stdout } = await execFileAsync('tar', ['-tvzf', tarballs[HOST], '--full-time'], {
      maxBuffer: 64 * 1024 * 1024,
    })
    const entries = stdout.trim().split('\n')
    expect(entries.length).toBeGreaterThan(1000)
    const names = entries.map((l) => l.split(/\s+/).slice(5).join(' '))
    expect(names.every((n) => n === 'airlock/' || n.startsWith('airlock/'))).toBe(true)
    expect(new Set(entries.map((l) => l.split(/\s+/)[1]))).toEqual(new Set(['0/0']))
    expect(new Set(entries.map((l) => l.split(/\s+/).slice(3, 5).join(' '))).size).toBe(1)
    const top = names.filter((n) => /^airlock\/[^/]+\/?$/.test(n))
    expect(top).toEqual([...top].sort())
  })

  it('contain the launcher, the Node runtime with its licence, the app and production dependencies only', () => {
    expect(statSync(path.join(host, 'bin', 'airlock')).mode & 0o777).toBe(0o755)
    expect(readFileSync(path.join(host, 'bin', 'airlock'), 'utf8')).toMatch(/^#!\/bin\/sh\n/)
    expect(statSync(path.join(host, 'runtime', 'node')).mode & 0o111).toBe(0o111)
    expect(readFileSync(path.join(host, 'runtime', 'LICENSE'), 'utf8')).toContain('Node.js is licensed')
    expect(elfMachine(path.join(host, 'runtime', 'node'))).toBe(ELF_MACHINE[HOST])
    for (const f of ['package.json', 'bin/run.js', 'dist/index.js', 'dist/commands/copy.js', 'INSTALL.txt'])
      expect(existsSync(path.join(host, f)), f).toBe(true)
    const manifest = JSON.parse(readFileSync(path.join(host, 'oclif.manifest.json'), 'utf8'))
    expect(Object.keys(manifest.commands)).toEqual(expect.arrayContaining(['copy', 'inspect', 'mirror']))
    // Production dependencies are there, development ones are not.
    const nm = path.join(host, 'node_modules')
    for (const dep of [
      '@oclif/core',
      '@oclif/plugin-autocomplete',
      '@oclif/plugin-help',
      '@aws-sdk/client-s3',
      'zod',
    ])
      expect(existsSync(path.join(nm, dep, 'package.json')), dep).toBe(true)
    for (const dev of ['typescript', 'vitest', 'oclif', 'tsx', '@biomejs', '@types/node', 'cpu-features'])
      expect(existsSync(path.join(nm, dev)), dev).toBe(false)
    // No compiled addon that would only run on the build machine.
    const addons = [...fileHashes(nm).keys()].filter((f) => f.endsWith('.node'))
    expect(addons).toEqual([])
    expect(readFileSync(path.join(host, 'INSTALL.txt'), 'utf8')).toContain(
      `airlock ${VERSION} for linux-${HOST}`,
    )
  })

  it(`for ${OTHER} hold the same app with a runtime for ${OTHER}`, () => {
    expect(elfMachine(path.join(other, 'runtime', 'node'))).toBe(ELF_MACHINE[OTHER])
    const a = fileHashes(host)
    const b = fileHashes(other)
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort())
    const differ = [...a.keys()].filter((f) => a.get(f) !== b.get(f)).sort()
    expect(differ).toEqual(['INSTALL.txt', 'runtime/node'])
    expect(readFileSync(path.join(other, 'INSTALL.txt'), 'utf8')).toContain(`linux-${OTHER}`)
  })
})

describe(`the unpacked linux-${HOST} release, run without Node on PATH`, () => {
  let reg: TestRegistry
  let image: GeneratedImage

  beforeAll(async () => {
    reg = await startRegistry()
    image = await makeImage({ layerSizes: [200_000, 30_000], seed: 91 })
    await pushRaw(reg, 'release/app', 'v1', image)
  })

  afterAll(async () => {
    await reg?.stop()
  })

  it('has an environment where node and npm cannot be found', async () => {
    for (const prog of ['node', 'npm', 'npx']) {
      const r = await run('/bin/sh', ['-c', `command -v ${prog}`], { env })
      expect(r.code, `${prog} found at ${r.stdout}`).not.toBe(0)
    }
  })

  it('--version runs the bundled Node runtime', async () => {
    const r = ok(await run(path.join(host, 'bin', 'airlock'), ['--version'], { env, cwd: tmp }), '--version')
    expect(r.stdout).toBe(`airlock/${VERSION} linux-${HOST} node-v${NODE_VERSION}\n`)
  })

  it('--help and copy --help go through oclif and the manifest', async () => {
    const bin = path.join(host, 'bin', 'airlock')
    const help = ok(await run(bin, ['--help'], { env, cwd: tmp }), '--help')
    expect(help.stdout).toContain('USAGE\n  $ airlock [COMMAND]')
    expect(help.stdout).toMatch(/^\s+copy\s+Copy an image/m)
    expect(help.stdout).toMatch(/^\s+autocomplete\s+/m)
    expect(help.stdout).toContain(`node-v${NODE_VERSION}`)
    const copy = ok(await run(bin, ['copy', '--help'], { env, cwd: tmp }), 'copy --help')
    expect(copy.stdout).toContain('$ airlock copy SOURCE DESTINATION')
    expect(copy.stdout).toContain('--platform')
    // The launcher turned on Node's compile cache in the user's cache directory.
    expect(
      readdirSync(path.join(env.HOME!, '.cache', 'airlock', 'node-compile-cache')).length,
    ).toBeGreaterThan(0)
  })

  it('answers at once when $HOME cannot be created (no compile cache then)', async () => {
    const bin = path.join(host, 'bin', 'airlock')
    const file = path.join(tmp, 'a-file')
    writeFileSync(file, '')
    // Nothing below these can be made: under a regular file (ENOTDIR), and in /proc (ENOENT, on
    // which Node's recursive mkdir of the compile cache loops at 100 % CPU, as for a home that an
    // automounter does not provide).
    for (const home of [path.join(file, 'home'), '/proc/airlock-nonexistent/home']) {
      for (const args of [['--version'], ['copy', '--help']]) {
        const r = await run(bin, args, { env: { ...env, HOME: home }, cwd: tmp, timeoutMs: 15_000 })
        expect(r.timedOut, `${args.join(' ')} with HOME=${home} hung`).toBe(false)
        expect(ok(r, args.join(' ')).stdout).toContain('airlock')
      }
    }
  })

  it('help, help copy and -h work from the tarball (the help plugin is shipped)', async () => {
    const bin = path.join(host, 'bin', 'airlock')
    const help = ok(await run(bin, ['help', 'copy'], { env, cwd: tmp }), 'help copy')
    expect(help.stdout).toContain('$ airlock copy SOURCE DESTINATION')
    const h = ok(await run(bin, ['-h'], { env, cwd: tmp }), '-h')
    expect(h.stdout).toContain('USAGE\n  $ airlock [COMMAND]')
  })

  it('inspects and copies a generated image from a local registry', async () => {
    const bin = path.join(host, 'bin', 'airlock')
    const ref = `${reg.host}/release/app:v1`
    const inspect = ok(await run(bin, ['inspect', '--json', ref], { env, cwd: tmp }), 'inspect')
    const info = JSON.parse(inspect.stdout) as { digest: string; kind: string; platforms: string[] }
    expect(info).toMatchObject({ digest: image.manifest.digest, kind: 'image', platforms: ['linux/amd64'] })

    const layout = path.join(tmp, 'layout')
    const copy = ok(await run(bin, ['copy', '--json', ref, `oci:${layout}:v1`], { env, cwd: tmp }), 'copy')
    expect(JSON.parse(copy.stdout)).toMatchObject({ destinationDigest: image.manifest.digest })
    for (const b of [image.config, ...image.layers]) {
      const file = path.join(layout, 'blobs', 'sha256', b.digest.slice('sha256:'.length))
      expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(b.digest.slice(7))
    }
    // And back into the registry under another name, through the same runtime.
    ok(
      await run(bin, ['copy', `oci:${layout}:v1`, `${reg.host}/release/back:v1`], { env, cwd: tmp }),
      'copy back',
    )
    expect((await fetchManifestRaw(reg, 'release/back', 'v1')).digest).toBe(image.manifest.digest)
  })

  it('autocomplete -r writes the bash and zsh completion files', async () => {
    const cache = path.join(tmp, 'xdg-cache')
    const r = await run(path.join(host, 'bin', 'airlock'), ['autocomplete', '-r'], {
      env: { ...env, XDG_CACHE_HOME: cache },
      cwd: tmp,
    })
    ok(r, 'autocomplete -r')
    const dir = path.join(cache, 'airlock', 'autocomplete')
    const bash = readFileSync(path.join(dir, 'functions', 'bash', 'airlock.bash'), 'utf8')
    expect(bash).toMatch(/^copy --json .*--platform/m)
    expect(bash).toContain('complete -F _airlock_autocomplete airlock')
    expect(readFileSync(path.join(dir, 'functions', 'zsh', '_airlock'), 'utf8')).toMatch(/^#compdef airlock/)
    expect(existsSync(path.join(dir, 'bash_setup'))).toBe(true)
  })

  it('runs through a chain of symlinks from elsewhere, by path and by name on PATH', async () => {
    const elsewhere = path.join(tmp, 'elsewhere')
    mkdirSync(path.join(elsewhere, 'bin'), { recursive: true })
    mkdirSync(path.join(elsewhere, 'links'))
    // bin/airlock → ../links/airlock (relative) → <release>/bin/airlock (absolute)
    symlinkSync(path.join(host, 'bin', 'airlock'), path.join(elsewhere, 'links', 'airlock'))
    symlinkSync('../links/airlock', path.join(elsewhere, 'bin', 'airlock'))
    const want = `airlock/${VERSION} linux-${HOST} node-v${NODE_VERSION}\n`

    const byPath = ok(
      await run(path.join(elsewhere, 'bin', 'airlock'), ['--version'], { env, cwd: '/' }),
      'link',
    )
    expect(byPath.stdout).toBe(want)
    const pathEnv = { ...env, PATH: `${path.join(elsewhere, 'bin')}:${tools}` }
    const byName = await run('/bin/sh', ['-c', 'cd / && airlock --version && airlock copy --help'], {
      env: pathEnv,
    })
    ok(byName, 'airlock on PATH')
    expect(byName.stdout.startsWith(want)).toBe(true)
    expect(byName.stdout).toContain('--platform')
  })

  it('says what is wrong when bin/airlock is copied out of the release instead of linked', async () => {
    const lone = path.join(tmp, 'lone')
    mkdirSync(path.join(lone, 'bin'), { recursive: true })
    writeFileSync(path.join(lone, 'bin', 'airlock'), readFileSync(path.join(host, 'bin', 'airlock')))
    chmodSync(path.join(lone, 'bin', 'airlock'), 0o755)
    const r = await run(path.join(lone, 'bin', 'airlock'), ['--version'], { env, cwd: tmp })
    expect(r.code).toBe(127)
    expect(r.stderr).toContain('runtime/node is missing')
  })
})
