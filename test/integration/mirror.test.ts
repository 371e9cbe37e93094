/**
 * `airlock mirror` against real registries on 127.0.0.1: a source registry (seen through a counting,
 * fault-injecting proxy) and fresh targets. The CLI runs dist/ (`npm run build` first).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { acquireLock } from '../../src/lib/mirror/lock.js'
import type { MirrorReport } from '../../src/lib/mirror/types.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { fetchManifestRaw, makeImage, pushRaw } from '../helpers/images.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let src: TestRegistry
let proxy: TestProxy
let dir: string
/** Blob digests the proxy answers with 404 (a source image missing a layer). */
const broken = new Set<string>()
const TAGS = ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0-rc1', 'latest', 'dev-a', 'dev-b']

beforeAll(async () => {
  src = await startRegistry()
  dir = await mkdtemp(join(tmpdir(), 'airlock-mirror-test-'))
  let seed = 500
  for (const tag of TAGS)
    await pushRaw(src, 'lib/app', tag, await makeImage({ layerSizes: [3000, 1000], seed: seed++ }))
  await pushRaw(src, 'lib/tool', 'v1', await makeImage({ layerSizes: [2000], seed: seed++ }))
  const bad = await makeImage({ layerSizes: [2500], seed: seed++ })
  broken.add(bad.layers[0].digest)
  await pushRaw(src, 'lib/bad', '1', bad)
  proxy = await startProxy(src.host, (req) =>
    [...broken].some((d) => req.url?.endsWith(d) && req.method === 'GET')
      ? {
          action: 'respond',
          status: 404,
          body: '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}',
        }
      : undefined,
  )
}, 60_000)

