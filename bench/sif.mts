/**
 * sif: the built-in SIF converter beside bare tar2sqfs on the same machine, in the same run.
 *
 * - time: `airlock sif build ARCHIVE -o OUT.sif --builder builtin` (whole process: reading the
 *   docker-archive, flattening, /.singularity.d, tar2sqfs, the SIF container) against
 *   `tar2sqfs` alone on the same already-flattened tar (written beforehand by airlock's flattener),
 *   with the same options airlock passes it (target: ≤ 1.2×);
 * - extra disk: the most bytes of temporary files (tmpdir and the output's temp name) seen during
 *   the build, beyond the final output, sampled every 20 ms (target: ≤ the output size);
 * - memory: peak RSS of the build for a small and a large image (target: flat as the image grows).
 *
 *   npx tsx bench/sif.mts [--trials 3] [--mb 550]
 */
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { writeLegacyDockerArchive } from '../test/helpers/archives.js'
import { makeImage } from '../test/helpers/images.js'
import {
  type BenchResult,
  BIN,
  dirBytes,
  ENV,
  isMain,
  log,
  measured,
  median,
  numArg,
  row,
  standalone,
} from './lib.mjs'

const MB = 1024 * 1024
const work = mkdtempSync(path.join(tmpdir(), 'airlock-bench-sif-'))
process.on('exit', () => rmSync(work, { recursive: true, force: true }))

async function archiveOf(name: string, totalMb: number): Promise<string> {
  const n = 5
  const img = await makeImage({
    layerSizes: Array.from({ length: n }, () => Math.floor((totalMb * MB) / n)),
    seed: 4242 + totalMb,
    compress: false,
  })
  const file = path.join(work, `${name}.tar`)
  await writeLegacyDockerArchive(file, [{ image: img, repoTags: [`bench/${name}:1`] }])
  return file
}

/** The flattened rootfs tar of the archive, by airlock's own flattener (built dist). */
async function flatTar(archive: string): Promise<string> {
  const root = path.resolve(import.meta.dirname, '..')
  const { openImageForSif } = await import(path.join(root, 'dist/lib/sif/open-image.js'))
  const { flattenInto } = await import(path.join(root, 'dist/lib/sif/flatten.js'))
  const image = await openImageForSif(`docker-archive:${archive}`)
  const out = path.join(work, 'flat.tar')
  // flattenInto, as sif build: it reads the layers again with a plan when they need one.
  await flattenInto(image.layers, {}, (tar: NodeJS.ReadableStream) => pipeline(tar, createWriteStream(out)))
  await image.close()
  return out
}

async function buildMeasured(archive: string, out: string, tmp: string) {
  rmSync(out, { force: true })
  let peak = 0
  const outDir = path.dirname(out)
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, dirBytes(tmp) + dirBytes(outDir))
    } catch {
      // a file vanished while listing: take the next sample
    }
  }, 20)
  try {
    const r = await measured(
      process.execPath,
      [BIN, 'sif', 'build', '--builder', 'builtin', '--quiet', '--tmpdir', tmp, archive, '-o', out],
      ENV,
    )
    const size = statSync(out).size
    return { ...r, size, extraDisk: Math.max(0, peak - size) }
  } finally {
    clearInterval(timer)
  }
}

export async function sifBench(
  trials = numArg('trials', 3),
  totalMb = numArg('mb', 550),
): Promise<BenchResult> {
  log(`sif: generating a ${totalMb} MiB docker-archive (5 uncompressed layers) and a 60 MiB one`)
  const big = await archiveOf('big', totalMb)
  const small = await archiveOf('small', 60)
  const flat = await flatTar(big)
  log(`sif: flattened tar ${(statSync(flat).size / MB).toFixed(0)} MiB`)
  const tmp = path.join(work, 'tmp')
  const outDir = path.join(work, 'out')
  mkdirSync(tmp)
  mkdirSync(outDir)
  const jobs = String(availableParallelism())
  const runs = {
    airlock: [] as number[],
    tar2sqfs: [] as number[],
    extra: [] as number[],
    size: 0,
    rssBig: 0,
    rssSmall: 0,
  }
  for (let t = 0; t < trials; t++) {
    const a = await buildMeasured(big, path.join(outDir, 'big.sif'), tmp)
    runs.airlock.push(a.seconds)
    runs.extra.push(a.extraDisk)
    runs.size = a.size
    runs.rssBig = Math.max(runs.rssBig, a.maxRssKB ?? 0)
    const sq = path.join(work, 'peer.sqfs')
    rmSync(sq, { force: true })
    const p = await measured(
      'sh',
      [
        '-c',
        `exec tar2sqfs --quiet --force --no-skip --compressor gzip --num-jobs ${jobs} --defaults uid=0,gid=0,mode=0755,mtime=0 "${sq}" < "${flat}"`,
      ],
      ENV,
    )
    runs.tar2sqfs.push(p.seconds)
    log(
      `sif ${t + 1}/${trials}: airlock ${a.seconds.toFixed(2)} s (extra disk ${(a.extraDisk / MB).toFixed(0)} MiB, output ${(a.size / MB).toFixed(0)} MiB, RSS ${((a.maxRssKB ?? 0) / 1024).toFixed(0)} MB); tar2sqfs ${p.seconds.toFixed(2)} s`,
    )
  }
  const s = await buildMeasured(small, path.join(outDir, 'small.sif'), tmp)
  runs.rssSmall = s.maxRssKB ?? 0
  const a = median(runs.airlock)
  const p = median(runs.tar2sqfs)
  const extra = Math.max(...runs.extra)
  return {
    name: 'sif',
    rows: [
      row(
        'sif',
        `built-in conversion vs bare tar2sqfs, ${totalMb} MiB image (median wall)`,
        's',
        a,
        p,
        'ratio ≤ 1.2',
        a / p <= 1.2,
      ),
      row(
        'sif',
        'extra disk during the build (max)',
        'MiB',
        extra / MB,
        null,
        `≤ output ${(runs.size / MB).toFixed(0)} MiB`,
        extra <= runs.size,
      ),
      row(
        'sif',
        `peak RSS: 60 MiB image / ${totalMb} MiB image`,
        'MB',
        runs.rssSmall / 1024,
        null,
        'flat as the image grows',
      ),
      row(
        'sif',
        `peak RSS: ${totalMb} MiB image`,
        'MB',
        runs.rssBig / 1024,
        null,
        '',
        runs.rssBig < runs.rssSmall * 1.5,
      ),
    ],
    details: { trials, totalMb, runs },
  }
}

if (isMain(import.meta.url)) await standalone('sif', () => sifBench())
