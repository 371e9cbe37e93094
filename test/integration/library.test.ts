/**
 * The public library entry, imported by package name as a user's script would:
 * `import { parseReference, copyImage } from 'airlock'` (the package's own exports, built dist).
 */
import { AirlockError, type CopyEvent, closeAgents, copyImage, inspectImage, parseReference } from 'airlock'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchManifestRaw, makeImage, pushRaw } from '../helpers/images.js'
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
})
