/**
 * bundle: `airlock bundle create` + `airlock bundle push` beside `skopeo sync` to a `dir:` layout and
 * back (`--src yaml --dest dir`, then `--src dir --dest docker`, both --preserve-digests), the
 * nearest skopeo has to carrying many images across an air gap. Whole-process wall time of the two
 * steps of each tool, interleaved trials, into a fresh registry each time.
 *
 * Two image sets of 20 images each:
 * - small: the mirror benchmark's set (two layers of 200 kB and 50 kB, nothing shared);
 * - shared: images built on two common base layers (8 MB each) with a 2 MB layer of their own, as
 *   a fleet of images FROM the same distribution is. skopeo's dir: copies keep one copy per image.
 *
 * Targets (issue 8): airlock ≤ 1.0× skopeo's time; the bundle no bigger than the sum of its
 * unique blobs plus 1%.
 *
 *   npx tsx bench/bundle.mts [--trials 3]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { type GeneratedImage, makeImage, pushRaw } from '../test/helpers/images.js'
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js'
import {
  type BenchResult,
  BIN,
  dirBytes,
  ENV,
  isMain,
  log,
  median,
  numArg,
  row,
  standalone,
  timed,
} from './lib.mjs'

const work = mkdtempSync(path.join(tmpdir(), 'airlock-bench-bundle-'))
process.on('exit', () => rmSync(work, { recursive: true, force: true }))

type Tool = 'airlock' | 'skopeo'

async function ok(tool: string, args: string[], cmd: string) {
  const r = await timed(cmd, args, { env: ENV })
  if (r.code !== 0 && r.code !== null)
    throw new Error(`${tool} ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`)
  return r
}

/** Both steps of one tool; returns wall seconds and the size of what was carried. */
async function roundTrip(tool: Tool, src: TestRegistry, repos: string[], tag: string) {
  const dst = await startRegistry()
  const dir = mkdtempSync(path.join(work, `${tool}-`))
  try {
    if (tool === 'airlock') {
      const file = path.join(dir, 'images.tar')
      const refs = repos.map((r) => `${src.host}/${r}:${tag}`)
      const a = await ok(
        'airlock',
        [BIN, 'bundle', 'create', '-o', file, '--tls-verify=false', '--json', ...refs],
        process.execPath,
      )
      const b = await ok(
        'airlock',
        [BIN, 'bundle', 'push', file, '--to', `${dst.host}/m`, '--tls-verify=false', '--json'],
        process.execPath,
      )
      return {
        seconds: a.seconds + b.seconds,
        create: a.seconds,
        push: b.seconds,
        carried: statSync(file).size,
      }
    }
    const spec = path.join(dir, 'sync.yaml')
    writeFileSync(
      spec,
      `${src.host}:\n  tls-verify: false\n  images:\n${repos.map((r) => `    ${r}: ["${tag}"]\n`).join('')}`,
    )
    const out = path.join(dir, 'layout')
    const a = await ok(
      'skopeo',
      ['sync', '--src', 'yaml', '--dest', 'dir', '--preserve-digests', spec, out],
      'skopeo',
    )
    const b = await ok(
      'skopeo',
      [
        'sync',
        '--src',
        'dir',
        '--dest',
        'docker',
        '--dest-tls-verify=false',
        '--preserve-digests',
        out,
        `${dst.host}/m`,
      ],
      'skopeo',
    )
    return { seconds: a.seconds + b.seconds, create: a.seconds, push: b.seconds, carried: dirBytes(out) }
  } finally {
    await dst.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

function uniqueBytes(images: GeneratedImage[]): number {
  const seen = new Map<string, number>()
  for (const i of images)
    for (const b of [i.manifest, i.config, ...i.layers]) seen.set(b.digest, b.bytes.length)
  return [...seen.values()].reduce((a, b) => a + b, 0)
}

export async function bundleBench(trials = numArg('trials', 3)): Promise<BenchResult> {
  const src = await startRegistry()
  try {
    const sets: Record<string, { repos: string[]; images: GeneratedImage[] }> = {
      small: { repos: [], images: [] },
      shared: { repos: [], images: [] },
    }
    for (let i = 0; i < 20; i++) {
      const img = await makeImage({ layerSizes: [200_000, 50_000], seed: 9000 + i })
      await pushRaw(src, `small/img${i}`, '1', img)
      sets.small.repos.push(`small/img${i}`)
      sets.small.images.push(img)
    }
    // Shared bases: same seed and size give byte-identical first layers.
    const bases = [
      await makeImage({ layerSizes: [8_000_000], seed: 7000 }),
      await makeImage({ layerSizes: [8_000_000], seed: 7001 }),
    ]
    for (let i = 0; i < 20; i++) {
      const own = await makeImage({ layerSizes: [2_000_000], seed: 7100 + i })
      const base = bases[i % 2].layers[0]
      const img = await makeImage({ layerSizes: [2_000_000], seed: 7100 + i })
      // Put the base layer first: a manifest and config that name both layers.
      const manifest = JSON.parse(img.manifest.bytes.toString())
      manifest.layers = [
        { mediaType: base.mediaType, digest: base.digest, size: base.bytes.length },
        ...manifest.layers,
      ]
      const config = JSON.parse(img.config.bytes.toString())
      config.rootfs.diff_ids = [
        JSON.parse(bases[i % 2].config.bytes.toString()).rootfs.diff_ids[0],
        ...config.rootfs.diff_ids,
      ]
      const { blob } = await import('../test/helpers/images.js')
      const cfg = blob(Buffer.from(JSON.stringify(config)), img.config.mediaType)
      manifest.config = { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.bytes.length }
      const combined: GeneratedImage = {
        ...img,
        config: cfg,
        layers: [base, ...own.layers],
        manifest: blob(Buffer.from(JSON.stringify(manifest)), img.manifest.mediaType),
      }
      await pushRaw(src, `shared/img${i}`, '1', combined)
      sets.shared.repos.push(`shared/img${i}`)
      sets.shared.images.push(combined)
    }
    log(`bundle: 2 sets of 20 images pushed; ${trials} trials`)
    const rows = []
    const details: Record<string, unknown> = { trials }
    for (const [name, set] of Object.entries(sets)) {
      const times: Record<Tool, number[]> = { airlock: [], skopeo: [] }
      const carried: Record<Tool, number> = { airlock: 0, skopeo: 0 }
      for (let t = 0; t < trials; t++) {
        for (const tool of t % 2 ? (['skopeo', 'airlock'] as const) : (['airlock', 'skopeo'] as const)) {
          const r = await roundTrip(tool, src, set.repos, '1')
          times[tool].push(r.seconds)
          carried[tool] = r.carried
          log(
            `bundle ${name} ${t + 1}/${trials} ${tool.padEnd(7)} ${r.seconds.toFixed(3)} s (out ${r.create.toFixed(3)}, in ${r.push.toFixed(3)}), carried ${(r.carried / 1e6).toFixed(2)} MB`,
          )
        }
      }
      const a = median(times.airlock)
      const s = median(times.skopeo)
      const unique = uniqueBytes(set.images)
      rows.push(
        row(
          'bundle',
          `${name}: create + push, 20 images (median wall)`,
          's',
          a,
          s,
          'ratio ≤ 1.0',
          a / s <= 1,
        ),
      )
      rows.push(
        row(
          'bundle',
          `${name}: file carried vs unique blobs`,
          'MB',
          carried.airlock / 1e6,
          carried.skopeo / 1e6,
          `≤ ${((unique * 1.01) / 1e6).toFixed(2)} MB (unique + 1%)`,
          carried.airlock <= unique * 1.01,
        ),
      )
      details[name] = { times, carried, uniqueBlobBytes: unique }
    }
    return { name: 'bundle', rows, details }
  } finally {
    await src.stop()
  }
}

if (isMain(import.meta.url)) await standalone('bundle', () => bundleBench())
