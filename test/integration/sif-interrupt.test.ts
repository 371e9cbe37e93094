/**
 * `airlock sif build` interrupted half way (Ctrl-C, kill, Slurm's time limit, a closed terminal):
 * the built CLI converting a generated docker-archive with a 120 MB random layer (a few seconds of
 * tar2sqfs or mksquashfs) gets SIGINT, SIGTERM or SIGHUP, sent to airlock alone or to its whole
 * process group as a terminal does, and under a pseudo-terminal (util-linux `script`) a real Ctrl-C
 * typed into it. Each time: exit 1, "interrupted" said, the output directory exactly as before (no
 * .NAME.sif.build-* directory, no partial SIF), and no squashfs tool left running.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { writeLegacyDockerArchive } from '../helpers/archives.js'
import { BIN, isolatedEnv } from '../helpers/cli.js'
import { makeImage } from '../helpers/images.js'

type Tool = 'tar2sqfs' | 'mksquashfs'
type Sig = 'SIGINT' | 'SIGTERM' | 'SIGHUP'

let dir: string
let archive: string
let outDir: string
const started: ChildProcess[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-interrupt-'))
  archive = join(dir, 'big.tar')
  const image = await makeImage({ layerSizes: [120_000_000], compress: false, seed: 1515 })
  await writeLegacyDockerArchive(archive, [{ image, repoTags: ['big:1'] }])
}, 120_000)

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A fresh output directory holding one file of the user's, which must stay as it is. */
async function freshOutDir(name: string): Promise<string[]> {
  outDir = join(dir, name)
  await mkdir(outDir)
  await chmod(outDir, 0o755)
  await writeFile(join(outDir, 'notes.txt'), 'keep me\n')
  return readdir(outDir)
}

/**
 * Resolves once the squashfs tool is writing: the .NAME.sif.build-* directory (tar2sqfs) or the SIF's
 * .tmp file (mksquashfs writes into it) exists and holds bytes.
 */
async function buildUnderWay(child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error('the build ended before it was interrupted')
    for (const name of await readdir(outDir)) {
      const p = join(outDir, name)
      const file = name.includes('.build-')
        ? join(p, 'rootfs.squashfs')
        : name.endsWith('.tmp')
          ? p
          : undefined
      if (file && ((await stat(file).catch(() => undefined))?.size ?? 0) > 0) return
    }
    await sleep(50)
  }
  throw new Error('the build did not start within 30 s')
}

/** Squashfs tool processes writing into the test's output directory (ps, every user): "PID ARGS". */
function toolsLeft(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
  // The program itself, not airlock (whose --squashfs-tool argument names it too).
  return ps.split('\n').filter((l) => /^\s*\d+ (\S*\/)?(tar2sqfs|mksquashfs) /.test(l) && l.includes(outDir))
}

interface Ended {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

function ended(child: ChildProcess, output: () => string): Promise<Ended> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output: output() })
    })
  })
}

/**
 * `process`: airlock alone; `group`: airlock's process group, as a terminal signals; `every`: airlock
 * and the squashfs tool each, as Slurm signals every process of a job step at its time limit.
 */
type Target = 'process' | 'group' | 'every'

async function interrupt(tool: Tool, sig: Sig, target: Target): Promise<Ended> {
  const before = await freshOutDir(`${tool}-${sig}-${target}`)
  const child = spawn(
    process.execPath,
    [
      BIN,
      'sif',
      'build',
      '--builder',
      'builtin',
      '--squashfs-tool',
      tool,
      archive,
      '-o',
      join(outDir, 'big.sif'),
    ],
    // Its own process group (as a shell's job): -pid reaches airlock and everything it started there.
    { env: isolatedEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  )
  started.push(child)
  let output = ''
  child.stdout?.on('data', (d) => {
    output += d
  })
  child.stderr?.on('data', (d) => {
    output += d
  })
  const end = ended(child, () => output)
  await buildUnderWay(child)
  if (target === 'every') {
    const [toolPid] = toolsLeft().map((l) => Number(l.trim().split(/\s+/)[0]))
    expect(toolPid).toBeGreaterThan(0)
    process.kill(toolPid, sig)
  }
  process.kill(target === 'group' ? -(child.pid as number) : (child.pid as number), sig)
  const r = await end
  expect(
    await readdir(outDir),
    `${tool} ${sig} ${target} (exit ${r.code}, ${r.signal}): ${r.output}`,
  ).toEqual(before)
  expect(toolsLeft()).toEqual([])
  return r
}

describe('airlock sif build, interrupted', () => {
  const cases: Array<[Tool, Sig, Target]> = [
    ['tar2sqfs', 'SIGINT', 'process'],
    ['tar2sqfs', 'SIGINT', 'group'],
    ['tar2sqfs', 'SIGTERM', 'process'],
    ['tar2sqfs', 'SIGTERM', 'group'],
    ['tar2sqfs', 'SIGHUP', 'process'],
    ['tar2sqfs', 'SIGHUP', 'group'],
    ['mksquashfs', 'SIGINT', 'group'],
    ['mksquashfs', 'SIGTERM', 'process'],
    ['mksquashfs', 'SIGHUP', 'group'],
    ['tar2sqfs', 'SIGTERM', 'every'],
    ['mksquashfs', 'SIGTERM', 'every'],
  ]
  it.each(cases)('with %s, by %s to %s: exit 1, "interrupted", nothing left', async (tool, sig, target) => {
    const r = await interrupt(tool, sig, target)
    expect(r.signal, r.output).toBeNull()
    expect(r.code, r.output).toBe(1)
    expect(r.output).toContain(`Error: building ${join(outDir, 'big.sif')} was interrupted by ${sig}`)
  })

  it('under a terminal: Ctrl-C typed into it (util-linux script), with the listr2 renderer', async () => {
    const before = await freshOutDir('tty')
    const command = [
      'stty cols 120;', // a bar needs 40 columns; script's terminal starts with none
      'exec',
      process.execPath,
      BIN,
      'sif build --builder builtin',
      archive,
      '-o',
      join(outDir, 'big.sif'),
    ].join(' ')
    // -e: script exits with airlock's status; its stdin is forwarded to the terminal as typed keys.
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: isolatedEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    started.push(child)
    let output = ''
    child.stdout?.on('data', (d) => {
      output += d
    })
    const end = ended(child, () => output)
    await buildUnderWay(child)
    child.stdin?.write('\x03') // the terminal sends SIGINT to its foreground process group
    const r = await end
    expect(r.code, r.output).toBe(1)
    expect(r.output).toContain('^C') // echoed by the terminal
    // listr2's failed-task mark: its terminal renderer was on.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the colours around it
    expect(r.output).toMatch(/\u2716(\u001b\[\d+m)* building/)
    expect(r.output).toContain(`building ${join(outDir, 'big.sif')} was interrupted by SIGINT`)
    expect(await readdir(outDir), r.output).toEqual(before)
    expect(toolsLeft()).toEqual([])
  })
})
