/**
 * The progress of bundle create and bundle push (issue 16, item 9): the total is known before the
 * first byte moves and never changes afterwards, and is the bytes fetched (create) or sent or
 * checked (push). In-process: the library's onProgress sink captures every (done, total, phase).
 * A real registry (and, to count requests, the counting proxy in front of it).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBundle } from '../../src/lib/bundle/create-bundle.js'
import { pushBundle } from '../../src/lib/bundle/push-bundle.js'
import { type GeneratedImage, makeImagesSharingBase, pushRaw } from '../helpers/images.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let src: TestRegistry
let dst: TestRegistry
let proxy: TestProxy
let dir: string
let images: GeneratedImage[]
const registry = { tlsVerify: false }

beforeAll(async () => {
  ;[src, dst, dir] = await Promise.all([
    startRegistry(),
    startRegistry(),
    mkdtemp(join(tmpdir(), 'airlock-bundle-progress-')),
  ])
  proxy = await startProxy(src.host)
  // Three tags sharing two base layers (1 MB and 2 MB), one 500 kB layer of their own each.
  images = await makeImagesSharingBase({ count: 3, baseSizes: [1_000_000, 2_000_000], topSize: 500_000 })
  for (const [i, img] of images.entries()) await pushRaw(src, 'prog/app', String(i + 1), img)
}, 120_000)

afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop(), proxy?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Bytes of the distinct blobs (configs and layers) of the images. */
function distinctBytes(imgs: GeneratedImage[]): number {
  const sizes = new Map<string, number>()
  for (const img of imgs) for (const b of [img.config, ...img.layers]) sizes.set(b.digest, b.bytes.length)
  return [...sizes.values()].reduce((a, b) => a + b, 0)
}

interface Seen {
  done: number
  total: number
  phase?: string
}

/** From the first byte on, one total; at the end every byte of it done. */
function expectFixedTotal(seen: Seen[], expected: number): void {
  const first = seen.findIndex((s) => s.done > 0)
  expect(first).toBeGreaterThanOrEqual(0)
  const totals = new Set(seen.slice(first).map((s) => s.total))
  expect([...totals]).toEqual([expected])
  expect(seen.at(-1)!.done).toBe(expected)
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThanOrEqual(seen[i - 1]!.done)
  // Before it: the planning step named, then the total, known before any byte moved.
  expect(seen[0]).toEqual({ done: 0, total: 0, phase: 'resolving 3 images' })
  expect(seen[first - 1]!.total).toBe(expected)
}

describe('bundle progress', () => {
  const refs = () => [1, 2, 3].map((t) => `${proxy.host}/prog/app:${t}`)

  it('bundle create of 3 images: resolves them first, then a total that never changes (the bytes fetched)', async () => {
    const seen: Seen[] = []
    proxy.hits.length = 0
    const r = await createBundle({
      output: join(dir, 'b.tar'),
      refs: refs(),
      registry,
      // One image at a time: the images after the first start once bytes have moved.
      concurrency: 1,
      onProgress: (done, total, phase) => seen.push({ done, total, phase }),
    })
    const withProgress = proxy.hits.length
    expect(r.totals.added).toBe(3)
    const expected = distinctBytes(images)
    expectFixedTotal(seen, expected)
    // The bytes fetched, image by image (each blob once: the bundle keeps it once).
    expect(r.images.reduce((n, i) => n + i.bytes, 0)).toBe(expected)
    expect(seen.at(-1)!.phase).toBe('fetching')

    // The planning step's cost: one manifest request per (single-platform) image.
    proxy.hits.length = 0
    await createBundle({ output: join(dir, 'quiet.tar'), refs: refs(), registry })
    const manifestGets = (hits: TestProxy['hits']) => hits.filter((h) => h.url.includes('/manifests/'))
    expect(withProgress - proxy.hits.length).toBe(3)
    expect(manifestGets(proxy.hits).length).toBe(3)
  }, 120_000)

  it('bundle push of tags sharing layers: the total is each (repository, digest) once, fixed from the first byte, the bytes sent', async () => {
    const seen: Seen[] = []
    const r = await pushBundle(join(dir, 'b.tar'), {
      to: `${dst.host}/team`,
      registry,
      onProgress: (done, total, phase) => seen.push({ done, total, phase }),
    })
    expect(r.totals.pushed).toBe(3)
    const expected = distinctBytes(images)
    // The shared base went to team/app once (the run-wide ledger): the bytes sent are the total.
    expect(r.totals.bytes).toBe(expected)
    expectFixedTotal(seen, expected)
    expect(seen.at(-1)!.phase).toBe('sending')

    // Again: everything is there; the total is the same bytes, all checked, none sent.
    const again: Seen[] = []
    const r2 = await pushBundle(join(dir, 'b.tar'), {
      to: `${dst.host}/team`,
      registry,
      onProgress: (done, total, phase) => again.push({ done, total, phase }),
    })
    expect(r2.totals.bytes).toBe(0)
    expect(again.at(-1)).toEqual({ done: expected, total: expected, phase: 'sending' })
  }, 120_000)
})