afterAll(async () => {
  await proxy?.stop()
  await src?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function spec(name: string, target: TestRegistry, images: string, defaults = ''): Promise<string> {
  const file = join(dir, `${name}.yaml`)
  await writeFile(
    file,
    `defaults:\n  target: ${target.host}\n  project: mirror\n  retries: 1\n${defaults}images:\n${images}`,
  )
  return file
}

/** Runs `fn` with a fresh target registry, stopped afterwards. */
async function withTarget(fn: (dst: TestRegistry) => Promise<void>): Promise<void> {
  const dst = await startRegistry()
  try {
    await fn(dst)
  } finally {
    await dst.stop()
  }
}

function mirror(args: string[]) {
  return runCli(['mirror', ...args], { env: isolatedEnv(), timeoutMs: 120_000 })
}

describe('airlock mirror', () => {
  it('copies what is selected, then a second run copies nothing with at most one request per tag', () =>
    withTarget(async (dst) => {
      const file = await spec(
        'incremental',
        dst,
        `  - source: ${proxy.host}/lib/app\n    semver: ">=1.1 <3"\n  - source: ${proxy.host}/lib/app\n    include: ['^dev-']\n  - "${proxy.host}/lib/tool:v1"\n`,
      )
      const first = await mirror([file, '--json'])
      expect(first.code, first.stderr).toBe(0)
      const r1 = json<MirrorReport>(first)
      // semver >=1.1 <3 without prereleases: 1.1.0 1.2.0 2.0.0; include ^dev-: dev-a dev-b; and tool:v1.
      expect(r1.images.map((i) => i.target.replace(`docker://${dst.host}/`, '')).sort()).toEqual([
        'mirror/app:1.1.0',
        'mirror/app:1.2.0',
        'mirror/app:2.0.0',
        'mirror/app:dev-a',
        'mirror/app:dev-b',
        'mirror/tool:v1',
      ])
      expect(r1.totals).toMatchObject({ images: 6, copied: 6, failed: 0 })
      for (const i of r1.images) expect(i.targetDigest).toBe(i.sourceDigest)
      expect((await fetchManifestRaw(dst, 'mirror/app', '2.0.0')).status).toBe(200)

      const before = proxy.hits.length
      const second = await mirror([file, '--json'])
      expect(second.code, second.stderr).toBe(0)
      const r2 = json<MirrorReport>(second)
      expect(r2.totals).toMatchObject({ images: 6, copied: 0, skipped: 6 })
      const hits = proxy.hits.slice(before)
      // Listing lib/app (once) plus one HEAD per tag; no GET of any manifest or blob.
      expect(hits.filter((h) => h.method === 'HEAD' && h.url.includes('/manifests/'))).toHaveLength(6)
      expect(
        hits.filter((h) => h.method === 'GET' && !h.url.includes('/tags/list') && h.url !== '/v2/'),
      ).toEqual([])
      expect(hits.filter((h) => h.url.includes('/tags/list'))).toHaveLength(1)
    }))

  it('asks nothing of the source for immutable tags already at the target', () =>
    withTarget(async (dst) => {
      const file = await spec(
        'immutable',
        dst,
        `  - source: ${proxy.host}/lib/app\n    tags: ["1.0.0", "1.1.0"]\n`,
        `  immutable: ['^\\d+\\.\\d+\\.\\d+$']\n`,
      )
      expect((await mirror([file])).code).toBe(0)
      const before = proxy.hits.length
      const again = await mirror([file, '--json'])
      expect(again.code).toBe(0)
      expect(json<MirrorReport>(again).images.map((i) => i.reason)).toEqual([
        'immutable tag already at the target',
        'immutable tag already at the target',
      ])
      expect(proxy.hits.length - before).toBe(0)
    }))

  it('keeps going past a failing image: exit 3, the others copied, every failure in the report', () =>
    withTarget(async (dst) => {
      const file = await spec(
        'partial',
        dst,
        `  - "${proxy.host}/lib/bad:1"\n  - "${proxy.host}/lib/tool:v1"\n  - source: ${proxy.host}/lib/app\n    tags: ["1.0.0", "9.9.9"]\n`,
      )
      const reportFile = join(dir, 'partial-report.json')
      const metricsFile = join(dir, 'partial.prom')
      const r = await mirror([file, '--report', reportFile, '--metrics', metricsFile])
      expect(r.code).toBe(3)
      expect(r.stdout).toMatch(/FAILED +.*lib\/bad:1/)
      const report = JSON.parse(await readFile(reportFile, 'utf8')) as MirrorReport
      const byTarget = Object.fromEntries(
        report.images.map((i) => [i.target.split('/').slice(3).join('/'), i]),
      )
      expect(byTarget['mirror/bad:1'].action).toBe('failed')
      // A missing blob is not worth retrying: one attempt, and the error says which blob.
      expect(byTarget['mirror/bad:1'].attempts).toBe(1)
      expect(byTarget['mirror/bad:1'].error?.message).toMatch(/blob/)
      expect(byTarget['mirror/app:9.9.9'].action).toBe('failed')
      expect(byTarget['mirror/app:9.9.9'].error?.code).toBe('NOT_FOUND')
      expect(byTarget['mirror/tool:v1'].action).toBe('copied')
      expect(byTarget['mirror/app:1.0.0'].action).toBe('copied')
      expect((await fetchManifestRaw(dst, 'mirror/bad', '1')).status).toBe(404)
      const prom = await readFile(metricsFile, 'utf8')
      expect(prom).toMatch(/airlock_mirror_images\{[^}]*action="failed"\} 2/)
      expect(prom).toMatch(/airlock_mirror_exit_code\{[^}]*\} 3/)
    }))

  it('plans without changing anything (--dry-run), and shards cover every image exactly once', () =>
    withTarget(async (dst) => {
      const file = await spec(
        'shards',
        dst,
        `  - source: ${proxy.host}/lib/app\n    all: true\n  - "${proxy.host}/lib/tool:v1"\n  - "${proxy.host}/lib/bad:1"\n`,
        '  naming: keep-path\n',
      )
      const plan = json<MirrorReport>(await mirror([file, '--dry-run', '--json']))
      expect(plan.dryRun).toBe(true)
      expect(plan.images.every((i) => i.action === 'planned')).toBe(true)
      expect(plan.images).toHaveLength(TAGS.length + 2)
      const catalog = await fetch(`${dst.url}/v2/_catalog`).then(
        (x) => x.json() as Promise<{ repositories: string[] }>,
      )
      expect(catalog.repositories).toEqual([])
      const targets = (r: MirrorReport) => r.images.map((i) => i.target)
      const shards = await Promise.all(
        [0, 1, 2].map(async (i) =>
          json<MirrorReport>(await mirror([file, '--dry-run', '--json', '--shard', `${i}/3`])),
        ),
      )
      const all = shards.flatMap(targets)
      expect(all.sort()).toEqual(targets(plan).sort())
      expect(new Set(all).size).toBe(all.length)
    }))

  it('refuses a second run while one holds the lock, naming its PID', () =>
    withTarget(async (dst) => {
      const file = await spec('locked', dst, `  - "${proxy.host}/lib/tool:v1"\n`)
      const lockFile = join(dir, 'locked.lock')
      const lock = await acquireLock(lockFile, file)
      try {
        const r = await mirror([file, '--lock', lockFile])
        expect(r.code).toBe(1)
        expect(r.stderr).toContain(`PID ${process.pid}`)
        expect((await fetchManifestRaw(dst, 'mirror/tool', 'v1')).status).toBe(404)
      } finally {
        await lock.release()
      }
      expect((await mirror([file, '--lock', lockFile])).code).toBe(0)
    }))

  it('gives exit 2 with file, line and column for a malformed spec', async () => {
    const file = join(dir, 'bad.yaml')
    await writeFile(
      file,
      'defaults:\n  target: 127.0.0.1:5000\nimages:\n  - source: x/y\n    semver: ">=1 <<"\n',
    )
    const r = await mirror([file])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${file}:5:`)
    expect(r.stderr).toMatch(/semver/)
  })

  it('stops cleanly on SIGTERM: the unfinished image is not tagged, the lock is released', () =>
    withTarget(async (dst) => {
      const slow = await makeImage({ layerSizes: [40_000], seed: 777 })
      await pushRaw(src, 'lib/slow', '1', slow)
      const stalling = await startProxy(src.host, (req) =>
        req.method === 'GET' && req.url?.endsWith(slow.layers[0].digest) ? { action: 'stall' } : undefined,
      )
      try {
        const file = await spec(
          'term',
          dst,
          `  - "${stalling.host}/lib/slow:1"\n  - "${stalling.host}/lib/tool:v1"\n`,
        )
        const lockFile = join(dir, 'term.lock')
        let killed = false
        const r = await runCli(['mirror', file, '--lock', lockFile], {
          env: isolatedEnv(),
          onStderrLine: (line, child) => {
            // tool:v1 is done; slow:1 hangs on its layer: stop the run now.
            if (line.startsWith('copied') && !killed) {
              killed = true
              setTimeout(() => child.kill('SIGTERM'), 200)
            }
          },
        })
        expect(killed).toBe(true)
        expect(r.code).toBe(1)
        expect(r.stdout).toMatch(/FAILED +.*lib\/slow:1.*interrupted/)
        expect((await fetchManifestRaw(dst, 'mirror/slow', '1')).status).toBe(404)
        expect((await fetchManifestRaw(dst, 'mirror/tool', 'v1')).status).toBe(200)
        await expect(readFile(lockFile)).rejects.toThrow()
      } finally {
        await stalling.stop()
      }
    }))

  it('holds each registry to its requests per second', () =>
    withTarget(async (dst) => {
      const file = await spec('rps', dst, `  - source: ${proxy.host}/lib/app\n    all: true\n`, '')
      // 1 tag listing + 8 HEADs to the source at 5 per second: at least 1.6 s; unthrottled it takes ~0.1 s.
      await writeFile(file, `${await readFile(file, 'utf8')}registries:\n  "${proxy.host}": { rps: 5 }\n`)
      const before = proxy.hits.length
      const r = await mirror([file, '--dry-run', '--json'])
      expect(r.code, r.stderr).toBe(0)
      const hits = proxy.hits.slice(before)
      expect(hits.length).toBe(9)
      expect(hits[8].at - hits[0].at).toBeGreaterThanOrEqual(1500)
    }))
})
