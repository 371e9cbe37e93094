/**
 * `airlock sif build` end to end: real docker-archives (airlock save, podman save, hostile ones),
 * the built-in converter with real tar2sqfs/mksquashfs, checked with siftool and unsquashfs; the
 * apptainer path through a stand-in executable (apptainer is not packaged for this machine).
 */
import { execFileSync } from 'node:child_process'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { preflightSif } from '../../src/lib/sif/preflight.js'
import { makeApptainerStandIn } from '../helpers/apptainer-standin.js'
import { writeTar } from '../helpers/archives.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { makeImage, pushRaw } from '../helpers/images.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let reg: TestRegistry
let dir: string
let archive: string

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' })
/** Builds with the built-in converter only, whatever is on PATH. */
const build = (args: string[], env = isolatedEnv()) =>
  runCli(['sif', 'build', '--builder', 'builtin', ...args], { env, timeoutMs: 120_000 })

beforeAll(async () => {
  reg = await startRegistry()
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-build-'))
  await chmod(dir, 0o777)
  await pushRaw(reg, 'lib/app', '1', await makeImage({ layerSizes: [200_000, 50_000], seed: 701 }))
  await pushRaw(
    reg,
    'lib/sparc',
    '1',
    await makeImage({ layerSizes: [1000], seed: 702, platform: { os: 'linux', architecture: 'sparc64' } }),
  )
  archive = join(dir, 'app.tar')
  const saved = await runCli(['save', `docker://${reg.host}/lib/app:1`, '-o', archive])
  expect(saved.code, saved.stderr).toBe(0)
  await chmod(archive, 0o644)
}, 60_000)

