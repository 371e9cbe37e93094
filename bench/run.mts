/**
 * Runs the benchmarks (all, or those picked with --only), prints one table, and writes
 * bench/results/latest.json (machine facts, every row, raw samples, errors).
 *
 *   npm run bench                                  # build, then everything (~5 min)
 *   npm run bench -- --only copy-small,cold-start  # some of them
 *   npm run bench -- --skip memory
 *
 * Options of the single benchmarks (--trials, --runs, --layers, --layer-mb) pass through; --trials
 * applies to every benchmark that has it.
 */
import { bundleBench } from './bundle.mjs'
import { coldStart } from './cold-start.mjs'
import { copyLarge } from './copy-large.mjs'
import { copySmall } from './copy-small.mjs'
import { type BenchResult, log, machine, printTable, warnIfStale, writeResults } from './lib.mjs'
import { memory } from './memory.mjs'
import { mirrorBench } from './mirror.mjs'
import { objectstoreBench } from './objectstore.mjs'
import { sifBench } from './sif.mjs'

const BENCHMARKS: Record<string, () => Promise<BenchResult>> = {
  'cold-start': () => coldStart(),
  'copy-small': () => copySmall(),
  'copy-large': () => copyLarge(),
  memory: () => memory(),
  mirror: () => mirrorBench(),
  bundle: () => bundleBench(),
  objectstore: () => objectstoreBench(),
  sif: () => sifBench(),
}

function listArg(name: string): string[] {
  const argv = process.argv.slice(2)
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) out.push(...(argv[++i] ?? '').split(','))
    else if (argv[i]!.startsWith(`--${name}=`)) out.push(...argv[i]!.slice(name.length + 3).split(','))
  }
  return out.filter(Boolean)
}

const only = listArg('only')
const skip = listArg('skip')
for (const n of [...only, ...skip]) {
  if (!BENCHMARKS[n])
    throw new Error(`unknown benchmark "${n}"; known: ${Object.keys(BENCHMARKS).join(', ')}`)
}
const selected = Object.keys(BENCHMARKS).filter(
  (n) => (!only.length || only.includes(n)) && !skip.includes(n),
)

warnIfStale()
const before = machine()
log(
  `running ${selected.join(', ')} on ${before.nproc} CPUs (${before.cpu}), ${before.tmpFreeGB} GB free in ${before.tmpdir}`,
)
const results: BenchResult[] = []
const errors: Record<string, string> = {}
for (const name of selected) {
  const started = performance.now()
  try {
    results.push(await BENCHMARKS[name]!())
    log(`${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  } catch (err) {
    errors[name] = (err as Error).stack ?? String(err)
    log(`${name} FAILED: ${(err as Error).message}`)
  }
}

printTable(results.flatMap((r) => r.rows))
const file = writeResults('latest.json', { machine: before, loadAfter: machine().loadavg, results, errors })
log(`wrote ${file}`)
if (Object.keys(errors).length) process.exitCode = 1
