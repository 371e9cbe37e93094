/**
 * The public library entry, imported by package name as a user's script would:
 * `import { parseReference, copyImage } from 'airlock'` (the package's own exports, built dist).
 */

import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  AirlockError,
  type CopyEvent,
  closeAgents,
  copyImage,
  inspectImage,
  parseReference,
  RegistryClient,
} from 'airlock'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchManifestRaw, makeImage, makeIndex, pushRaw } from '../helpers/images.js'
import { startProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let a: TestRegistry
let b: TestRegistry

beforeAll(async () => {
  ;[a, b] = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })])
})
afterAll(async () => {
  await closeAgents()
  await Promise.all([a?.stop(), b?.stop()])
})

describe("import { parseReference, copyImage } from 'airlock'", () => {
  it('parses and normalizes references', () => {
    const r = parseReference('alpine:3.20')
    expect([r.registry, r.repository, r.tag]).toEqual(['docker.io', 'library/alpine', '3.20'])
    expect(r.familiar()).toBe('alpine:3.20')
    expect(() => parseReference('Alpine')).toThrow(AirlockError)
  })

  it('copies with credentials and reports events in order: blobs, manifest, commit', async () => {
    const img = await makeImage({ layerSizes: [120_000, 30_000], seed: 101, format: 'docker' })
    await pushRaw(a, 'lib/app', '2', img)
    const events: CopyEvent['type'][] = []
    const result = await copyImage(`${a.host}/lib/app:2`, `${b.host}/lib/app:2`, {
      destination: { registry: { creds: { username: b.username!, password: b.password! } } },
      onEvent: (e) => events.push(e.type),
    })
    expect(result.destinationDigest).toBe(img.manifest.digest)
    expect(result.blobs.copied).toBe(3)
    const lastBlob = events.lastIndexOf('blob-done')
    expect(lastBlob).toBeGreaterThan(0)
    expect(events.indexOf('commit')).toBe(events.length - 1)
    expect(events.indexOf('commit')).toBeGreaterThan(lastBlob)
    const info = await inspectImage(`${b.host}/lib/app:2`, {
      context: { registry: { creds: { username: b.username!, password: b.password! } } },
    })
    expect(info.digest).toBe(img.manifest.digest)
    expect(info.images[0].layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.digest))
    expect(info.images[0].config?.architecture).toBe('amd64')
  })

  it('stops on abort with INTERRUPTED and tags nothing', async () => {
    const img = await makeImage({ layerSizes: [200_000], seed: 102 })
    await pushRaw(a, 'lib/abort', '1', img)
    const proxy = await startProxy(a.host, (req) =>
      req.method === 'GET' && req.url?.endsWith(img.layers[0].digest) ? { action: 'stall' } : undefined,
    )
    const controller = new AbortController()
    try {
      const copying = copyImage(`${proxy.host}/lib/abort:1`, `${b.host}/lib/abort:1`, {
        destination: { registry: { creds: { username: b.username!, password: b.password! } } },
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'blob-start' && e.digest === img.layers[0].digest)
            setTimeout(() => controller.abort(), 100)
        },
      })
      await expect(copying).rejects.toMatchObject({ code: 'INTERRUPTED' })
    } finally {
      await proxy.stop()
    }
    expect((await fetchManifestRaw(b, 'lib/abort', '1')).status).toBe(404)
  })

  it('sends each manifest once, the top one by tag after every blob; a digest-only destination stores it by digest', async () => {
    const idx = await makeIndex({
      layerSizes: [50_000, 20_000],
      seed: 103,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64' },
      ],
    })
    await pushRaw(a, 'lib/order', '1', idx)
    const seen: string[] = []
    const creds = { username: b.username!, password: b.password! }
    const result = await copyImage(`${a.host}/lib/order:1`, `${b.host}/lib/order:1`, {
      destination: {
        registry: {
          creds,
          onRequest: (r) => seen.push(`${r.method} ${r.path.replace(/\?.*/, '')} ${r.status}`),
        },
      },
    })
    expect(result.manifests).toEqual({ total: 3, written: 3, present: 0 })
    const manifestPuts = seen.filter((l) => /^PUT \/v2\/lib\/order\/manifests\//.test(l))
    // Children by digest, then the index by its tag alone: no extra PUT of the index by digest.
    expect(manifestPuts).toHaveLength(3)
    expect(manifestPuts[2]).toBe('PUT /v2/lib/order/manifests/1 201')
    expect(manifestPuts.slice(0, 2).sort()).toEqual(
      idx.images.map((i) => `PUT /v2/lib/order/manifests/${i.manifest.digest} 201`).sort(),
    )
    const lastBlobPut = seen.findLastIndex((l) => l.startsWith('PUT /v2/lib/order/blobs/uploads/'))
    const firstManifestPut = seen.findIndex((l) => l.includes('/manifests/') && l.startsWith('PUT'))
    expect(lastBlobPut).toBeGreaterThan(0)
    expect(firstManifestPut).toBeGreaterThan(lastBlobPut)
    expect((await fetchManifestRaw(b, 'lib/order', '1')).digest).toBe(idx.index.digest)

    // One image to a digest-only reference: stored by digest, no tag anywhere.
    const child = idx.images[0].manifest.digest
    const byDigest = await copyImage(`${a.host}/lib/order@${child}`, `${b.host}/lib/other@${child}`, {
      destination: { registry: { creds } },
    })
    expect(byDigest.manifests).toEqual({ total: 1, written: 1, present: 0 })
    expect((await fetchManifestRaw(b, 'lib/other', child)).digest).toBe(child)
  })

  it('a blob that cannot be read leaves no open upload session at the destination', async () => {
    const img = await makeImage({ layerSizes: [80_000, 60_000], seed: 104 })
    await pushRaw(a, 'lib/broken', '1', img)
    const bad = img.layers[1].digest
    const proxy = await startProxy(a.host, (req) =>
      req.method === 'GET' && req.url?.endsWith(bad) ? { action: 'respond', status: 403 } : undefined,
    )
    try {
      const copying = copyImage(`${proxy.host}/lib/broken:1`, `${b.host}/lib/broken:1`, {
        destination: { registry: { creds: { username: b.username!, password: b.password! } } },
      })
      await expect(copying).rejects.toBeInstanceOf(AirlockError)
    } finally {
      await proxy.stop()
    }
    expect((await fetchManifestRaw(b, 'lib/broken', '1')).status).toBe(404)
    // A live session holds `startedat`; registry 2.8 leaves only `hashstates/` behind a cancelled one.
    const uploads = join(b.rootDir, 'docker/registry/v2/repositories/lib/broken/_uploads')
    const files = await readdir(uploads, { recursive: true }).catch(() => [])
    expect(files.filter((f) => f.endsWith('startedat'))).toEqual([])
  })

  it('returns every keep-alive socket: 200 HEAD answers on one host leave the pool free', async () => {
    const client = new RegistryClient(a.host, {}, 'lib/app')
    // More than the agent's 64 sockets per host: a HEAD answer that is not read to its end keeps
    // its socket, and the requests after the 64th would wait forever.
    const work = async () => {
      for (let i = 0; i < 200; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, (_, j) => client.headManifest('lib/app', `missing-${i + j}`)),
        )
      }
      return client.listTags('lib/app')
    }
    const tags = await Promise.race([
      work(),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('the socket pool is exhausted')), 10_000),
      ),
    ])
    expect(tags).toContain('2')
  })
})
