/**
 * `airlock mirror` with `referrers: true` keeps signature tags in step with the source: a signature
 * pushed after its image was mirrored, signatures of a source whose referrers were turned on later,
 * and a re-signed image arrive at the target, while a run where nothing changed asks nothing per
 * signature tag. Real registries on 127.0.0.1, each seen through a counting proxy; the mirror runs
 * in this process (runMirror), with its state, lock and HOME in a temporary directory.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMirror } from '../../src/lib/mirror/run-mirror.js'
import type { MirrorReport } from '../../src/lib/mirror/types.js'
import {
  blob,
  fetchManifestRaw,
  type GeneratedBlob,
  type GeneratedImage,
  MANIFEST_INDENT,
  MEDIA_TYPES,
  makeImage,
  pushRaw,
} from '../helpers/images.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let src: TestRegistry
let srcProxy: TestProxy
let dir: string
let seed = 900

beforeAll(async () => {
  src = await startRegistry()
  srcProxy = await startProxy(src.host)
  dir = await mkdtemp(join(tmpdir(), 'airlock-mirror-referrers-'))
  await mkdir(join(dir, 'home'))
}, 60_000)

afterAll(async () => {
  await srcProxy?.stop()
  await src?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const descriptor = (b: GeneratedBlob) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })

/**
 * A signature as cosign writes it: an OCI image manifest whose small config lists one layer per
 * signature, each layer a simple-signing payload naming the signed digest, the signature itself in
 * the layer's annotation. Several signatures = a re-signed image (cosign appends a layer).
 */
function cosignSignature(signedDigest: string, reference: string, signatures = 1): GeneratedImage {
  const layers = Array.from({ length: signatures }, (_, i) =>
    blob(
      Buffer.from(
        JSON.stringify({
          critical: {
            identity: { 'docker-reference': reference },
            image: { 'docker-manifest-digest': signedDigest },
            type: 'cosign container image signature',
          },
          optional: { n: String(i) },
        }),
      ),
      'application/vnd.dev.cosign.simplesigning.v1+json',
    ),
  )
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
        os: '',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        config: {},
      }),
    ),
    MEDIA_TYPES.oci.config,
  )
  const manifest = blob(
    Buffer.from(
      JSON.stringify(
        {
          schemaVersion: 2,
          mediaType: MEDIA_TYPES.oci.manifest,
          config: descriptor(config),
          layers: layers.map((l) => ({
            ...descriptor(l),
            annotations: { 'dev.cosignproject.cosign/signature': randomBytes(64).toString('base64') },
          })),
        },
        null,
        MANIFEST_INDENT,
      ),
    ),
    MEDIA_TYPES.oci.manifest,
  )
  return { manifest, config, layers, platform: { os: '', architecture: '' } }
}

/** cosign's tag for an artifact of `digest`: sha256-<hex><suffix>. */
const digestTag = (digest: string, suffix = '') => `${digest.replace(':', '-')}${suffix}`

/** A fresh image at `repo:tag` in the source registry. */
async function pushImage(repo: string, tag: string): Promise<GeneratedImage> {
  const img = await makeImage({ layerSizes: [1500], seed: seed++ })
  await pushRaw(src, repo, tag, img)
  return img
}

async function pushSignature(repo: string, img: GeneratedImage, suffix = '.sig', signatures = 1) {
  const sig = cosignSignature(img.manifest.digest, `${src.host}/${repo}`, signatures)
  await pushRaw(src, repo, digestTag(img.manifest.digest, suffix), sig)
  return sig
}

interface Target {
  reg: TestRegistry
  proxy: TestProxy
  /** Writes a spec for `images` into this target, returns its path. */
  spec(name: string, images: string, referrers: boolean): Promise<string>
  /** One run of the spec (state and lock in the test directory); the report, checked to be exit 0. */
  run(file: string, opts?: { dryRun?: boolean; stateFile?: string }): Promise<MirrorReport>
}

/** A fresh target registry behind a counting proxy, stopped afterwards. */
async function withTarget(name: string, fn: (t: Target) => Promise<void>): Promise<void> {
  const reg = await startRegistry()
  const proxy = await startProxy(reg.host)
  const state = join(dir, `${name}-state.json`)
  const t: Target = {
    reg,
    proxy,
    async spec(specName, images, referrers) {
      const file = join(dir, `${name}-${specName}.yaml`)
      await writeFile(
        file,
        `defaults:\n  target: ${proxy.host}\n  project: mirror\n  retries: 0\n  referrers: ${referrers}\nimages:\n${images}`,
      )
      return file
    },
    async run(file, opts = {}) {
      const report = await runMirror(file, {
        dryRun: opts.dryRun,
        stateFile: opts.stateFile ?? state,
        lockFile: join(dir, `${name}.lock`),
        env: { HOME: join(dir, 'home'), PATH: process.env.PATH },
      })
      expect(report.exitCode, JSON.stringify(report.images.filter((i) => i.action === 'failed'))).toBe(0)
      return report
    },
  }
  try {
    await fn(t)
  } finally {
    await proxy.stop()
    await reg.stop()
  }
}

