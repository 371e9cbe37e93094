/**
 * mirror: `airlock mirror` beside `skopeo sync` on the same local registries.
 *
 * - cold: 20 small images (two layers each, different repositories) into a fresh registry; whole-process
 *   wall time of each tool (target: airlock ≤ 0.7× skopeo sync).
 * - no-op: a second run over 100 tags of one repository that are all at the target already; requests
 *   the source registry received (counted by a proxy in front of it) and wall time (target: ≤ 1
 *   request per tag and ≤ 2 s), skopeo sync's figures beside.
 *
 *   npx tsx bench/mirror.mts [--trials 3]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { makeImage, pushRaw } from '../test/helpers/images.js'
import { startProxy } from '../test/helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js'
import {
  type BenchResult,
  BIN,
  ENV,
  isMain,
  log,
  median,
  numArg,
  row,
  standalone,
  type Timed,
  timed,
} from './lib.mjs'

const work = mkdtempSync(path.join(tmpdir(), 'airlock-bench-mirror-'))
process.on('exit', () => rmSync(work, { recursive: true, force: true }))

function airlockSpec(name: string, target: TestRegistry, images: string[]): string {
  const file = path.join(work, `${name}.yaml`)
  writeFileSync(
    file,
    `defaults:\n  target: ${target.host}\n  project: m\n  naming: keep-path\nimages:\n${images.map((i) => `  - ${i}\n`).join('')}`,
  )
  return file
}

/** skopeo sync's YAML source: registry → repository → tags. */
function skopeoSpec(name: string, srcHost: string, repos: Record<string, string[]>): string {
  const file = path.join(work, `${name}-skopeo.yaml`)
  const lines = [`${srcHost}:`, '  tls-verify: false', '  images:']
  for (const [repo, tags] of Object.entries(repos))
    lines.push(`    ${repo}: [${tags.map((t) => JSON.stringify(t)).join(', ')}]`)
  writeFileSync(file, `${lines.join('\n')}\n`)
  return file
}

async function run(
  tool: 'airlock' | 'skopeo',
  airlockFile: string,
  skopeoFile: string,
  dst: TestRegistry,
): Promise<Timed> {
  const r =
    tool === 'airlock'
      ? await timed(
          process.execPath,
          [
            BIN,
            'mirror',
            airlockFile,
            '--json',
            '--lock',
            `${airlockFile}.lock`,
            '--state',
            `${airlockFile}.state`,
          ],
          { env: ENV },
        )
      : await timed(
          'skopeo',
          [
            'sync',
            '--src',
            'yaml',
            '--dest',
            'docker',
            '--dest-tls-verify=false',
            '--preserve-digests',
            skopeoFile,
            `${dst.host}/m`,
          ],
          { env: ENV },
        )
  if (r.code !== 0) throw new Error(`${tool} exited ${r.code}: ${r.stderr.slice(-2000)}`)
  return r
}

export async function mirrorBench(trials = numArg('trials', 3)): Promise<BenchResult> {
  const src = await startRegistry()
  const proxy = await startProxy(src.host)
  try {
    // 20 small images, each its own repository.
    const repos: Record<string, string[]> = {}
    for (let i = 0; i < 20; i++) {
      await pushRaw(
        src,
        `small/img${i}`,
        '1',
        await makeImage({ layerSizes: [200_000, 50_000], seed: 9000 + i }),
      )
      repos[`small/img${i}`] = ['1']
    }
    // 100 tags of one repository.
    const tags = Array.from({ length: 100 }, (_, i) => `t${i}`)
    for (const t of tags)
      await pushRaw(
        src,
        'many/app',
        t,
        await makeImage({ layerSizes: [2_000], seed: 10_000 + Number(t.slice(1)) }),
      )
    log(`mirror: 20 small images and 100 tags pushed; ${trials} trials`)

    const cold: Record<'airlock' | 'skopeo', number[]> = { airlock: [], skopeo: [] }
    for (let trial = 0; trial < trials; trial++) {
      for (const tool of trial % 2 ? (['skopeo', 'airlock'] as const) : (['airlock', 'skopeo'] as const)) {
        const dst = await startRegistry()
        try {
          const a = airlockSpec(
            `cold-${tool}-${trial}`,
            dst,
            Object.keys(repos).map((r) => `"${proxy.host}/${r}:1"`),
          )
          const s = skopeoSpec(`cold-${trial}`, proxy.host, repos)
          const r = await run(tool, a, s, dst)
          cold[tool].push(r.seconds)
          log(`mirror cold ${trial + 1}/${trials} ${tool.padEnd(7)} ${r.seconds.toFixed(3)} s`)
        } finally {
          await dst.stop()
        }
      }
    }

    // No-op: populate once with each tool, then count what a second run asks of the source.
    const noop: Record<'airlock' | 'skopeo', { seconds: number[]; requests: number[] }> = {
      airlock: { seconds: [], requests: [] },
      skopeo: { seconds: [], requests: [] },
    }
    for (const tool of ['airlock', 'skopeo'] as const) {
      const dst = await startRegistry()
      try {
        const a = airlockSpec(`noop-${tool}`, dst, [
          `{ source: "${proxy.host}/many/app", tags: [${tags.map((t) => `"${t}"`).join(', ')}] }`,
        ])
        const s = skopeoSpec('noop', proxy.host, { 'many/app': tags })
        await run(tool, a, s, dst)
        for (let trial = 0; trial < trials; trial++) {
          const before = proxy.hits.length
          const r = await run(tool, a, s, dst)
          noop[tool].seconds.push(r.seconds)
          noop[tool].requests.push(proxy.hits.length - before)
          log(
            `mirror no-op ${trial + 1}/${trials} ${tool.padEnd(7)} ${r.seconds.toFixed(3)} s, ${proxy.hits.length - before} source requests`,
          )
        }
      } finally {
        await dst.stop()
      }
    }
    const ca = median(cold.airlock)
    const cs = median(cold.skopeo)
    const na = median(noop.airlock.seconds)
    const ns = median(noop.skopeo.seconds)
    const ra = median(noop.airlock.requests)
    const rs = median(noop.skopeo.requests)
    return {
      name: 'mirror',
      rows: [
        row('mirror', '20 small images, cold (median wall)', 's', ca, cs, 'ratio ≤ 0.7', ca / cs <= 0.7),
        row('mirror', 'no-op over 100 tags (median wall)', 's', na, ns, 'airlock ≤ 2 s', na <= 2),
        row(
          'mirror',
          'no-op: source requests per tag',
          'req',
          ra / 100,
          rs / 100,
          'airlock ≤ 1',
          ra / 100 <= 1,
        ),
      ],
      details: { trials, cold, noop },
    }
  } finally {
    await proxy.stop()
    await src.stop()
  }
}

if (isMain(import.meta.url)) await standalone('mirror', () => mirrorBench())
