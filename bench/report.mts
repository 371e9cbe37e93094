/**
 * Reporting side of the benchmarks: statistics, result rows and the table, machine facts,
 * bench/results/*.json, command-line options, and the entry point of a benchmark run on its own.
 * (lib.mts re-exports all of it.)
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, realpathSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const RESULTS_DIR = path.join(ROOT, 'bench', 'results')
export const MB = 1024 * 1024

// ---------------------------------------------------------------------------------------------------
// Statistics and formatting
// ---------------------------------------------------------------------------------------------------

export function median(xs: number[]): number {
  if (!xs.length) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export const round = (x: number, digits = 3) => Number(x.toFixed(digits))

/** One line of the result table: a measured quantity for both tools, their ratio, and the target. */
export interface Row {
  bench: string
  metric: string
  unit: string
  airlock: number
  skopeo: number | null
  /** airlock / skopeo */
  ratio: number | null
  /** Human-readable target, e.g. "ratio ≤ 1.0" or "airlock ≤ 150 MB". */
  target: string
  pass: boolean | null
}

/** A row; `ratio` is computed. Target and pass are left empty for rows that are only informative. */
export function row(
  bench: string,
  metric: string,
  unit: string,
  airlock: number,
  skopeo: number | null,
  target = '',
  pass: boolean | null = null,
): Row {
  const ratio = skopeo ? round(airlock / skopeo, 2) : null
  // Three decimals below 10 (seconds), one above (MB, MiB/s, ms).
  const tidy = (x: number) => round(x, Math.abs(x) >= 10 ? 1 : 3)
  return {
    bench,
    metric,
    unit,
    airlock: tidy(airlock),
    skopeo: skopeo === null ? null : tidy(skopeo),
    ratio,
    target,
    pass,
  }
}

export interface BenchResult {
  name: string
  rows: Row[]
  /** Raw samples and parameters, for whoever wants to look closer. */
  details: Record<string, unknown>
}

export function printTable(rows: Row[]): void {
  const head = ['bench', 'metric', 'airlock', 'skopeo', 'ratio', 'target', 'ok']
  const lines = rows.map((r) => [
    r.bench,
    r.metric,
    `${r.airlock} ${r.unit}`,
    r.skopeo === null ? '-' : `${r.skopeo} ${r.unit}`,
    r.ratio === null ? '-' : `${r.ratio}×`,
    r.target,
    r.pass === null ? '' : r.pass ? 'yes' : 'NO',
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  console.log(`\n${fmt(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const l of lines) console.log(fmt(l))
  console.log()
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

// ---------------------------------------------------------------------------------------------------
// Machine facts, results, options
// ---------------------------------------------------------------------------------------------------

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unavailable'
  }
}

export function machine(): Record<string, unknown> {
  const df = sh('df', ['-Pk', tmpdir()]).split('\n')[1]?.split(/\s+/)
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model,
    nproc: Number(sh('nproc', [])),
    memTotalMB: Math.round(totalmem() / MB),
    memFreeMB: Math.round(freemem() / MB),
    tmpdir: tmpdir(),
    tmpFreeGB: df ? round(Number(df[3]) / 1024 / 1024, 1) : null,
    kernel: sh('uname', ['-r']),
    node: process.version,
    skopeo: sh('skopeo', ['--version']),
    registry: sh('docker-registry', ['--version']),
    airlockCommit: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    airlockDirty: sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']) !== '',
    loadavg: loadavg().map((x) => round(x, 2)),
  }
}

export function freeDiskBytes(dir: string): number {
  const st = statfsSync(dir)
  return st.bavail * st.bsize
}

function newestMtime(dir: string): number {
  let newest = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs)
  }
  return newest
}

/** Warns when src/ changed after the last build: the benchmark would measure the old code. */
export function warnIfStale(): void {
  if (newestMtime(path.join(ROOT, 'src')) > newestMtime(path.join(ROOT, 'dist'))) {
    log('warning: src/ is newer than dist/; the benchmark runs the old build (run `npm run build`)')
  }
}

export function writeResults(file: string, doc: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const out = path.join(RESULTS_DIR, file)
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`)
  return out
}

/** `--name value` from argv, as a number. */
export function numArg(name: string, fallback: number, argv = process.argv.slice(2)): number {
  const i = argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const v = Number(argv[i + 1])
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`)
  return v
}

/** True when `moduleUrl` is the script node/tsx was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}

/** Entry point of a benchmark run on its own: run, print, write bench/results/<name>.json. */
export async function standalone(name: string, bench: () => Promise<BenchResult>): Promise<void> {
  warnIfStale()
  const info = machine()
  log(`${name}: nproc ${info.nproc}, ${info.tmpFreeGB} GB free in ${info.tmpdir}, load ${info.loadavg}`)
  const result = await bench()
  printTable(result.rows)
  log(`wrote ${writeResults(`${name}.json`, { machine: info, results: [result] })}`)
}
