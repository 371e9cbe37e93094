/**
 * The one retry policy (src/lib/http/retry.ts) against a real registry behind a fault-injecting
 * proxy, and a real token server: `retries: N` sends a request at most N+1 times whatever fails
 * (status, reset before the headers, reset inside the body), token requests included; nothing
 * above retries again; local disk errors are never retried and never called network problems.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBundle } from '../../src/lib/bundle/create-bundle.js'
import { copyImage } from '../../src/lib/copy/copy-image.js'
import { exitCodeFor } from '../../src/lib/errors.js'
import { runMirror } from '../../src/lib/mirror/run-mirror.js'
import { RegistryClient } from '../../src/lib/transports/registry/client.js'
import { rejectionOf } from '../helpers/errors.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { type Intercept, startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry, type TokenFault } from '../helpers/registry.js'
import { mountSmallFs } from '../helpers/small-fs.js'

let src: TestRegistry
let dst: TestRegistry
let proxy: TestProxy
let image: GeneratedImage
/** What the proxy does to a request; `n` counts requests with the same method and URL. */
let fault: (req: IncomingMessage, n: number) => Intercept = () => undefined
const fast = { backoffMs: 1 }

beforeAll(async () => {
  ;[src, dst] = await Promise.all([startRegistry(), startRegistry()])
  image = await makeImage({ layerSizes: [300_000, 40_000], seed: 1401 })
  await pushRaw(src, 'lib/app', '1', image)
  proxy = await startProxy(src.host, (req, n) => fault(req, n))
})

afterAll(async () => {
  await proxy?.stop()
  await Promise.all([src?.stop(), dst?.stop()])
})

const big = () => image.layers[0].digest
const isBlobGet = (req: IncomingMessage, digest: string) =>
  req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${digest}`)
const hitsOf = (pred: (h: TestProxy['hits'][number]) => boolean) => proxy.hits.filter(pred).length
const blobGets = (digest: string) => hitsOf((h) => h.method === 'GET' && h.url.endsWith(`/blobs/${digest}`))

function copy(target: string, retries: number) {
  return copyImage(`docker://${proxy.host}/lib/app:1`, `docker://${dst.host}/${target}:1`, {
    retries,
    source: { registry: fast },
    destination: { registry: fast },
  })
}

describe('retries: at most N+1 attempts of a request, nothing multiplies them', () => {
  for (const n of [0, 1, 3]) {
    it(`a blob the source always answers with 500 is asked for ${n + 1} time(s) with retries ${n}`, async () => {
      proxy.hits.length = 0
      fault = (req) => (isBlobGet(req, big()) ? { action: 'respond', status: 500 } : undefined)
      const err = await rejectionOf(copy(`fail500-${n}/app`, n))
      expect(err.message).toMatch(/HTTP 500/)
      expect(blobGets(big())).toBe(n + 1)
      expect((await fetchManifestRaw(dst, `fail500-${n}/app`, '1')).status).toBe(404)
    })
  }

  it('a blob whose body always breaks is asked for retries+1 times, then fails naming the blob', async () => {
    proxy.hits.length = 0
    fault = (req) => (isBlobGet(req, big()) ? { action: 'cut', after: 20_000 } : undefined)
    const err = await rejectionOf(copy('cut-always/app', 2))
    expect(err.code).toBe('UNREACHABLE')
    expect(err.message).toContain(big())
    expect(blobGets(big())).toBe(3)
  })

  it('a blob whose body breaks once is fetched again and the copy completes', async () => {
    proxy.hits.length = 0
    let n = 0
    fault = (req) => (isBlobGet(req, big()) && ++n === 1 ? { action: 'cut', after: 20_000 } : undefined)
    const r = await copy('cut-once/app', 3)
    expect(r.destinationDigest).toBe(image.manifest.digest)
    expect(blobGets(big())).toBe(2)
  })

  it('a manifest body cut in the middle is retried (skopeo does; it used to fail as INTERNAL "aborted")', async () => {
    proxy.hits.length = 0
    let n = 0
    fault = (req) =>
      req.method === 'GET' && req.url === '/v2/lib/app/manifests/1' && ++n === 1
        ? { action: 'cut', after: 100 }
        : undefined
    const r = await copy('manifest-cut/app', 1)
    expect(r.destinationDigest).toBe(image.manifest.digest)
    expect(hitsOf((h) => h.method === 'GET' && h.url === '/v2/lib/app/manifests/1')).toBe(2)
  })

  it('a manifest body that always breaks fails as a network problem after retries+1 GETs', async () => {
    proxy.hits.length = 0
    fault = (req) =>
      req.method === 'GET' && req.url === '/v2/lib/app/manifests/1'
        ? { action: 'cut', after: 100 }
        : undefined
    const err = await rejectionOf(copy('manifest-cut-always/app', 2))
    expect(err.code).toBe('UNREACHABLE')
    expect(err.message).toMatch(/broke while reading manifest lib\/app:1|ECONNRESET/)
    expect(hitsOf((h) => h.method === 'GET' && h.url === '/v2/lib/app/manifests/1')).toBe(3)
  })

  it('a tag list cut in the middle is retried', async () => {
    proxy.hits.length = 0
    let n = 0
    fault = (req) =>
      req.url?.startsWith('/v2/lib/app/tags/list') && ++n === 1 ? { action: 'cut', after: 5 } : undefined
    const tags = await new RegistryClient(proxy.host, fast).listTags('lib/app')
    expect(tags).toEqual(['1'])
    expect(hitsOf((h) => h.url.startsWith('/v2/lib/app/tags/list'))).toBe(2)
  })
})