afterAll(async () => {
  await reg?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('airlock sif build (built-in converter)', () => {
  it('builds a SIF that siftool reads, with the image files and /.singularity.d in its partition', async () => {
    const out = join(dir, 'app.sif')
    const r = await build([archive, '-o', out, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const res = json<{ builder: string; size: number; sha256: string; arch: string; squashfsTool: string }>(r)
    expect(res).toMatchObject({ builder: 'builtin', arch: 'amd64', squashfsTool: 'tar2sqfs' })
    expect(res.size).toBe((await stat(out)).size)
    expect(res.sha256).toBe(sh('sha256sum', [out]).split(' ')[0])
    const list = sh('siftool', ['list', out])
    expect(list).toMatch(/1\s+\|1\s+\|NONE\s+\|\d+-\d+\s+\|Def\.FILE/)
    expect(list).toMatch(/4\s+\|1\s+\|NONE\s+\|(\d+)-\d+\s+\|FS \(Squashfs\/\*System\/amd64\)/)
    const offset = Number(/4\s+\|1\s+\|NONE\s+\|(\d+)-/.exec(list)?.[1])
    expect(offset % 4096).toBe(0)
    const files = sh('unsquashfs', ['-o', String(offset), '-lln', out])
    expect(files).toMatch(/-rw-r--r-- 0\/0\s+200000 .* squashfs-root\/airlock-test\/layer-0\.bin/)
    expect(files).toMatch(/squashfs-root\/\.singularity\.d\/runscript/)
    expect(files).toMatch(/squashfs-root\/\.singularity\.d\/env\/10-docker2singularity\.sh/)
    expect(files).toMatch(/squashfs-root\/singularity -> \.singularity\.d\/runscript/)
    expect(sh('siftool', ['dump', '1', out])).toBe('bootstrap: docker-archive\nfrom: app.tar\n\n')
    expect(await readdir(dir)).not.toContain(expect.stringMatching(/\.tmp$/))
  })

  it('gives the same bytes twice with --reproducible, and writes inside the SIF with mksquashfs', async () => {
    const a = join(dir, 'r1.sif')
    const b = join(dir, 'r2.sif')
    for (const out of [a, b]) expect((await build([archive, '-o', out, '--reproducible'])).code).toBe(0)
    expect(sh('sha256sum', [a]).split(' ')[0]).toBe(sh('sha256sum', [b]).split(' ')[0])
    const m = join(dir, 'mk.sif')
    const r = await build([
      `docker://${reg.host}/lib/app:1`,
      '-o',
      m,
      '--squashfs-tool',
      'mksquashfs',
      '--json',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(json<{ squashfsTool: string }>(r).squashfsTool).toBe('mksquashfs')
    expect(sh('siftool', ['list', m])).toMatch(/FS \(Squashfs\/\*System\/amd64\)/)
  })

  it('keeps root ownership when run as a non-root user', async () => {
    const out = join(dir, 'nobody.sif')
    const env = { ...isolatedEnv(), HOME: dir }
    const r = execFileSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        join(process.cwd(), 'bin/run.js'),
        'sif',
        'build',
        '--builder',
        'builtin',
        archive,
        '-o',
        out,
        '--json',
      ],
      { encoding: 'utf8', env },
    )
    expect(JSON.parse(r).builder).toBe('builtin')
    expect((await stat(out)).uid).toBe(65534)
    const offset = Number(/(\d+)-\d+\s+\|FS/.exec(sh('siftool', ['list', out]))?.[1])
    const files = sh('unsquashfs', ['-o', String(offset), '-lln', out])
    expect(files).toMatch(/-rw-r--r-- 0\/0\s+200000 .* squashfs-root\/airlock-test\/layer-0\.bin/)
    expect(files).not.toMatch(/ 65534\/65534 /)
  })

  it('refuses hostile and truncated archives and unknown architectures, leaving nothing behind', async () => {
    const hostile = join(dir, 'hostile.tar')
    await writeTar(hostile, [
      { name: '../escape', data: Buffer.from('x') },
      { name: 'manifest.json', data: Buffer.from('[]') },
    ])
    const cases: Array<[string, RegExp]> = [[hostile, /\.\.\/escape|escape/]]
    const truncated = join(dir, 'truncated.tar')
    const whole = await import('node:fs/promises').then((f) => f.readFile(archive))
    await writeFile(truncated, whole.subarray(0, Math.floor(whole.length / 2)))
    cases.push([truncated, /truncated|short|end of|damaged|corrupt|missing/i])
    for (const [file, message] of cases) {
      const out = join(dir, 'bad.sif')
      const r = await build([file, '-o', out])
      expect(r.code, `${file}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(message)
      await expect(stat(out)).rejects.toThrow()
    }
    const sparc = await build([`docker://${reg.host}/lib/sparc:1`, '-o', join(dir, 'sparc.sif')])
    expect(sparc.code).toBe(2)
    expect(sparc.stderr).toContain('sparc64')
    expect(
      (await readdir(dir)).filter((f) => f.endsWith('.tmp') || f === 'bad.sif' || f === 'sparc.sif'),
    ).toEqual([])
  })

  it('refuses early, with the numbers, when the output cannot fit', async () => {
    let err: unknown
    try {
      await preflightSif(join(dir, 'huge.sif'), 2 ** 60)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('QUOTA_EXCEEDED')
    expect((err as AirlockError).message).toMatch(
      /needs about [\d.]+ [KMGTP]iB.* but only [\d.]+ [KMGTP]?i?B is available: .*free on the filesystem/,
    )
    // sif build's --force means overwrite: the way past this check has its own name.
    expect((err as AirlockError).hint).toContain('--ignore-free-space')
    expect((err as AirlockError).hint).not.toContain('--force')
    await expect(preflightSif(join(dir, 'huge.sif'), 2 ** 60, { force: true })).resolves.toBeDefined()
  })
})

describe("airlock sif build with apptainer's habits", () => {
  const inDir = (args: string[]) =>
    runCli(['sif', 'build', '--builder', 'builtin', ...args], {
      env: isolatedEnv(),
      cwd: dir,
      timeoutMs: 120_000,
    })
  const builtFrom = (out: string) => sh('siftool', ['dump', '1', out])

  it("OUT.sif SRC (apptainer's order) and SRC OUT.sif: the argument ending in .sif is the output", async () => {
    const a = await inDir(['order-a.sif', archive, '--json'])
    expect(a.code, a.stderr).toBe(0)
    expect(json<{ output: string }>(a).output).toBe(join(dir, 'order-a.sif'))
    expect(builtFrom(join(dir, 'order-a.sif'))).toBe('bootstrap: docker-archive\nfrom: app.tar\n\n')
    const b = await inDir([archive, 'order-b.SIF', '--json'])
    expect(b.code, b.stderr).toBe(0)
    expect(json<{ output: string }>(b).output).toBe(join(dir, 'order-b.SIF'))
    const before = (await readdir(dir)).sort()
    const cases: Array<[string[], RegExp]> = [
      [['x.sif', 'y.sif'], /x\.sif and y\.sif.*both end in \.sif/],
      [['app.tar', 'other.tar'], /app\.tar and other\.tar.*neither ends in \.sif/],
      [['app.tar', 'z.sif', '-o', 'w.sif'], /app\.tar and z\.sif with -o w\.sif/],
      [['app.tar'], /no output for app\.tar/],
    ]
    for (const [args, message] of cases) {
      const r = await inDir(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr, args.join(' ')).toMatch(message)
    }
    expect((await readdir(dir)).sort()).toEqual(before)
  })

  it('docker-archive://x.tar is the relative path x.tar, docker-archive:///abs the absolute one, oci-archive:// too', async () => {
    const rel = await inDir(['rel.sif', 'docker-archive://app.tar', '--json'])
    expect(rel.code, rel.stderr).toBe(0)
    expect(json<{ source: string }>(rel).source).toBe('docker-archive:app.tar')
    expect(builtFrom(join(dir, 'rel.sif'))).toBe('bootstrap: docker-archive\nfrom: app.tar\n\n')
    const abs = await inDir([`docker-archive://${archive}`, '-o', 'abs.sif', '--json'])
    expect(abs.code, abs.stderr).toBe(0)
    expect(json<{ source: string }>(abs).source).toBe(`docker-archive:${archive}`)
    expect(builtFrom(join(dir, 'abs.sif'))).toBe('bootstrap: docker-archive\nfrom: app.tar\n\n')
    const oci = join(dir, 'app-oci.tar')
    const saved = await runCli([
      'save',
      `docker://${reg.host}/lib/app:1`,
      '-o',
      oci,
      '--format',
      'oci-archive',
    ])
    expect(saved.code, saved.stderr).toBe(0)
    const o = await inDir(['oci.sif', 'oci-archive://app-oci.tar'])
    expect(o.code, o.stderr).toBe(0)
    expect(builtFrom(join(dir, 'oci.sif'))).toMatch(/^bootstrap: oci-archive\nfrom: app-oci\.tar/)
  })

  it('refuses to overwrite an existing SIF without -F (exit 2, file untouched); -F/--force overwrites', async () => {
    const out = join(dir, 'exists.sif')
    await writeFile(out, 'keep me')
    const r = await inDir(['exists.sif', archive])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('exists.sif already exists')
    expect(r.stderr).toMatch(/-F/)
    expect(await readFile(out, 'utf8')).toBe('keep me')
    expect((await readdir(dir)).filter((f) => f.startsWith('.exists.sif'))).toEqual([])
    const f = await inDir(['-F', 'exists.sif', archive])
    expect(f.code, f.stderr).toBe(0)
    expect(builtFrom(out)).toBe('bootstrap: docker-archive\nfrom: app.tar\n\n')
    const long = await inDir([archive, '-o', 'exists.sif', '--force', '--ignore-free-space'])
    expect(long.code, long.stderr).toBe(0)
  })

  it('passes --force to apptainer only when it replaces an existing output', async () => {
    const standin = await makeApptainerStandIn(['apptainer'])
    const env = isolatedEnv({
      PATH: `${standin.binDir}:${process.env.PATH}`,
      STANDIN_LOG: process.env.STANDIN_LOG,
    })
    const out = join(dir, 'via-apptainer-f.sif')
    await writeFile(out, 'old')
    const refused = await runCli(['sif', 'build', out, archive], { env })
    expect(refused.code).toBe(2)
    expect(await readFile(out, 'utf8')).toBe('old')
    const r = await runCli(['sif', 'build', '-F', out, 'docker-archive://app.tar'], { env, cwd: dir })
    expect(r.code, r.stderr).toBe(0)
    expect((await standin.calls()).at(-1)?.argv).toEqual([
      'build',
      '--force',
      out,
      'docker-archive://app.tar',
    ])
  })
})

describe('airlock sif build through apptainer (stand-in)', () => {
  it('uses apptainer when it is on PATH, with --tmpdir as APPTAINER_TMPDIR', async () => {
    const standin = await makeApptainerStandIn(['apptainer'])
    const env = isolatedEnv({
      PATH: `${standin.binDir}:${process.env.PATH}`,
      STANDIN_LOG: process.env.STANDIN_LOG,
    })
    const out = join(dir, 'via-apptainer.sif')
    const r = await runCli(['sif', 'build', archive, '-o', out, '--tmpdir', dir, '--json'], { env })
    expect(r.code, r.stderr).toBe(0)
    expect(json<{ builder: string }>(r).builder).toBe('apptainer')
    expect((await standin.calls()).at(-1)).toEqual({
      name: 'apptainer',
      argv: ['build', out, `docker-archive://${archive}`],
      tmpdir: dir,
    })
  })
})