type Hits = TestProxy['hits']
const since = (p: TestProxy, n: number): Hits => p.hits.slice(n)
const manifestRequests = (hits: Hits, method: string) =>
  hits.filter((h) => h.method === method && h.url.includes('/manifests/'))
const listings = (hits: Hits) => hits.filter((h) => h.url.includes('/tags/list'))
/** Everything but the version check (`/v2/`), tag listings and manifest HEADs: reads and writes. */
const transfers = (hits: Hits) =>
  hits.filter((h) => h.url !== '/v2/' && !h.url.includes('/tags/list') && h.method !== 'HEAD')

describe('airlock mirror with referrers', () => {
  it('copies a signature pushed after its image was mirrored, and a dry run says it would', () =>
    withTarget('later', async (dst) => {
      const img = await pushImage('lib/later', '1')
      const file = await dst.spec('spec', `  - source: ${srcProxy.host}/lib/later\n    tags: ["1"]\n`, true)
      const first = await dst.run(file)
      expect(first.images.map((i) => i.action)).toEqual(['copied'])

      // Signed after the mirror ran: same image digest, a new tag beside it.
      const sig = await pushSignature('lib/later', img)
      const sigTag = digestTag(img.manifest.digest, '.sig')
      const plan = await dst.run(file, { dryRun: true })
      expect(plan.images[0]).toMatchObject({ action: 'planned' })
      expect(plan.images[0].reason).toContain(sigTag)
      expect((await fetchManifestRaw(dst.reg, 'mirror/later', sigTag)).status).toBe(404)

      const second = await dst.run(file)
      expect(second.images[0]).toMatchObject({
        action: 'skipped',
        reason: 'same digest at the target',
        referrers: [`${dst.proxy.host}/mirror/later:${sigTag}`],
      })
      expect(second.images[0].bytes).toBeGreaterThan(0)
      expect(second.totals).toMatchObject({ copied: 0, skipped: 1 })
      const got = await fetchManifestRaw(dst.reg, 'mirror/later', sigTag)
      expect(got.digest).toBe(sig.manifest.digest)
      expect(got.bytes.equals(sig.manifest.bytes)).toBe(true)
    }))

  it('brings the existing signatures of an already mirrored source when referrers is turned on', () =>
    withTarget('turned-on', async (dst) => {
      const img = await pushImage('lib/on', '2')
      const sig = await pushSignature('lib/on', img, '.sig')
      const att = await pushSignature('lib/on', img, '.att')
      const images = `  - source: ${srcProxy.host}/lib/on\n    tags: ["2"]\n`
      const off = await dst.run(await dst.spec('off', images, false))
      expect(off.images.map((i) => i.action)).toEqual(['copied'])
      expect(off.images[0].referrers).toBeUndefined()
      expect(
        (await fetchManifestRaw(dst.reg, 'mirror/on', digestTag(img.manifest.digest, '.sig'))).status,
      ).toBe(404)

      const on = await dst.run(await dst.spec('on', images, true))
      expect(on.images[0].action).toBe('skipped')
      expect(on.images[0].referrers?.sort()).toEqual(
        ['.att', '.sig'].map((s) => `${dst.proxy.host}/mirror/on:${digestTag(img.manifest.digest, s)}`),
      )
      expect(
        (await fetchManifestRaw(dst.reg, 'mirror/on', digestTag(img.manifest.digest, '.sig'))).digest,
      ).toBe(sig.manifest.digest)
      expect(
        (await fetchManifestRaw(dst.reg, 'mirror/on', digestTag(img.manifest.digest, '.att'))).digest,
      ).toBe(att.manifest.digest)
    }))

  it('asks nothing per signature tag when nothing changed: one tag listing per target repository', () =>
    withTarget('noop', async (dst) => {
      // Two images of one repository, each with three referrer tags; an immutable tag among them.
      const a = await pushImage('lib/quiet', 'a')
      const b = await pushImage('lib/quiet', 'v1.0.0')
      for (const img of [a, b])
        for (const suffix of ['.sig', '.att', '']) await pushSignature('lib/quiet', img, suffix)
      const file = await dst.spec(
        'spec',
        `  - source: ${srcProxy.host}/lib/quiet\n    tags: ["a", "v1.0.0"]\n    immutable: ['^v']\n`,
        true,
      )
      const first = await dst.run(file)
      expect(first.images.map((i) => [i.action, i.referrers?.length])).toEqual([
        ['copied', 3],
        ['copied', 3],
      ])

      const s0 = srcProxy.hits.length
      const t0 = dst.proxy.hits.length
      const again = await dst.run(file)
      expect(again.images.map((i) => i.action)).toEqual(['skipped', 'skipped'])
      expect(again.images.map((i) => i.referrers)).toEqual([undefined, undefined])
      const s = since(srcProxy, s0)
      const t = since(dst.proxy, t0)
      // As without referrers: the source is listed once and asked one HEAD for the mutable tag (the
      // immutable one is not asked); the target gets one HEAD per image, plus one listing of the
      // repository. A HEAD per signature tag would add six requests.
      expect(listings(s)).toHaveLength(1)
      expect(manifestRequests(s, 'HEAD')).toHaveLength(1)
      expect(listings(t)).toHaveLength(1)
      expect(manifestRequests(t, 'HEAD')).toHaveLength(2)
      expect(transfers(s)).toEqual([])
      expect(transfers(t)).toEqual([])
      expect(again.registries[dst.proxy.host].requests).toBeLessThanOrEqual(4)

      // A signature added to the immutable tag still arrives; the source is not asked about the image.
      const sbom = await pushSignature('lib/quiet', b, '.sbom')
      const s1 = srcProxy.hits.length
      const third = await dst.run(file)
      expect(third.images[1]).toMatchObject({
        action: 'skipped',
        reason: 'immutable tag already at the target',
        referrers: [`${dst.proxy.host}/mirror/quiet:${digestTag(b.manifest.digest, '.sbom')}`],
      })
      expect(manifestRequests(since(srcProxy, s1), 'HEAD').map((h) => h.url)).not.toContain(
        `/v2/lib/quiet/manifests/v1.0.0`,
      )
      expect(
        (await fetchManifestRaw(dst.reg, 'mirror/quiet', digestTag(b.manifest.digest, '.sbom'))).digest,
      ).toBe(sbom.manifest.digest)
    }))

  it('copies a re-signed signature when the state has no record of it, or its record is a week old', () =>
    withTarget('resign', async (dst) => {
      const img = await pushImage('lib/resign', '3')
      await pushSignature('lib/resign', img)
      const sigTag = digestTag(img.manifest.digest, '.sig')
      const file = await dst.spec('spec', `  - source: ${srcProxy.host}/lib/resign\n    tags: ["3"]\n`, true)
      await dst.run(file)
      const state = join(dir, 'resign-state.json')

      // Signed again: cosign appends a signature, so the same tag names a new manifest.
      const resigned = await pushSignature('lib/resign', img, '.sig', 2)
      // The state says the signature was checked just now: not asked again (no HEAD per tag per run).
      const fresh = await dst.run(file)
      expect(fresh.images[0].referrers).toBeUndefined()
      expect((await fetchManifestRaw(dst.reg, 'mirror/resign', sigTag)).digest).not.toBe(
        resigned.manifest.digest,
      )

      // A record older than a week: the source's signature tag is asked again, and copied.
      const doc = JSON.parse(await readFile(state, 'utf8')) as {
        pairs: Record<string, { checkedAt?: string }>
      }
      const key = `${dst.proxy.host}/mirror/resign:${sigTag}`
      expect(doc.pairs[key]?.checkedAt).toBeDefined()
      doc.pairs[key].checkedAt = new Date(Date.now() - 8 * 86_400_000).toISOString()
      await writeFile(state, JSON.stringify(doc))
      const stale = await dst.run(file)
      expect(stale.images[0].referrers).toEqual([key])
      expect((await fetchManifestRaw(dst.reg, 'mirror/resign', sigTag)).digest).toBe(resigned.manifest.digest)

      // No state at all (a lost file): both sides are asked once, and a different digest is copied.
      const again = await pushSignature('lib/resign', img, '.sig', 3)
      const t0 = dst.proxy.hits.length
      const lost = await dst.run(file, { stateFile: join(dir, 'resign-lost-state.json') })
      expect(lost.images[0].referrers).toEqual([key])
      expect((await fetchManifestRaw(dst.reg, 'mirror/resign', sigTag)).digest).toBe(again.manifest.digest)
      expect(manifestRequests(since(dst.proxy, t0), 'HEAD').map((h) => h.url)).toContain(
        `/v2/mirror/resign/manifests/${sigTag}`,
      )
    }))
})
