/**
 * memory: peak resident memory (max RSS from /usr/bin/time -v) of a registry-to-registry copy of a
 * ~2 GiB image (default 8 uncompressed layers × 256 MiB), airlock vs skopeo. airlock streams every
 * blob, so its peak should not grow with the image: the target is an absolute ≤ 150 MB.
 *
 * Needs about 2 × the image size free in $TMPDIR (source registry + one destination registry at a
 * time; each destination is removed after its trial) and the image size in free RAM to generate it.
 *
 *   npx tsx bench/memory.mts [--trials 2] [--layers 8] [--layer-mb 256]
 */
import { freemem, tmpdir } from 'node:os'
import {
  type BenchResult,
  copyTrials,
  freeDiskBytes,
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

export interface MemoryOptions {
  trials: number
  layers: number
  layerMB: number
}

export function memoryOptions(argv = process.argv.slice(2)): MemoryOptions {
  return {
    trials: numArg('trials', 2, argv),
    layers: numArg('layers', 8, argv),
    layerMB: numArg('layer-mb', 256, argv),
  }
}

/** Target for airlock's peak RSS, in MB (10^6 bytes). */
const TARGET_MB = 150

export async function memory(opts: MemoryOptions = memoryOptions()): Promise<BenchResult> {
  const imageBytes = opts.layers * opts.layerMB * MB
  const needDisk = 2 * imageBytes + 512 * MB
  const haveDisk = freeDiskBytes(tmpdir())
  if (haveDisk < needDisk) {
    throw new Error(
      `memory: needs ${(needDisk / 2 ** 30).toFixed(1)} GiB free in ${tmpdir()}, has ${(haveDisk / 2 ** 30).toFixed(1)}`,
    )
  }
  if (freemem() < imageBytes * 1.5)
    log('memory: warning: little free RAM to generate the image; this may swap')

  log(`memory: generating ${opts.layers} × ${opts.layerMB} MiB (uncompressed tar) and pushing it`)
  const src = await prepareSource('memory', {
    layerSizes: Array(opts.layers).fill(opts.layerMB * MB),
    compress: false,
  })
  log(
    `memory: ${(src.bytes / MB).toFixed(0)} MiB, generated in ${src.generateSeconds} s, pushed in ${src.pushSeconds} s`,
  )
  const runs = await copyTrials('memory', src, opts.trials).finally(() => src.reg.stop())

  // /usr/bin/time reports KiB; the target is in MB (10^6 bytes).
  const peak = (rs: Timed[]) => Math.max(...rs.map((r) => (r.maxRssKB! * 1024) / 1e6))
  const wall = (rs: Timed[]) => median(rs.map((r) => r.seconds))
  const peakA = peak(runs.airlock)
  return {
    name: 'memory',
    rows: [
      row(
        'memory',
        'peak RSS (max of trials)',
        'MB',
        peakA,
        peak(runs.skopeo),
        `airlock ≤ ${TARGET_MB} MB`,
        peakA <= TARGET_MB,
      ),
      row('memory', 'median wall time', 's', wall(runs.airlock), wall(runs.skopeo)),
    ],
    details: {
      ...opts,
      bytes: src.bytes,
      maxRssKB: { airlock: runs.airlock.map((r) => r.maxRssKB), skopeo: runs.skopeo.map((r) => r.maxRssKB) },
      wallSeconds: { airlock: runs.airlock.map((r) => r.seconds), skopeo: runs.skopeo.map((r) => r.seconds) },
      generateSeconds: src.generateSeconds,
      pushSeconds: src.pushSeconds,
    },
  }
}

if (isMain(import.meta.url)) await standalone('memory', () => memory())
