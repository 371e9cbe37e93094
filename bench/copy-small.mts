/**
 * copy-small: a small image (three layers of 1, 2 and 1 MiB), where start-up and request latency
 * dominate: whole-process wall time of `airlock copy` vs `skopeo copy`, start-up included.
 *
 * Each trial copies into a registry started for that trial alone; trials alternate which tool goes
 * first, after one untimed copy each. Also shows the copy time airlock measures itself (`seconds`
 * of --json), so the cost of starting and ending the process shows.
 *
 *   npx tsx bench/copy-small.mts [--trials 15]
 */
import {
  airlockInnerSeconds,
  type BenchResult,
  copyToFresh,
  copyTrials,
  isMain,
  log,
  MB,
  median,
  numArg,
  orderFor,
  prepareSource,
  row,
  standalone,
} from './lib.mjs'

export async function copySmall(trials = numArg('trials', 15)): Promise<BenchResult> {
  const src = await prepareSource('small', { layerSizes: [1 * MB, 2 * MB, 1 * MB] })
  log(`copy-small: ${(src.bytes / MB).toFixed(1)} MiB in ${src.blobs} blobs; ${trials} trials per tool`)
  const runs = await (async () => {
    // One untimed copy each, so the first timed trial does not pay for cold disk caches alone.
    for (const tool of orderFor(0)) await copyToFresh(tool, src)
    return copyTrials('copy-small', src, trials)
  })().finally(() => src.reg.stop())

  const a = median(runs.airlock.map((r) => r.seconds))
  const s = median(runs.skopeo.map((r) => r.seconds))
  const inner = median(runs.airlock.map(airlockInnerSeconds))
  return {
    name: 'copy-small',
    rows: [
      row('copy-small', 'median wall time', 's', a, s, 'ratio ≤ 1.5', a / s <= 1.5),
      row('copy-small', 'airlock: copy itself (--json seconds)', 's', inner, null),
      row('copy-small', 'airlock: the rest (start-up, exit)', 's', a - inner, null),
    ],
    details: {
      trials,
      bytes: src.bytes,
      layerSizes: src.layerSizes,
      wallSeconds: { airlock: runs.airlock.map((r) => r.seconds), skopeo: runs.skopeo.map((r) => r.seconds) },
      airlockInnerSeconds: runs.airlock.map(airlockInnerSeconds),
    },
  }
}

if (isMain(import.meta.url)) await standalone('copy-small', () => copySmall())
