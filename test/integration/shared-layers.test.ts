/**
 * Tags of one repository sharing base layers, copied at the same time (the most common real case),
 * against the real registry: each blob goes to a target repository once per run (uploads counted
 * at a proxy in front of the target equal the unique blobs), images needing a blob in flight wait
 * for it, other repositories of the registry mount it, and cold runs do not fail.
 * AIRLOCK_SHARED_RUNS=50 repeats the cold mirror 50 times (the figure quoted for issue 14).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBundle } from '../../src/lib/bundle/create-bundle.js'
import { pushBundle } from '../../src/lib/bundle/push-bundle.js'
import { runMirror } from '../../src/lib/mirror/run-mirror.js'
import { fetchManifestRaw, type GeneratedImage, makeImagesSharingBase, pushRaw } from '../helpers/images.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

const TAGS = 12
const RUNS = Number(process.env.AIRLOCK_SHARED_RUNS ?? 4)

let src: TestRegistry
let dst: TestRegistry
let proxy: TestProxy
let dir: string
let images: GeneratedImage[]
let others: GeneratedImage[]

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  dir = await mkdtemp(path.join(tmpdir(), 'airlock-shared-'))
  images = await makeImagesSharingBase({
    count: TAGS,
    baseSizes: [400_000, 150_000],
    topSize: 20_000,
    seed: 7,
  })
  // Another repository on the same base (its own tops).
  others = await makeImagesSharingBase({
    count: 3,
    baseSizes: [400_000, 150_000],
    topSize: 20_000,
    seed: 7,
    topSeed: 90_000,
  })
  for (const [i, img] of images.entries()) await pushRaw(src, 'lib/base', `t${i}`, img)
  proxy = await startProxy(dst.host)
}, 120_000)

afterAll(async () => {
  await proxy?.stop()
  await Promise.all([src?.stop(), dst?.stop()])
  await rm(dir, { recursive: true, force: true })
})

function uniqueBlobs(imgs: GeneratedImage[]): Set<string> {
  return new Set(imgs.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.digest)]))
}

/** Completed blob uploads per digest in repository `repo`, as the target saw them. */
function uploadsInto(repo: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const h of proxy.hits) {
    if (h.method !== 'PUT' || !h.url.startsWith(`/v2/${repo}/blobs/uploads/`)) continue
    const digest = new URL(h.url, 'http://x').searchParams.get('digest')
    if (digest) out.set(digest, (out.get(digest) ?? 0) + 1)
  }
  return out
}

function mountsInto(repo: string): number {
  return proxy.hits.filter(
    (h) => h.method === 'POST' && h.url.startsWith(`/v2/${repo}/blobs/uploads/?mount=`) && h.status === 201,
  ).length
}

async function specFile(name: string, project: string, sources: string[]): Promise<string> {
  const file = path.join(dir, `${name}.yaml`)
  await writeFile(
    file,
    `defaults:\n  target: ${proxy.host}\n  project: ${project}\n  concurrency: 6\n  retries: 0\nimages:\n${sources
      .map((s) => `  - source: ${src.host}/${s}\n    all: true\n`)
      .join('')}`,
  )
  return file
}

describe('tags sharing base layers, copied at once', () => {
  it(`a cold mirror of ${TAGS} tags sends each blob once and never fails (${RUNS} cold runs)`, async () => {
    const unique = uniqueBlobs(images)
    expect(unique.size).toBe(2 + 2 * TAGS)
    const failures: string[] = []
    for (let run = 0; run < RUNS; run++) {
      proxy.hits.length = 0
      const project = `cold${run}`
      const report = await runMirror(await specFile(`cold${run}`, project, ['lib/base']), {
        stateFile: path.join(dir, `state-${run}.json`),
        lockFile: path.join(dir, `lock-${run}`),
        jobs: 4,
        env: { HOME: dir },
      })
      for (const i of report.images)
        if (i.action !== 'copied') failures.push(`${run} ${i.target}: ${i.error?.message}`)
      const uploads = uploadsInto(`${project}/base`)
      // Every unique blob exactly once: no layer sent twice, nothing missing.
      expect([...uploads.keys()].sort()).toEqual([...unique].sort())
      expect(Math.max(...uploads.values())).toBe(1)
    }
    expect(failures).toEqual([])
    for (const [i, img] of images.entries()) {
      const m = await fetchManifestRaw(dst, 'cold0/base', `t${i}`)
      expect(m.digest).toBe(img.manifest.digest)
    }
  }, 600_000)

  it('bundle push of tags sharing layers sends the unique blobs once (a 4-tag bundle: 10 uploads)', async () => {
    const four = images.slice(0, 4)
    const bundle = path.join(dir, 'four.tar')
    const created = await createBundle({
      output: bundle,
      refs: four.map((_, i) => `${src.host}/lib/base:t${i}`),
      env: { HOME: dir },
    })
    expect(created.exitCode).toBe(0)
    proxy.hits.length = 0
    const pushed = await pushBundle(bundle, { to: `${proxy.host}/pushed`, concurrency: 4, jobs: 4 })
    expect(pushed.totals.failed).toBe(0)
    const uploads = uploadsInto('pushed/base')
    expect(uploads.size).toBe(uniqueBlobs(four).size)
    expect(uniqueBlobs(four).size).toBe(10)
    expect(Math.max(...uploads.values())).toBe(1)
    // Bytes sent = the unique blobs' bytes, not once per image.
    const uniqueBytes = [
      ...new Map(four.flatMap((i) => [i.config, ...i.layers]).map((b) => [b.digest, b.size])).values(),
    ]
    expect(pushed.totals.bytes).toBe(uniqueBytes.reduce((a, b) => a + b, 0))
  }, 120_000)

  it('a second repository on the same base mounts the base layers instead of sending them again', async () => {
    for (const [i, img] of others.entries()) await pushRaw(src, 'lib/other', `o${i}`, img)
    proxy.hits.length = 0
    const report = await runMirror(await specFile('two', 'two', ['lib/base', 'lib/other']), {
      stateFile: path.join(dir, 'state-two.json'),
      lockFile: path.join(dir, 'lock-two'),
      jobs: 4,
      env: { HOME: dir },
    })
    expect(report.images.filter((i) => i.action !== 'copied')).toEqual([])
    const base = uploadsInto('two/base')
    const other = uploadsInto('two/other')
    const baseLayers = images[0].layers.slice(0, 2).map((l) => l.digest)
    // Each base layer was sent to exactly one of the two repositories and mounted into the other.
    for (const d of baseLayers) expect((base.get(d) ?? 0) + (other.get(d) ?? 0)).toBe(1)
    expect(mountsInto('two/base') + mountsInto('two/other')).toBe(2)
    for (const [i, img] of others.entries())
      expect((await fetchManifestRaw(dst, 'two/other', `o${i}`)).digest).toBe(img.manifest.digest)
  }, 120_000)
})
