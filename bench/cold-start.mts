/**
 * cold-start: how long `airlock --version` and `airlock --help` take as whole processes, beside
 * `skopeo --version` / `skopeo --help`, and `node -e 0` (the floor any Node CLI pays). Twice: the
 * build run by this machine's Node, and the release tarball (scripts/release.mjs) unpacked and run
 * through its launcher `bin/airlock` with the Node runtime it carries, as a login node runs it.
 *
 * Uses hyperfine (apt-get install hyperfine) when it is on PATH: 3 warm-up runs, then --runs each,
 * no intermediate shell. Otherwise spawns each command --runs times itself, interleaved.
 * Targets: airlock --version ≤ 150 ms (median); from the release tarball --version and --help too.
 *
 *   npx tsx bench/cold-start.mts [--runs 20] [--release airlock-VERSION-linux-ARCH.tar.gz]
 *
 * Without --release, a tarball for this machine is built first (node scripts/release.mjs --arch
 * ARCH into a temp dir, about half a minute).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  type BenchResult,
  BIN,
  ENV,
  isMain,
  log,
  median,
  numArg,
  ROOT,
  round,
  row,
  standalone,
  timed,
} from './lib.mjs'

const NAMES = [
  'airlock --version',
  'airlock --help',
  'release airlock --version',
  'release airlock --help',
  'skopeo --version',
  'skopeo --help',
  'node -e 0',
  'release runtime/node -e 0',
] as const
type Name = (typeof NAMES)[number]

/** Every command line, given the unpacked release directory (`…/airlock`). */
function commandLines(release: string): Record<Name, string[]> {
  const launcher = path.join(release, 'bin', 'airlock')
  return {
    'airlock --version': [process.execPath, BIN, '--version'],
    'airlock --help': [process.execPath, BIN, '--help'],
    'release airlock --version': [launcher, '--version'],
    'release airlock --help': [launcher, '--help'],
    'skopeo --version': ['skopeo', '--version'],
    'skopeo --help': ['skopeo', '--help'],
    'node -e 0': [process.execPath, '-e', '0'],
    'release runtime/node -e 0': [path.join(release, 'runtime', 'node'), '-e', '0'],
  }
}

function strArg(name: string): string | undefined {
  const argv = process.argv.slice(2)
  const i = argv.indexOf(`--${name}`)
  return i < 0 ? undefined : argv[i + 1]
}

/**
 * The release tarball (--release, or one built now for this machine) unpacked into `dir`; returns
 * the unpacked `airlock/` directory.
 */
function unpackRelease(dir: string): string {
  let tarball = strArg('release')
  if (tarball) {
    tarball = path.resolve(tarball)
  } else {
    const out = path.join(dir, 'out')
    log(`cold-start: building a release tarball for linux-${process.arch} (scripts/release.mjs)`)
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'scripts', 'release.mjs'), '--arch', process.arch, '--out', out],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    const name = readdirSync(out).find((f) => f.endsWith(`-linux-${process.arch}.tar.gz`))
    if (!name) throw new Error(`scripts/release.mjs left no tarball in ${out}`)
    tarball = path.join(out, name)
  }
  const unpacked = path.join(dir, 'unpacked')
  mkdirSync(unpacked)
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked])
  log(`cold-start: release ${path.basename(tarball)} unpacked`)
  return path.join(unpacked, 'airlock')
}

function hasHyperfine(): boolean {
  try {
    execFileSync('hyperfine', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Seconds of every run per command, measured by hyperfine. */
function withHyperfine(runs: number, commands: Record<Name, string[]>): Record<Name, number[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-hyperfine-'))
  try {
    const out = path.join(dir, 'out.json')
    const args = ['-N', '--warmup', '3', '--runs', String(runs), '--style', 'none', '--export-json', out]
    for (const n of NAMES) args.push('--command-name', n, commands[n].join(' '))
    execFileSync('hyperfine', args, { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] })
    const doc = JSON.parse(readFileSync(out, 'utf8')) as {
      results: Array<{ command: string; times: number[] }>
    }
    return Object.fromEntries(doc.results.map((r) => [r.command, r.times])) as Record<Name, number[]>
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Fallback: spawn each command `runs` times, interleaved, after one untimed run each. */
async function withSpawns(runs: number, commands: Record<Name, string[]>): Promise<Record<Name, number[]>> {
  const times = Object.fromEntries(NAMES.map((n) => [n, [] as number[]])) as Record<Name, number[]>
  for (let i = -1; i < runs; i++) {
    for (const n of i % 2 ? NAMES : [...NAMES].reverse()) {
      const [cmd, ...args] = commands[n]
      const r = await timed(cmd!, args)
      if (r.code !== 0) throw new Error(`${n} exited ${r.code}: ${r.stderr}`)
      if (i >= 0) times[n].push(r.seconds)
    }
  }
  return times
}

export async function coldStart(runs = numArg('runs', 20)): Promise<BenchResult> {
  const tool = hasHyperfine() ? 'hyperfine' : 'spawn loop'
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-release-'))
  let times: Record<Name, number[]>
  let releaseVersion: string
  try {
    const commands = commandLines(unpackRelease(dir))
    releaseVersion = execFileSync(commands['release airlock --version'][0]!, ['--version'], {
      encoding: 'utf8',
      env: ENV,
    }).trim()
    log(`cold-start: ${runs} runs per command with ${tool}`)
    times = tool === 'hyperfine' ? withHyperfine(runs, commands) : await withSpawns(runs, commands)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const ms = (n: Name) => round(median(times[n]) * 1000, 1)
  const version = ms('airlock --version')
  const releaseV = ms('release airlock --version')
  const releaseHelp = ms('release airlock --help')
  return {
    name: 'cold-start',
    rows: [
      row(
        'cold-start',
        '--version (median)',
        'ms',
        version,
        ms('skopeo --version'),
        'airlock ≤ 150 ms',
        version <= 150,
      ),
      row('cold-start', '--help (median)', 'ms', ms('airlock --help'), ms('skopeo --help')),
      row('cold-start', 'node -e 0 (floor for any Node CLI)', 'ms', ms('node -e 0'), null),
      row(
        'cold-start',
        'release tarball --version (median)',
        'ms',
        releaseV,
        ms('skopeo --version'),
        'airlock ≤ 150 ms',
        releaseV <= 150,
      ),
      row(
        'cold-start',
        'release tarball --help (median)',
        'ms',
        releaseHelp,
        ms('skopeo --help'),
        'airlock ≤ 150 ms',
        releaseHelp <= 150,
      ),
      row('cold-start', 'release runtime/node -e 0 (its floor)', 'ms', ms('release runtime/node -e 0'), null),
    ],
    details: { runs, measuredWith: tool, release: releaseVersion, secondsPerRun: times },
  }
}

if (isMain(import.meta.url)) await standalone('cold-start', () => coldStart())
