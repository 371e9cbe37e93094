/**
 * copy-large: throughput of a registry-to-registry copy of one large single-platform image
 * (default 5 layers × 110 MiB of incompressible data, gzip level 1), airlock vs skopeo.
 *
 * The image is generated and pushed to a source registry once; every trial copies it into a
 * registry started for that trial alone, so nothing can be skipped or mounted. Trials alternate
 * which tool goes first. Reports median wall seconds of the whole process and airlock/skopeo.
 *
 *   npx tsx bench/copy-large.mts [--trials 3] [--layers 5] [--layer-mb 110]
 */
import {
  airlockInnerSeconds,
  type BenchResult,
  copyTrials,
  isMain,
  log,
  MB,
  median,
  numArg,
  prepareSource,
  row,
  standalone,
  type Timed,
} from './lib.mjs'

export interface CopyLargeOptions {
  trials: number
  layers: number
  layerMB: number
}

export function copyLargeOptions(argv = process.argv.slice(2)): CopyLargeOptions {
  return {
    trials: numArg('trials', 3, argv),
    layers: numArg('layers', 5, argv),
    layerMB: numArg('layer-mb', 110, argv),
  }
}

export async function copyLarge(opts: CopyLargeOptions = copyLargeOptions()): Promise<BenchResult> {
  log(`copy-large: generating ${opts.layers} × ${opts.layerMB} MiB (gzip level 1) and pushing it`)
  const src = await prepareSource('large', { layerSizes: Array(opts.layers).fill(opts.layerMB * MB) })
  log(
    `copy-large: ${(src.bytes / MB).toFixed(0)} MiB; generated in ${src.generateSeconds} s, pushed in ${src.pushSeconds} s`,
  )
  const runs = await copyTrials('copy-large', src, opts.trials).finally(() => src.reg.stop())

  const wall = (rs: Timed[]) => median(rs.map((r) => r.seconds))
  const cpu = (rs: Timed[]) => median(rs.map((r) => r.userSeconds! + r.systemSeconds!))
  const [a, s] = [wall(runs.airlock), wall(runs.skopeo)]
  const inner = median(runs.airlock.map(airlockInnerSeconds))
  const mibps = (sec: number) => src.bytes / MB / sec
  return {
    name: 'copy-large',
    rows: [
      row('copy-large', 'median wall time', 's', a, s, 'ratio ≤ 1.0', a / s <= 1.0),
      row('copy-large', 'throughput (from median)', 'MiB/s', mibps(a), mibps(s)),
      row('copy-large', 'median CPU time (user+sys)', 's', cpu(runs.airlock), cpu(runs.skopeo)),
      row('copy-large', 'airlock: copy itself (--json seconds)', 's', inner, null),
    ],
    details: {
      ...opts,
      bytes: src.bytes,
      layerSizes: src.layerSizes,
      wallSeconds: { airlock: runs.airlock.map((r) => r.seconds), skopeo: runs.skopeo.map((r) => r.seconds) },
      airlockInnerSeconds: runs.airlock.map(airlockInnerSeconds),
      generateSeconds: src.generateSeconds,
      pushSeconds: src.pushSeconds,
    },
  }
}

if (isMain(import.meta.url)) await standalone('copy-large', () => copyLarge())
