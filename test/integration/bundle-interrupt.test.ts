/**
 * A bundle survives interruptions: an add that stops half way (the process killed before commit)
 * leaves the old bundle readable as it was, and the next run writes over the leftovers; an
 * interrupted create keeps the images it finished. Real registry, stalling proxy in front of it.
 */
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BundleWriter } from '../../src/lib/bundle/bundle-writer.js'
import { createBundle } from '../../src/lib/bundle/create-bundle.js'
import { Bundle } from '../../src/lib/bundle/open-bundle.js'
import { verifyBundle } from '../../src/lib/bundle/verify-bundle.js'
import { type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let reg: TestRegistry
let proxy: TestProxy
let work: string
let a: GeneratedImage
let b: GeneratedImage
const registry = { tlsVerify: false }

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'airlock-bundle-int-'))
  reg = await startRegistry()
  a = await makeImage({ layerSizes: [120_000], seed: 501 })
  b = await makeImage({ layerSizes: [150_000], seed: 502 })
  await pushRaw(reg, 'one/a', '1', a)
  await pushRaw(reg, 'two/b', '1', b)
  // Blobs of two/b never arrive: the body stalls.
  proxy = await startProxy(reg.host, (req) =>
    req.method === 'GET' && req.url?.includes(b.layers[0].digest) ? { action: 'stall' } : undefined,
  )
}, 60_000)

afterAll(async () => {
  await proxy?.stop()
  await reg?.stop()
  await rm(work, { recursive: true, force: true })
})

describe('interruptions', () => {
  it('an add killed before its commit leaves the old bundle as it was, and the next add repairs it', async () => {
    const file = path.join(work, 'crash.tar')
    const made = await createBundle({ output: file, refs: [`${reg.host}/one/a:1`], registry })
    expect(made.exitCode).toBe(0)
    const before = readFileSync(file)

    // An add that wrote a blob and metadata, then died (no commit, no abort: handles just closed).
    const old = await Bundle.open(file)
    const w = await BundleWriter.append(
      file,
      old.files.parts,
      Number.POSITIVE_INFINITY,
      old.archive.end,
      old.archive.entries.values(),
    )
    await old.close()
    await w.addBlob(b.layers[0].digest, b.layers[0].bytes.length, Readable.from([b.layers[0].bytes]))
    await w.addFile('index.json', Buffer.from('{"schemaVersion":2,"manifests":[]}'))
    await (w as unknown as { parts: { close(): Promise<void> } }).parts.close()
    expect(statSync(file).size).toBeGreaterThan(before.length)

    // Every reader still sees the old bundle: the entries end where they ended.
    const seen = await Bundle.open(file)
    expect(seen.images.map((i) => i.reference)).toEqual([`${reg.host}/one/a:1`])
    expect(seen.archive.end).toBe(before.length - 1024)
    await seen.close()
    const v = await verifyBundle(file)
    expect(v.ok).toBe(true)
    expect(v.notes.join(' ')).toContain('interrupted add')
    // GNU tar and skopeo see the old bundle too.
    const listed = (await execa('tar', ['-tf', file])).stdout.split('\n')
    expect(listed).not.toContain(`blobs/sha256/${b.layers[0].digest.slice(7)}`)
    expect(listed.filter((n) => n === 'index.json')).toHaveLength(1)
    const raw = await execa('skopeo', ['inspect', '--raw', `oci-archive:${file}:${reg.host}/one/a:1`], {
      encoding: 'buffer',
    })
    expect(createHash('sha256').update(raw.stdout).digest('hex')).toBe(a.manifest.digest.slice(7))

    // The next add writes over the leftovers and the result verifies.
    const added = await createBundle({ output: file, refs: [`${reg.host}/two/b:1`], registry })
    expect(added.exitCode).toBe(0)
    const after = await verifyBundle(file)
    expect(after).toMatchObject({ ok: true, images: 2 })
    expect(after.notes).toEqual([])
    expect(readFileSync(file).subarray(0, before.length - 1024)).toEqual(
      before.subarray(0, before.length - 1024),
    )
  })

  it('an interrupted create keeps the images it finished (exit code 1)', async () => {
    const file = path.join(work, 'stopped.tar')
    const controller = new AbortController()
    const report = await createBundle({
      output: file,
      refs: [`${proxy.host}/one/a:1`, `${proxy.host}/two/b:1`],
      registry,
      concurrency: 2,
      retries: 0,
      // Split: the parts checksum list is still written after the interrupt.
      split: 1024 * 1024,
      signal: controller.signal,
      onImage: (r) => {
        if (r.action === 'added') setTimeout(() => controller.abort(), 200)
      },
    })
    expect(report.exitCode).toBe(1)
    expect(report.images.find((i) => i.reference.endsWith('one/a:1'))?.action).toBe('added')
    expect(report.images.find((i) => i.reference.endsWith('two/b:1'))?.action).toBe('failed')
    const bundle = await Bundle.open(file)
    expect(bundle.images.map((i) => i.reference)).toEqual([`${proxy.host}/one/a:1`])
    await bundle.close()
    expect((await verifyBundle(file)).ok).toBe(true)
    await execa('sha256sum', ['-c', '--quiet', 'stopped.tar.SHA256SUMS'], { cwd: work })
  })

  it('a blob that fails while later entries are written leaves unused space that readers skip', async () => {
    const file = path.join(work, 'holes.tar')
    const w = await BundleWriter.create(file, Number.POSITIVE_INFINITY)
    const failing = new PassThrough()
    const first = w.addBlob(a.layers[0].digest, a.layers[0].bytes.length, failing)
    const second = w.addBlob(b.layers[0].digest, b.layers[0].bytes.length, Readable.from([b.layers[0].bytes]))
    failing.write(a.layers[0].bytes.subarray(0, 1000))
    await second
    failing.destroy(new Error('connection reset'))
    await expect(first).rejects.toThrow('connection reset')
    await w.commit([{ name: 'index.json', bytes: Buffer.from('{"schemaVersion":2,"manifests":[]}') }])
    const listed = (await execa('tar', ['-tf', file])).stdout.split('\n')
    expect(listed.some((n) => n.startsWith('.airlock-unused/'))).toBe(true)
    expect(listed).toContain(`blobs/sha256/${b.layers[0].digest.slice(7)}`)
    expect(listed).not.toContain(`blobs/sha256/${a.layers[0].digest.slice(7)}`)
    const v = await verifyBundle(file)
    expect(v.ok).toBe(true)
    expect(v.unreferencedBytes).toBeGreaterThanOrEqual(a.layers[0].bytes.length)
  })
})