describe('mirror and bundle create do not retry on top of the requests', () => {
  it('a mirror with retries: 1 asks for a blob that always fails twice, and reports the image failed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-retry-mirror-'))
    try {
      proxy.hits.length = 0
      fault = (req) => (isBlobGet(req, big()) ? { action: 'respond', status: 500 } : undefined)
      const file = path.join(dir, 'spec.yaml')
      writeFileSync(
        file,
        `defaults:\n  target: ${dst.host}\n  project: retry-mirror\n  retries: 1\nimages:\n  - "${proxy.host}/lib/app:1"\n`,
      )
      const report = await runMirror(file, {
        stateFile: path.join(dir, 'state.json'),
        lockFile: path.join(dir, 'lock'),
        env: { HOME: dir },
      })
      expect(report.images.map((i) => i.action)).toEqual(['failed'])
      expect(report.exitCode).toBe(1) // the only image failed: failed, not partly
      expect(blobGets(big())).toBe(2)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('bundle create with retries 2 asks for a blob that always fails three times', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-retry-bundle-'))
    try {
      proxy.hits.length = 0
      fault = (req) => (isBlobGet(req, big()) ? { action: 'respond', status: 503 } : undefined)
      const report = await createBundle({
        output: path.join(dir, 'b.tar'),
        refs: [`${proxy.host}/lib/app:1`],
        retries: 2,
        registry: fast,
        env: { HOME: dir },
      })
      expect(report.images.map((i) => i.action)).toEqual(['failed'])
      expect(blobGets(big())).toBe(3)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('token requests use the same policy', () => {
  async function tokenRegistry(faults: (n: number) => TokenFault | undefined) {
    let asked = 0
    const reg = await startRegistry({
      auth: 'token',
      tokenFault: (n) => {
        asked = n
        return faults(n)
      },
    })
    await pushRaw(reg, 'lib/app', '1', image)
    return { reg, asked: () => asked }
  }

  it('a 500, a 429 with Retry-After, a reset before the answer and a body cut short are each tried again', async () => {
    const script: Array<TokenFault | undefined> = [
      { status: 500 },
      { status: 429, headers: { 'Retry-After': '1' } },
      { reset: 'before-headers' },
      { reset: 'mid-body' },
    ]
    const { reg, asked } = await tokenRegistry((n) => script[n - 1])
    try {
      const started = Date.now()
      const r = await copyImage(`docker://${reg.host}/lib/app:1`, `docker://${dst.host}/token-faults/app:1`, {
        retries: 4,
        source: { registry: { ...fast, creds: { username: 'testuser', password: 'testpass' } } },
        destination: { registry: fast },
      })
      expect(r.destinationDigest).toBe(image.manifest.digest)
      expect(asked()).toBeGreaterThanOrEqual(5)
      // Retry-After: 1 was honoured.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    } finally {
      await reg.stop()
    }
  })

  it('a token service that keeps failing is asked retries+1 times and named in the error', async () => {
    const { reg, asked } = await tokenRegistry(() => ({ status: 503 }))
    try {
      const err = await rejectionOf(
        copyImage(`docker://${reg.host}/lib/app:1`, `docker://${dst.host}/token-down/app:1`, {
          retries: 1,
          source: { registry: { ...fast, creds: { username: 'testuser', password: 'testpass' } } },
          destination: { registry: fast },
        }),
      )
      expect(err.message).toMatch(/token service 127\.0\.0\.1:\d+ answered 503/)
      expect(asked()).toBe(2)
    } finally {
      await reg.stop()
    }
  })
})

describe('local disk errors are not network problems and are not retried', () => {
  it('a full disk under an OCI layout names the path and the cause, exit 1, one GET per blob', async () => {
    const fs = mountSmallFs({ bytes: 128 * 1024 })
    try {
      proxy.hits.length = 0
      fault = () => undefined
      const layout = path.join(fs.dir, 'layout')
      const err = await rejectionOf(
        copyImage(`docker://${proxy.host}/lib/app:1`, `oci:${layout}:1`, {
          retries: 3,
          source: { registry: fast },
        }),
      )
      expect(err.code).toBe('IO_FAILED')
      expect(err.message).toContain(fs.dir)
      expect(err.message).toMatch(/no space left on the device \(ENOSPC\)/)
      expect(err.message).not.toMatch(/connection/)
      expect(exitCodeFor(err.code)).toBe(1)
      expect(blobGets(big())).toBe(1)
    } finally {
      fs.unmount()
    }
  })

  it('a full disk under a docker-archive leaves no file behind', async () => {
    const fs = mountSmallFs({ bytes: 128 * 1024 })
    try {
      const err = await rejectionOf(
        copyImage(`docker://${proxy.host}/lib/app:1`, `docker-archive:${fs.dir}/app.tar:lib/app:1`, {
          retries: 3,
          source: { registry: fast },
        }),
      )
      expect(err.code).toBe('IO_FAILED')
      expect(err.message).toMatch(/ENOSPC/)
      expect(readdirSync(fs.dir)).toEqual([])
    } finally {
      fs.unmount()
    }
  })

  it('a read-only directory says so (EROFS)', async () => {
    const fs = mountSmallFs({ bytes: 1024 * 1024, readOnly: true })
    try {
      const err = await rejectionOf(
        copyImage(`docker://${proxy.host}/lib/app:1`, `oci:${fs.dir}/site/layout:1`, {
          source: { registry: fast },
        }),
      )
      expect(err.code).toBe('IO_FAILED')
      expect(err.message).toContain(fs.dir)
      expect(err.message).toMatch(/read-only file system \(EROFS\)/)
    } finally {
      fs.unmount()
    }
  })
})
