/**
 * airlock copy against real registries (Debian docker-registry): byte-identical manifests, no-op
 * reruns, mounts, platform selection, OCI layouts, corrupt sources, interrupted copies.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, isolatedEnv, json, runCli } from '../helpers/cli.js'
import {
  blobExistsRaw,
  fetchManifestRaw,
  type GeneratedIndex,
  makeImage,
  makeIndex,
  pushRaw,
} from '../helpers/images.js'
import { startProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'
import { skopeo } from '../helpers/skopeo.js'

interface CopyJson {
  sourceDigest: string
  destinationDigest: string
  upToDate: boolean
  indexRewritten: boolean
  platforms: string[]
  blobs: { total: number; copied: number; skipped: number; mounted: number }
  bytes: { total: number; copied: number }
}

let a: TestRegistry
let b: TestRegistry
let index: GeneratedIndex

beforeAll(async () => {
  ;[a, b] = await Promise.all([startRegistry(), startRegistry()])
  index = await makeIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
      { os: 'linux', architecture: 'ppc64le' },
    ],
    layerSizes: [300_000, 50_000],
    seed: 7,
  })
  await pushRaw(a, 'lib/multi', '1.0', index)
})

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()])
})

describe('airlock copy between registries', () => {
  it('copies a whole multi-arch index with byte-identical manifests, then a rerun moves nothing', async () => {
    const r = await runCli([
      'copy',
      '--json',
      `${a.host}/lib/multi:1.0`,
      `docker://${b.host}/mirror/multi:1.0`,
    ])
    expect(r.code, r.stderr).toBe(0)
    const out = json<CopyJson>(r)
    expect(out.sourceDigest).toBe(index.index.digest)
    expect(out.destinationDigest).toBe(index.index.digest)
    expect(out.platforms).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/ppc64le'])
    // 3 images × (config + 2 layers), all distinct
    expect(out.blobs).toEqual({ total: 9, copied: 9, skipped: 0, mounted: 0 })

    const src = await fetchManifestRaw(a, 'lib/multi', '1.0')
    const dst = await fetchManifestRaw(b, 'mirror/multi', '1.0')
    expect(dst.status).toBe(200)
    expect(dst.bytes.equals(src.bytes)).toBe(true)
    expect(dst.digest).toBe(index.index.digest)
    for (const img of index.images) {
      const child = await fetchManifestRaw(b, 'mirror/multi', img.manifest.digest)
      expect(child.bytes.equals(img.manifest.bytes)).toBe(true)
      for (const l of img.layers) expect(await blobExistsRaw(b, 'mirror/multi', l.digest)).toBe(true)
    }

    const again = await runCli(['copy', '--json', `${a.host}/lib/multi:1.0`, `${b.host}/mirror/multi:1.0`])
    expect(again.code, again.stderr).toBe(0)
    const out2 = json<CopyJson>(again)
    expect(out2.upToDate).toBe(true)
    expect(out2.bytes.copied).toBe(0)
    expect(out2.blobs.copied).toBe(0)

    // Same content under another tag: manifests already there, so no blob is even asked for.
    const other = await runCli(['copy', '--json', `${a.host}/lib/multi:1.0`, `${b.host}/mirror/multi:other`])
    expect(json<CopyJson>(other).blobs.copied).toBe(0)
    expect((await fetchManifestRaw(b, 'mirror/multi', 'other')).digest).toBe(index.index.digest)
  })

  it('skips blobs the destination already has when a new image shares layers', async () => {
    const base = await makeImage({ layerSizes: [200_000, 20_000], seed: 11, format: 'docker' })
    await pushRaw(a, 'lib/shared', 'v1', base)
    const first = await runCli(['copy', '--json', `${a.host}/lib/shared:v1`, `${b.host}/lib/shared:v1`])
    expect(json<CopyJson>(first).blobs.copied).toBe(3)
    // Copy the same repository to a second repository of b: blobs are mounted, not sent.
    const mounted = await runCli(['copy', '--json', `${b.host}/lib/shared:v1`, `${b.host}/team/shared:v1`])
    expect(mounted.code, mounted.stderr).toBe(0)
    const m = json<CopyJson>(mounted)
    expect(m.blobs).toEqual({ total: 3, copied: 0, skipped: 0, mounted: 3 })
    expect(m.bytes.copied).toBe(0)
    const bytes = (await fetchManifestRaw(b, 'team/shared', 'v1')).bytes
    expect(bytes.equals(base.manifest.bytes)).toBe(true)
  })

  it('copies one platform alone, or narrows the index to several', async () => {
    const one = await runCli([
      'copy',
      '--json',
      '--platform',
      'linux/arm64',
      `${a.host}/lib/multi:1.0`,
      `${b.host}/one/arm:1`,
    ])
    expect(one.code, one.stderr).toBe(0)
    const arm = index.images[1]
    expect(json<CopyJson>(one).destinationDigest).toBe(arm.manifest.digest)
    expect((await fetchManifestRaw(b, 'one/arm', '1')).bytes.equals(arm.manifest.bytes)).toBe(true)

    const two = await runCli([
      'copy',
      '--json',
      '--platform',
      'linux/amd64',
      '--platform',
      'linux/ppc64le',
      `${a.host}/lib/multi:1.0`,
      `${b.host}/two/multi:1`,
    ])
    const out = json<CopyJson>(two)
    expect(out.indexRewritten).toBe(true)
    expect(out.destinationDigest).not.toBe(index.index.digest)
    const narrowed = JSON.parse((await fetchManifestRaw(b, 'two/multi', '1')).bytes.toString())
    expect(narrowed.manifests.map((m: { digest: string }) => m.digest)).toEqual([
      index.images[0].manifest.digest,
      index.images[2].manifest.digest,
    ])

    const none = await runCli([
      'copy',
      '--platform',
      'linux/s390x',
      `${a.host}/lib/multi:1.0`,
      `${b.host}/none/x:1`,
    ])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('has no image for linux/s390x')
    expect(none.stderr).toContain('linux/amd64, linux/arm64/v8, linux/ppc64le')
  })

  it('round-trips through an OCI layout that skopeo can read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'airlock-oci-'))
    const toLayout = await runCli(['copy', '--json', `${a.host}/lib/multi:1.0`, `oci:${dir}:multi`])
    expect(toLayout.code, toLayout.stderr).toBe(0)
    const indexJson = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'))
    expect(indexJson.manifests[0].digest).toBe(index.index.digest)
    expect(indexJson.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('multi')
    const sk = await skopeo(['inspect', '--raw', `oci:${dir}:multi`])
    expect(sk.code, sk.stderr).toBe(0)
    expect(sk.stdout).toBe(index.index.bytes.toString())

    const back = await runCli(['copy', '--json', `oci:${dir}:multi`, `${b.host}/from-oci/multi:1.0`])
    expect(back.code, back.stderr).toBe(0)
    expect(json<CopyJson>(back).destinationDigest).toBe(index.index.digest)
    expect((await fetchManifestRaw(b, 'from-oci/multi', '1.0')).bytes.equals(index.index.bytes)).toBe(true)
  })

  it('refuses a source blob that does not match its digest (exit 5) and tags nothing', async () => {
    const img = await makeImage({ layerSizes: [100_000, 100_000], seed: 21 })
    await pushRaw(a, 'lib/corrupt', 'v1', img)
    // Flip a byte of the stored layer on the source registry's disk (same size, wrong content).
    const victim = img.layers[1]
    const file = a.blobPath(victim.digest)
    const data = readFileSync(file)
    data[data.length >> 1] ^= 0xff
    writeFileSync(file, data)

    const r = await runCli(['copy', '--json', `${a.host}/lib/corrupt:v1`, `${b.host}/lib/corrupt:v1`])
    expect(r.code).toBe(5)
    const err = json<{ error: { code: string; message: string } }>(r).error
    expect(err.code).toBe('DIGEST_MISMATCH')
    expect(err.message).toContain(victim.digest)
    expect((await fetchManifestRaw(b, 'lib/corrupt', 'v1')).status).toBe(404)
    expect(await blobExistsRaw(b, 'lib/corrupt', victim.digest)).toBe(false)
  })

  it('a copy killed with SIGKILL half way leaves no tag; the rerun sends only the missing blobs', async () => {
    const img = await makeImage({ layerSizes: [400_000, 300_000, 200_000, 100_000], seed: 31 })
    await pushRaw(a, 'lib/killed', 'v1', img)
    // Blobs are copied largest first with --jobs 1; the proxy stalls the third layer forever.
    const stalled = img.layers[2].digest
    const proxy = await startProxy(a.host, (req) =>
      req.method === 'GET' && req.url?.endsWith(stalled) ? { action: 'stall' } : undefined,
    )
    try {
      let copiedLines = 0
      const killed = await runCli(
        ['copy', '--jobs', '1', `${proxy.host}/lib/killed:v1`, `${b.host}/lib/killed:v1`],
        {
          onStderrLine: (line, child) => {
            if (/^blob sha256:\w+ copied/.test(line)) copiedLines++
            if (copiedLines === 2) child.kill('SIGKILL')
          },
        },
      )
      expect(killed.signal).toBe('SIGKILL')
      expect(copiedLines).toBe(2)
    } finally {
      await proxy.stop()
    }
    expect((await fetchManifestRaw(b, 'lib/killed', 'v1')).status).toBe(404)

    const rerun = await runCli(['copy', '--json', `${a.host}/lib/killed:v1`, `${b.host}/lib/killed:v1`])
    expect(rerun.code, rerun.stderr).toBe(0)
    const out = json<CopyJson>(rerun)
    expect(out.blobs.skipped).toBe(2)
    expect(out.blobs.copied).toBe(3) // the stalled layer, the smallest layer, the config
    expect((await fetchManifestRaw(b, 'lib/killed', 'v1')).bytes.equals(img.manifest.bytes)).toBe(true)
  })

  it('retries 5xx answers and honours Retry-After on 429', async () => {
    const img = await makeImage({ layerSizes: [50_000], seed: 41 })
    await pushRaw(a, 'lib/flaky', 'v1', img)
    const layer = img.layers[0].digest
    const proxy = await startProxy(a.host, (req, n) => {
      if (req.method !== 'GET' || !req.url?.endsWith(layer)) return undefined
      if (n === 1) return { action: 'respond', status: 503 }
      if (n === 2) return { action: 'respond', status: 429, headers: { 'retry-after': '1' } }
      return undefined
    })
    try {
      const r = await runCli(['copy', '--json', `${proxy.host}/lib/flaky:v1`, `${b.host}/lib/flaky:v1`])
      expect(r.code, r.stderr).toBe(0)
      const gets = proxy.hits.filter((h) => h.method === 'GET' && h.url.endsWith(layer))
      expect(gets.map((h) => h.status)).toEqual([503, 429, 200])
      expect(gets[2].at - gets[1].at).toBeGreaterThanOrEqual(950)
      expect((await fetchManifestRaw(b, 'lib/flaky', 'v1')).digest).toBe(img.manifest.digest)
    } finally {
      await proxy.stop()
    }
  })

  it('rejects bad references with exit 2 and names the bad part', async () => {
    const upper = await runCli(['copy', `${a.host}/Lib/Bad:v1`, `${b.host}/x:1`])
    expect(upper.code).toBe(2)
    expect(upper.stderr).toContain('must be lowercase')
    const tag = await runCli(['copy', `${a.host}/lib/multi:-bad`, `${b.host}/x:1`])
    expect(tag.code).toBe(2)
    expect(tag.stderr).toContain('"-bad"')
    const digest = await runCli(['copy', '--json', `${a.host}/lib/multi@sha256:abc`, `${b.host}/x:1`])
    expect(digest.code).toBe(2)
    expect(json<{ error: { code: string } }>(digest).error.code).toBe('INVALID_REFERENCE')
    const platform = await runCli(['copy', '--platform', 'amd64', `${a.host}/lib/multi:1.0`, `${b.host}/x:1`])
    expect(platform.code).toBe(2)
    expect(platform.stderr).toContain('platform "amd64" is not os/arch')
  })

  it('reports an unreachable registry clearly', async () => {
    const r = await runCli(['copy', '127.0.0.1:9/lib/x:1', `${b.host}/x:1`])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('cannot reach registry 127.0.0.1:9 (ECONNREFUSED)')
    expect(r.stderr).toMatch(/Hint: /)
    expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace without --debug
  })

  it('a missing tag is NOT_FOUND with the repository named', async () => {
    const r = await runCli(['copy', '--json', `${a.host}/lib/multi:nope`, `${b.host}/x:1`])
    expect(r.code).toBe(1)
    const err = json<{ error: { code: string; message: string } }>(r).error
    expect(err.code).toBe('NOT_FOUND')
    expect(err.message).toContain('lib/multi:nope')
  })

  it('an interrupted copy (SIGTERM) stops without tagging', async () => {
    const img = await makeImage({ layerSizes: [100_000, 50_000], seed: 51 })
    await pushRaw(a, 'lib/term', 'v1', img)
    const proxy = await startProxy(a.host, (req) =>
      req.method === 'GET' && req.url?.endsWith(img.layers[0].digest) ? { action: 'stall' } : undefined,
    )
    try {
      const r = await runCli(['copy', `${proxy.host}/lib/term:v1`, `${b.host}/lib/term:v1`], {
        onStderrLine: (line, child) => {
          if (line.startsWith('copying ')) setTimeout(() => child.kill('SIGTERM'), 300)
        },
      })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('interrupted by SIGTERM')
    } finally {
      await proxy.stop()
    }
    expect((await fetchManifestRaw(b, 'lib/term', 'v1')).status).toBe(404)
  })
})

describe('oci layout writes are atomic', () => {
  it('leaves no partial blob files after a failed copy into a layout', async () => {
    const img = await makeImage({ layerSizes: [80_000], seed: 61 })
    await pushRaw(a, 'lib/oci-fail', 'v1', img)
    const proxy = await startProxy(a.host, (req) =>
      req.method === 'GET' && req.url?.endsWith(img.layers[0].digest) ? { action: 'corrupt' } : undefined,
    )
    const dir = await mkdtemp(path.join(tmpdir(), 'airlock-oci-fail-'))
    try {
      const r = await runCli(['copy', `${proxy.host}/lib/oci-fail:v1`, `oci:${dir}:v1`])
      expect(r.code).toBe(5)
    } finally {
      await proxy.stop()
    }
    const files = await readFile(path.join(dir, 'oci-layout'), 'utf8')
    expect(JSON.parse(files).imageLayoutVersion).toBe('1.0.0')
    expect(existsSync(path.join(dir, 'index.json'))).toBe(false)
    const hex = img.layers[0].digest.slice(7)
    expect(existsSync(path.join(dir, 'blobs', 'sha256', hex))).toBe(false)
    const { readdirSync } = await import('node:fs')
    expect(readdirSync(path.join(dir, 'blobs', 'sha256')).filter((f) => f.includes('.partial'))).toEqual([])
  })
})

describe('hostile OCI layouts', () => {
  it('refuses an index.json digest that would name a path outside blobs/', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'airlock-oci-hostile-'))
    writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    const evil = 'sha256:../../../../../../etc/passwd'
    writeFileSync(
      path.join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: evil,
            size: 10,
            annotations: { 'org.opencontainers.image.ref.name': 'x' },
          },
        ],
      }),
    )
    const r = await runCli(['copy', '--json', `oci:${dir}:x`, `${b.host}/hostile/x:1`])
    expect(r.code).toBe(2)
    const err = json<{ error: { code: string; message: string } }>(r).error
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.message).toContain('invalid digest')
    expect((await fetchManifestRaw(b, 'hostile/x', '1')).status).toBe(404)
  })
})

describe('progress', () => {
  it('draws one bar per platform on a terminal and plain lines otherwise', async () => {
    const idx = await makeIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
      layerSizes: [2_000_000],
      seed: 71,
    })
    await pushRaw(a, 'lib/progress', '1', idx)
    // `script` gives the CLI a pseudo-terminal (util-linux, part of every Debian system).
    const cmd = `stty cols 120; ${process.execPath} ${BIN} copy ${a.host}/lib/progress:1 ${b.host}/lib/progress:1`
    const out = execFileSync('script', ['-qec', cmd, '/dev/null'], { env: isolatedEnv(), encoding: 'utf8' })
    expect(out).toMatch(/linux\/amd64\s+\[#+\] [\d.]+ MiB \/ [\d.]+ MiB/)
    expect(out).toMatch(/linux\/arm64\/v8\s+\[#+\]/)
    expect(out).not.toContain('blob sha256:') // no plain log lines on a terminal

    const plain = await runCli(['copy', `${a.host}/lib/progress:1`, `${b.host}/lib/progress:2`])
    expect(plain.stderr).not.toContain('[#')
    expect(plain.stderr).toMatch(/^image linux\/amd64 sha256:[0-9a-f]{12} already present$/m)
    expect(plain.stderr).toContain(`docker://${b.host}/lib/progress:2 now points at ${idx.index.digest}`)
  })
})
