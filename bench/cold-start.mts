/**
 * cold-start: how long `airlock --version` and `airlock --help` take as whole processes, beside
 * `skopeo --version` / `skopeo --help`, and `node -e 0` (the floor any Node CLI pays).
 *
 * Uses hyperfine (apt-get install hyperfine) when it is on PATH: 3 warm-up runs, then --runs each,
 * no intermediate shell. Otherwise spawns each command --runs times itself, interleaved.
 * Target: airlock --version ≤ 150 ms (median).
 *
 *   npx tsx bench/cold-start.mts [--runs 20]
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
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
  round,
  row,
  standalone,
  timed,
} from './lib.mjs'

const COMMANDS = {
  'airlock --version': [process.execPath, BIN, '--version'],
  'airlock --help': [process.execPath, BIN, '--help'],
  'skopeo --version': ['skopeo', '--version'],
  'skopeo --help': ['skopeo', '--help'],
  'node -e 0': [process.execPath, '-e', '0'],
} as const

type Name = keyof typeof COMMANDS
const NAMES = Object.keys(COMMANDS) as Name[]

function hasHyperfine(): boolean {
  try {
    execFileSync('hyperfine', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Seconds of every run per command, measured by hyperfine. */
function withHyperfine(runs: number): Record<Name, number[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-hyperfine-'))
  try {
    const out = path.join(dir, 'out.json')
    const args = ['-N', '--warmup', '3', '--runs', String(runs), '--style', 'none', '--export-json', out]
    for (const n of NAMES) args.push('--command-name', n, COMMANDS[n].join(' '))
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
async function withSpawns(runs: number): Promise<Record<Name, number[]>> {
  const times = Object.fromEntries(NAMES.map((n) => [n, [] as number[]])) as Record<Name, number[]>
  for (let i = -1; i < runs; i++) {
    for (const n of i % 2 ? NAMES : [...NAMES].reverse()) {
      const [cmd, ...args] = COMMANDS[n]
      const r = await timed(cmd, args)
      if (r.code !== 0) throw new Error(`${n} exited ${r.code}: ${r.stderr}`)
      if (i >= 0) times[n].push(r.seconds)
    }
  }
  return times
}

export async function coldStart(runs = numArg('runs', 20)): Promise<BenchResult> {
  const tool = hasHyperfine() ? 'hyperfine' : 'spawn loop'
  log(`cold-start: ${runs} runs per command with ${tool}`)
  const times = tool === 'hyperfine' ? withHyperfine(runs) : await withSpawns(runs)
  const ms = (n: Name) => round(median(times[n]) * 1000, 1)
  const version = ms('airlock --version')
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
    ],
    details: { runs, measuredWith: tool, secondsPerRun: times },
  }
}

if (isMain(import.meta.url)) await standalone('cold-start', () => coldStart())
