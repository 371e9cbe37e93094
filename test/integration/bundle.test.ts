/**
 * Offline bundles end to end, against real registries (Debian docker-registry), real skopeo and
 * GNU tar: create from a registry, verify, list, push into a fresh registry with every digest kept,
 * split parts, adding to a bundle, damaged and hostile bundles.
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { pack } from 'tar-stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliResult, isolatedEnv, json, runCli } from '../helpers/cli.js'
import { type GeneratedImage, type GeneratedIndex, makeImage, makeIndex, pushRaw } from '../helpers/images.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let src: TestRegistry
let proxy: TestProxy
let work: string
let alpine: GeneratedIndex
let app: GeneratedImage
let tool: GeneratedImage
const env = isolatedEnv()

const airlock = (args: string[]): Promise<CliResult> => runCli(args, { env, timeoutMs: 120_000 })
const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex')
const at = (name: string) => path.join(work, name)

/** Digest the registry serves for repo:tag (HEAD, with every manifest type accepted). */
async function digestAt(reg: TestRegistry | string, repo: string, tag: string): Promise<string | undefined> {
  const host = typeof reg === 'string' ? reg : reg.host
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  })
  return r.ok ? (r.headers.get('docker-content-digest') ?? undefined) : undefined
}

/** A fresh target registry for `fn`, stopped afterwards. */
async function withRegistry(fn: (dst: TestRegistry) => Promise<void>): Promise<void> {
  const dst = await startRegistry()
  try {
    await fn(dst)
  } finally {
    await dst.stop()
  }
}

async function catalog(reg: TestRegistry): Promise<string[]> {
  return ((await (await fetch(`http://${reg.host}/v2/_catalog`)).json()) as { repositories: string[] })
    .repositories
}

function uniqueBlobs(...items: Array<GeneratedImage | GeneratedIndex>): Map<string, number> {
  const out = new Map<string, number>()
  for (const item of items) {
    const images = 'index' in item ? item.images : [item]
    if ('index' in item) out.set(item.index.digest, item.index.bytes.length)
    for (const i of images)
      for (const b of [i.manifest, i.config, ...i.layers]) out.set(b.digest, b.bytes.length)
  }
  return out
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'airlock-bundle-'))
  src = await startRegistry()
  proxy = await startProxy(src.host)
  alpine = await makeIndex({
    layerSizes: [300_000, 40_000],
    seed: 81,
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  })
  app = await makeImage({ layerSizes: [500_000, 200_000], seed: 82, format: 'docker' })
  tool = await makeImage({ layerSizes: [250_000], seed: 83 })
  await pushRaw(src, 'library/alpine', '3.20', alpine)
  await pushRaw(src, 'team/app', '1.0', app)
  // The same image under a second name: its blobs must be stored once.
  await pushRaw(src, 'team/app-copy', '1.0', app)
  await pushRaw(src, 'tools/tool', 'v1', tool)
}, 60_000)

afterAll(async () => {
  await proxy?.stop()
  await src?.stop()
  await rm(work, { recursive: true, force: true })
})

describe('bundle create, verify, push', () => {
  it('puts several images in one file with each blob once, and pushes them with every digest kept', async () => {
    const out = at('images.tar')
    const refs = [
      `${src.host}/library/alpine:3.20`,
      `${src.host}/team/app:1.0`,
      `${src.host}/team/app-copy:1.0`,
    ]
    const c = await airlock(['bundle', 'create', '-o', out, '--tls-verify=false', '--json', ...refs])
    expect(c.code, c.stderr).toBe(0)
    const report = json<{
      outcome: string
      totals: { added: number }
      blobs: { count: number; bytes: number }
      size: number
    }>(c)
    expect(report.outcome).toBe('new')
    expect(report.totals.added).toBe(3)

    // Each blob stored once; the file is the blobs plus tar headers and the small metadata files.
    const unique = uniqueBlobs(alpine, app)
    const listing = (await execa('tar', ['-tf', out])).stdout.split('\n')
    const blobNames = listing.filter((n) => n.startsWith('blobs/sha256/'))
    expect(new Set(blobNames).size).toBe(blobNames.length)
    expect(blobNames.sort()).toEqual([...unique.keys()].map((d) => `blobs/sha256/${d.slice(7)}`).sort())
    const blobBytes = [...unique.values()].reduce((a, b) => a + b, 0)
    expect(report.blobs).toEqual({ count: unique.size, bytes: blobBytes })
    expect(statSync(out).size).toBeLessThan(blobBytes * 1.01 + 16 * 1024)
    // The files inside: SHA256SUMS checks with sha256sum once extracted.
    const x = at('extracted')
    await execa('mkdir', ['-p', x])
    await execa('tar', ['-xf', out, '-C', x])
    await execa('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: x })
    const index = JSON.parse(readFileSync(path.join(x, 'index.json'), 'utf8'))
    expect(
      index.manifests
        .map(
          (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
        )
        .sort(),
    ).toEqual(refs.sort())

    const v = await airlock(['bundle', 'verify', out])
    expect(v.code, v.stdout + v.stderr).toBe(0)
    expect(v.stdout).toContain('OK')

    const l = json<{ images: Array<{ reference: string; platforms: string[]; digest: string }> }>(
      await airlock(['bundle', 'list', out, '--json']),
    )
    const a = l.images.find((i) => i.reference.endsWith('alpine:3.20'))
    expect(a?.platforms).toEqual(['linux/amd64', 'linux/arm64/v8'])
    expect(a?.digest).toBe(alpine.index.digest)

    await withRegistry(async (dst) => {
      const p = await airlock([
        'bundle',
        'push',
        out,
        '--to',
        `${dst.host}/AI-Group`,
        '--tls-verify=false',
        '--json',
      ])
      expect(p.code, p.stderr).toBe(0)
      expect(await digestAt(dst, 'ai-group/alpine', '3.20')).toBe(alpine.index.digest)
      expect(await digestAt(dst, 'ai-group/app', '1.0')).toBe(app.manifest.digest)
      expect(await digestAt(dst, 'ai-group/app-copy', '1.0')).toBe(app.manifest.digest)
      for (const d of unique.keys()) {
        if (
          d === alpine.index.digest ||
          alpine.images.some((i) => i.manifest.digest === d) ||
          d === app.manifest.digest
        )
          continue
        expect(existsSync(dst.blobPath(d)), d).toBe(true)
      }
      // Again: nothing to send.
      const again = json<{ totals: { pushed: number; present: number; bytes: number } }>(
        await airlock([
          'bundle',
          'push',
          out,
          '--to',
          `${dst.host}/ai-group`,
          '--tls-verify=false',
          '--json',
        ]),
      )
      expect(again.totals).toMatchObject({ pushed: 0, present: 3, bytes: 0 })
    })
  })

  it('lets skopeo read an image out of the bundle, as an oci-archive and as an extracted oci layout', async () => {
    const out = at('images.tar')
    // skopeo (containers/image) selects only OCI-typed index.json entries by name, so the OCI images.
    const ref = `${src.host}/library/alpine:3.20`
    const raw = await execa('skopeo', ['inspect', '--raw', `oci-archive:${out}:${ref}`], {
      encoding: 'buffer',
    })
    expect(createHash('sha256').update(raw.stdout).digest('hex')).toBe(alpine.index.digest.slice(7))
    const dir = at('skopeo-dir')
    await execa('skopeo', [
      'copy',
      '--all',
      `oci:${at('extracted')}:${src.host}/library/alpine:3.20`,
      `dir:${dir}`,
    ])
    expect(sha256(path.join(dir, 'manifest.json'))).toBe(alpine.index.digest.slice(7))
  })

  it('finds a flipped byte and names the damaged blob (exit 5)', async () => {
    const out = at('damaged.tar')
    writeFileSync(out, readFileSync(at('images.tar')))
    const big = app.layers[0]
    const listing = await execa('tar', ['-tvf', out])
    expect(listing.stdout).toContain(big.digest.slice(7))
    // Find the layer's bytes in the file and flip one in the middle.
    const buf = readFileSync(out)
    const pos = buf.indexOf(big.bytes.subarray(1000, 1064))
    expect(pos).toBeGreaterThan(0)
    const fh = await open(out, 'r+')
    await fh.write(Buffer.from([buf[pos + 10] ^ 0xff]), 0, 1, pos + 10)
    await fh.close()
    const v = await airlock(['bundle', 'verify', out, '--json'])
    expect(v.code).toBe(5)
    const r = json<{ ok: boolean; problems: Array<{ kind: string; name: string; message: string }> }>(v)
    expect(r.ok).toBe(false)
    expect(r.problems).toHaveLength(1)
    expect(r.problems[0]).toMatchObject({ kind: 'blob', name: big.digest })
    expect(r.problems[0].message).toContain('team/app:1.0')
    // Pushing it fails for the damaged image only; nothing is tagged for it.
    await withRegistry(async (dst) => {
      const p = await airlock([
        'bundle',
        'push',
        out,
        '--to',
        `${dst.host}/x`,
        '--tls-verify=false',
        '--json',
      ])
      expect(p.code).toBe(3)
      expect(await digestAt(dst, 'x/alpine', '3.20')).toBe(alpine.index.digest)
      expect(await digestAt(dst, 'x/app', '1.0')).toBeUndefined()
    })
  })
})

describe('split parts and adding to a bundle', () => {
  it('writes parts that reassemble, adds only what is missing, and leaves untouched parts as they were', async () => {
    const out = at('split.tar')
    const first = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--split',
      '1M',
      '--tls-verify=false',
      '--json',
      `${src.host}/team/app:1.0`,
      `${src.host}/library/alpine:3.20`,
    ])
    expect(first.code, first.stderr).toBe(0)
    const parts = readdirSync(work)
      .filter((f) => /^split\.tar\.\d{3}$/.test(f))
      .sort()
    expect(parts).toEqual(['split.tar.001', 'split.tar.002'])
    expect(statSync(at(parts[0])).size).toBe(1024 * 1024)
    expect(existsSync(out)).toBe(false)
    await execa('sha256sum', ['-c', '--quiet', 'split.tar.SHA256SUMS'], { cwd: work })

    // Reassembled with cat, it is a bundle that verifies and that skopeo reads.
    const joined = at('joined.tar')
    await execa('sh', ['-c', `cat ${parts.join(' ')} > joined.tar`], { cwd: work })
    expect((await airlock(['bundle', 'verify', joined])).code).toBe(0)
    const raw = await execa(
      'skopeo',
      ['inspect', '--raw', `oci-archive:${joined}:${src.host}/library/alpine:3.20`],
      { encoding: 'buffer' },
    )
    expect(createHash('sha256').update(raw.stdout).digest('hex')).toBe(alpine.index.digest.slice(7))

    // Add one image through a proxy that counts requests: only the new image's blobs are fetched.
    const before = sha256(at('split.tar.001'))
    proxy.hits.length = 0
    const add = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--tls-verify=false',
      '--json',
      `${proxy.host}/team/app:1.0`,
      `${proxy.host}/tools/tool:v1`,
    ])
    expect(add.code, add.stderr).toBe(0)
    const r = json<{
      outcome: string
      images: Array<{ action: string }>
      changedParts: string[]
      parts: string[]
    }>(add)
    expect(r.outcome).toBe('added')
    // app is already in the bundle (under the source registry's name; through the proxy it is a new
    // name), so its blobs are not fetched again: the only blob GETs are tool's.
    const blobGets = proxy.hits.filter((h) => h.method === 'GET' && h.url.includes('/blobs/'))
    expect(blobGets.map((h) => h.url.split('/').pop()).sort()).toEqual(
      [tool.config.digest, ...tool.layers.map((l) => l.digest)].sort(),
    )
    expect(sha256(at('split.tar.001'))).toBe(before)
    expect(r.changedParts.map((p) => path.basename(p))).not.toContain('split.tar.001')
    await execa('sha256sum', ['-c', '--quiet', 'split.tar.SHA256SUMS'], { cwd: work })
    const v = json<{ ok: boolean; images: number }>(await airlock(['bundle', 'verify', out, '--json']))
    expect(v).toMatchObject({ ok: true, images: 4 })

    // Nothing new: the bundle is not touched.
    const sums = readFileSync(at('split.tar.SHA256SUMS'), 'utf8')
    const noop = json<{ outcome: string }>(
      await airlock([
        'bundle',
        'create',
        '-o',
        out,
        '--tls-verify=false',
        '--json',
        `${proxy.host}/tools/tool:v1`,
      ]),
    )
    expect(noop.outcome).toBe('unchanged')
    expect(readFileSync(at('split.tar.SHA256SUMS'), 'utf8')).toBe(sums)
  })

  it('keeps cutting at the --split size when adding to a bundle that still has one part', async () => {
    const out = at('grow.tar')
    const first = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--split',
      '1M',
      '--tls-verify=false',
      `${src.host}/tools/tool:v1`,
    ])
    expect(first.code, first.stderr).toBe(0)
    expect(
      readdirSync(work)
        .filter((f) => f.startsWith('grow.tar.'))
        .sort(),
    ).toEqual(['grow.tar.001', 'grow.tar.SHA256SUMS'])
    // Adding without --split: the recorded part size applies, so the bundle grows into a second part at 1 MiB.
    const add = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--tls-verify=false',
      `${src.host}/team/app:1.0`,
      `${src.host}/library/alpine:3.20`,
    ])
    expect(add.code, add.stderr).toBe(0)
    expect(statSync(at('grow.tar.001')).size).toBe(1024 * 1024)
    expect(existsSync(at('grow.tar.002'))).toBe(true)
    expect((await airlock(['bundle', 'verify', out])).code).toBe(0)
    // A different --split is refused, and nothing changes.
    const before = sha256(at('grow.tar.002'))
    const other = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--split',
      '2M',
      '--tls-verify=false',
      `${src.host}/team/app-copy:1.0`,
    ])
    expect(other.code).toBe(2)
    expect(other.stderr).toContain('--split')
    expect(sha256(at('grow.tar.002'))).toBe(before)
  })

  it('finds a damaged part against the parts checksum list', async () => {
    const out = at('split2.tar')
    expect(
      (
        await airlock([
          'bundle',
          'create',
          '-o',
          out,
          '--split',
          '1M',
          '--tls-verify=false',
          `${src.host}/team/app:1.0`,
          `${src.host}/library/alpine:3.20`,
        ])
      ).code,
    ).toBe(0)
    const fh = await open(at('split2.tar.001'), 'r+')
    await fh.write(Buffer.from('X'), 0, 1, 700_000)
    await fh.close()
    const v = await airlock(['bundle', 'verify', `${out}.001`])
    expect(v.code).toBe(5)
    expect(v.stdout).toContain('split2.tar.001')
    // A part left behind is named too, though the rest cannot be read without it.
    await rm(at('split2.tar.002'))
    const lost = await airlock(['bundle', 'verify', out])
    expect(lost.code).toBe(5)
    expect(lost.stdout).toContain(`part ${at('split2.tar.002')} is missing`)
  })
})

describe('damaged bundles: missing and cut-short parts', () => {
  interface Verified {
    ok: boolean
    images: number
    problems: Array<{ kind: string; name: string; message: string }>
    parts: Array<{ path: string; status?: string }>
    hint?: string
  }
  /** A directory with big.tar split into parts of 1 MiB (and big.tar.SHA256SUMS), and one.tar. */
  let pristine: string
  let partCount: number

  beforeAll(async () => {
    const big = await makeImage({ layerSizes: [1_400_000, 900_000], seed: 84 })
    await pushRaw(src, 'team/big', '1', big)
    pristine = at('damaged')
    mkdirSync(pristine)
    const refs = [`${src.host}/team/big:1`, `${src.host}/team/app:1.0`]
    const opts = ['--tls-verify=false', ...refs]
    const split = await airlock([
      'bundle',
      'create',
      '-o',
      path.join(pristine, 'big.tar'),
      '--split',
      '1M',
      ...opts,
    ])
    expect(split.code, split.stderr).toBe(0)
    const one = await airlock(['bundle', 'create', '-o', path.join(pristine, 'one.tar'), ...opts])
    expect(one.code, one.stderr).toBe(0)
    partCount = readdirSync(pristine).filter((f) => /^big\.tar\.\d{3}$/.test(f)).length
    expect(partCount).toBeGreaterThanOrEqual(3)
  }, 60_000)

  /** A copy of the pristine bundles in a fresh directory, then damaged. */
  function damaged(name: string, damage: (file: (f: string) => string) => void): (f: string) => string {
    const dir = at(name)
    cpSync(pristine, dir, { recursive: true })
    const file = (f: string) => path.join(dir, f)
    damage(file)
    return file
  }
  const part = (i: number) => `big.tar.${String(i).padStart(3, '0')}`
  const verify = async (file: string): Promise<{ r: CliResult; v: Verified }> => {
    const r = await airlock(['bundle', 'verify', file, '--json'])
    return { r, v: json<Verified>(r) }
  }

  it('names exactly the missing part and checks the parts after it on their own', async () => {
    const file = damaged('gap', (f) => rmSync(f(part(2))))
    const { r, v } = await verify(file('big.tar'))
    expect(r.code, r.stderr).toBe(5)
    expect(v.ok).toBe(false)
    expect(v.problems.map((p) => [p.kind, p.name])).toEqual([['part', file(part(2))]])
    expect(v.parts.map((p) => [p.path, p.status])).toEqual(
      Array.from({ length: partCount }, (_, i) => [file(part(i + 1)), i === 1 ? 'missing' : 'ok']),
    )
    expect(v.hint).toContain(`copy ${file(part(2))} again`)
    expect(v.hint).not.toContain(part(3))
    const text = await airlock(['bundle', 'verify', file('big.tar')])
    expect(text.code).toBe(5)
    expect(text.stdout).toContain(`BAD part ${file(part(2))} is missing`)
    expect(text.stdout).not.toContain(`${part(3)} is missing`)
    expect(text.stdout).toContain(`ok  ${file(part(3))}`)
    expect(text.stdout).toContain(`Hint: copy ${file(part(2))} again`)

    // A part after the gap that is damaged too is found on its own.
    const fh = await open(file(part(3)), 'r+')
    await fh.write(Buffer.from('X'), 0, 1, 1000)
    await fh.close()
    const both = await verify(file('big.tar'))
    expect(both.r.code).toBe(5)
    expect(both.v.problems.map((p) => [p.kind, p.name])).toEqual([
      ['part', file(part(2))],
      ['part', file(part(3))],
    ])
    expect(both.v.parts.map((p) => p.status).slice(0, 3)).toEqual(['ok', 'missing', 'damaged'])

    // The other commands refuse it, naming the missing part.
    const list = await airlock(['bundle', 'list', file('big.tar')])
    expect(list.code).toBe(2)
    expect(list.stderr).toContain(`${file(part(2))} is missing`)
  })

  it('reports a missing first part as damage (exit 5), however the bundle is named', async () => {
    const file = damaged('nofirst', (f) => rmSync(f(part(1))))
    for (const given of ['big.tar', part(1), part(3)]) {
      const { r, v } = await verify(file(given))
      expect(r.code, `${given}: ${r.stdout}${r.stderr}`).toBe(5)
      expect(v.problems.map((p) => [p.kind, p.name])).toEqual([['part', file(part(1))]])
      expect(v.parts.map((p) => p.status)).toEqual(
        Array.from({ length: partCount }, (_, i) => (i === 0 ? 'missing' : 'ok')),
      )
    }
    // With only the parts checksum list left, every part is missing.
    for (let i = 2; i <= partCount; i++) rmSync(file(part(i)))
    const { r, v } = await verify(file('big.tar'))
    expect(r.code).toBe(5)
    expect(v.problems.map((p) => p.name)).toEqual(
      Array.from({ length: partCount }, (_, i) => file(part(i + 1))),
    )
  })

  it('reports a bundle cut short as damage (exit 5) and says what to copy again', async () => {
    // One file cut in the middle of a blob.
    let file = damaged('cut-one', (f) => truncateSync(f('one.tar'), statSync(f('one.tar')).size - 300_000))
    let { r, v } = await verify(file('one.tar'))
    expect(r.code, r.stderr).toBe(5)
    expect(v.problems).toMatchObject([{ kind: 'truncated', name: file('one.tar') }])
    expect(v.problems[0].message).toContain('cut short')
    expect(v.hint).toContain(`copy ${file('one.tar')} again`)
    const text = await airlock(['bundle', 'verify', file('one.tar')])
    expect(text.code).toBe(5)
    expect(text.stdout).toContain(`BAD ${file('one.tar')} is cut short`)

    // Cut just after its first entry (no index.json at all), or just before its closing blocks.
    for (const size of [1024, statSync(path.join(pristine, 'one.tar')).size - 1024]) {
      file = damaged(`cut-at-${size}`, (f) => truncateSync(f('one.tar'), size))
      ;({ r, v } = await verify(file('one.tar')))
      expect(r.code, `${size}: ${r.stderr}`).toBe(5)
      expect(v.problems.map((p) => p.kind)).toEqual(['truncated'])
    }
    expect(v.images).toBe(2)

    // Split, without the parts checksum list: the last part cut short, or a part in the middle.
    file = damaged('cut-last', (f) => {
      rmSync(f('big.tar.SHA256SUMS'))
      truncateSync(f(part(partCount)), Math.floor(statSync(f(part(partCount))).size / 2))
    })
    ;({ r, v } = await verify(file('big.tar')))
    expect(r.code, r.stderr).toBe(5)
    expect(v.problems).toMatchObject([{ kind: 'truncated', name: file(part(partCount)) }])
    file = damaged('cut-middle', (f) => {
      rmSync(f('big.tar.SHA256SUMS'))
      truncateSync(f(part(2)), 500_000)
    })
    ;({ r, v } = await verify(file('big.tar')))
    expect(r.code, r.stderr).toBe(5)
    expect(v.problems).toMatchObject([{ kind: 'part', name: file(part(2)) }])
    expect(v.problems[0].message).toContain('has 500000 bytes')

    // What is not a bundle at all stays exit 2: random bytes, and a tar of other files cut short.
    writeFileSync(file('random.bin'), randomBytes(5000))
    const p = pack()
    p.entry({ name: 'notes.txt' }, 'x'.repeat(5000))
    p.finalize()
    const chunks: Buffer[] = []
    for await (const c of p) chunks.push(c as Buffer)
    writeFileSync(file('notes.tar'), Buffer.concat(chunks).subarray(0, 2048))
    for (const name of ['random.bin', 'notes.tar']) {
      const other = await airlock(['bundle', 'verify', file(name), '--json'])
      expect(other.code, name).toBe(2)
      expect(json<{ error: { code: string } }>(other).error.code).toBe('INVALID_INPUT')
    }
  })
})

describe('bad input', () => {
  it('refuses hostile bundles without writing anything anywhere', async () => {
    const evilDir = await mkdtemp(path.join(tmpdir(), 'airlock-evil-'))
    const target = path.join(evilDir, 'escaped')
    const cases: Array<[string, (p: ReturnType<typeof pack>) => void, string]> = [
      [
        'dotdot',
        (p) => p.entry({ name: `../../../../../../..${target}`, size: 4 }, 'evil'),
        '".." path component',
      ],
      ['absolute', (p) => p.entry({ name: target, size: 4 }, 'evil'), 'absolute path'],
      [
        'symlink',
        (p) => p.entry({ name: 'blobs/sha256/link', type: 'symlink', linkname: target }),
        'points outside',
      ],
      [
        'hardlink',
        (p) => p.entry({ name: 'blobs/x', type: 'link', linkname: '../../etc/passwd' }),
        'points outside',
      ],
      [
        'inside-link',
        (p) => p.entry({ name: 'index2.json', type: 'symlink', linkname: 'index.json' }),
        'unexpected',
      ],
    ]
    const dst = await startRegistry()
    try {
      for (const [name, add, message] of cases) {
        const file = at(`hostile-${name}.tar`)
        const p = pack()
        p.entry({ name: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}')
        p.entry({ name: 'index.json' }, '{"schemaVersion":2,"manifests":[]}')
        add(p)
        p.finalize()
        const chunks: Buffer[] = []
        for await (const c of p) chunks.push(c as Buffer)
        writeFileSync(file, Buffer.concat(chunks))
        const size = statSync(file).size
        for (const args of [
          ['bundle', 'verify', file],
          ['bundle', 'list', file],
          ['bundle', 'push', file, '--to', `${dst.host}/p`, '--tls-verify=false'],
          ['bundle', 'create', '-o', file, '--tls-verify=false', `${src.host}/tools/tool:v1`],
        ]) {
          const r = await airlock(args)
          expect(r.code, `${name}: ${args[1]}: ${r.stderr}`).toBe(2)
          expect(r.stderr).toContain(message)
        }
        expect(statSync(file).size).toBe(size)
      }
      expect(readdirSync(evilDir)).toEqual([])
      expect(await catalog(dst)).toEqual([])
    } finally {
      await dst.stop()
      await rm(evilDir, { recursive: true, force: true })
    }
  })

  it('explains bad arguments with exit 2 and leaves an existing file alone', async () => {
    const notBundle = at('notes.txt')
    writeFileSync(notBundle, 'my notes\n'.repeat(200))
    const r = await airlock([
      'bundle',
      'create',
      '-o',
      notBundle,
      '--tls-verify=false',
      `${src.host}/tools/tool:v1`,
    ])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('not a tar archive')
    expect(readFileSync(notBundle, 'utf8')).toBe('my notes\n'.repeat(200))
    const small = await airlock([
      'bundle',
      'create',
      '-o',
      at('x.tar'),
      '--split',
      '100K',
      `${src.host}/tools/tool:v1`,
    ])
    expect(small.code).toBe(2)
    expect(small.stderr).toContain('--split')
    const dirOut = await airlock(['bundle', 'create', '-o', work, `${src.host}/tools/tool:v1`])
    expect(dirOut.code).toBe(2)
    expect(dirOut.stderr).toContain('is a directory')
    const noDir = await airlock([
      'bundle',
      'create',
      '-o',
      at('no/such/dir/x.tar'),
      `${src.host}/tools/tool:v1`,
    ])
    expect(noDir.code).toBe(2)
    expect(noDir.stderr).toContain('does not exist')
    const none = await airlock(['bundle', 'create', '-o', at('x.tar')])
    expect(none.code).toBe(2)
    expect(existsSync(at('x.tar'))).toBe(false)
    const missing = await airlock(['bundle', 'verify', at('nope.tar')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('nope.tar')
    const noTarget = await airlock(['bundle', 'push', at('images.tar')])
    expect(noTarget.code).toBe(2)
    expect(noTarget.stderr).toContain('--to')
  })

  it('reports a missing image as a partial failure and keeps the others', async () => {
    const out = at('partial.tar')
    const r = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--tls-verify=false',
      '--json',
      `${src.host}/tools/tool:v1`,
      `${src.host}/tools/tool:nope`,
    ])
    expect(r.code).toBe(3)
    const rep = json<{ images: Array<{ reference: string; action: string }> }>(r)
    expect(rep.images.map((i) => i.action).sort()).toEqual(['added', 'failed'])
    const l = json<{ images: Array<{ reference: string }> }>(await airlock(['bundle', 'list', out, '--json']))
    expect(l.images.map((i) => i.reference)).toEqual([`${src.host}/tools/tool:v1`])
    // When nothing at all can be added, no bundle file is made.
    const none = await airlock([
      'bundle',
      'create',
      '-o',
      at('empty.tar'),
      '--tls-verify=false',
      `${src.host}/tools/tool:nope`,
    ])
    // Every image failed: 1, not "partly failed".
    expect(none.code).toBe(1)
    expect(readdirSync(work).filter((f) => f.startsWith('empty.tar'))).toEqual([])
  })
})

describe('mirror spec', () => {
  it('selects images with the mirror spec and pushes them where its naming says, or elsewhere with --to', async () => {
    const spec = at('mirror.yaml')
    writeFileSync(
      spec,
      `defaults:\n  target: harbor.example.org\n  project: hpc\n  naming: keep-path\n  tlsVerify: false\nimages:\n  - source: ${src.host}/team/app\n    tags: ["1.0"]\n  - source: ${src.host}/library/alpine\n    include: ["^3\\\\."]\n`,
    )
    const out = at('spec.tar')
    const c = await airlock(['bundle', 'create', '-o', out, '-f', spec, '--json'])
    expect(c.code, c.stdout + c.stderr).toBe(0)
    const l = json<{ images: Array<{ reference: string; target?: string }> }>(
      await airlock(['bundle', 'list', out, '--json']),
    )
    expect(l.images.map((i) => i.target).sort()).toEqual([
      'harbor.example.org/hpc/library/alpine:3.20',
      'harbor.example.org/hpc/team/app:1.0',
    ])
    const dry = json<{ images: Array<{ target: string; action: string }> }>(
      await airlock(['bundle', 'push', out, '--dry-run', '--json']),
    )
    expect(dry.images.map((i) => `${i.action} ${i.target}`).sort()).toEqual([
      'planned harbor.example.org/hpc/library/alpine:3.20',
      'planned harbor.example.org/hpc/team/app:1.0',
    ])
    await withRegistry(async (dst) => {
      const p = await airlock(['bundle', 'push', out, '--to', `${dst.host}/inside`, '--tls-verify=false'])
      expect(p.code, p.stderr).toBe(0)
      expect(await digestAt(dst, 'inside/team/app', '1.0')).toBe(app.manifest.digest)
      expect(await digestAt(dst, 'inside/library/alpine', '3.20')).toBe(alpine.index.digest)
    })
  })
})

describe('signatures', () => {
  it('adds cosign-style signature tags with --referrers and pushes them beside their image', async () => {
    const sig = await makeImage({ layerSizes: [300], seed: 84 })
    const sigTag = `${tool.manifest.digest.replace(':', '-')}.sig`
    await pushRaw(src, 'tools/tool', sigTag, sig)
    const out = at('signed.tar')
    const c = await airlock([
      'bundle',
      'create',
      '-o',
      out,
      '--referrers',
      '--tls-verify=false',
      '--json',
      `${src.host}/tools/tool:v1`,
    ])
    expect(c.code, c.stderr).toBe(0)
    expect(json<{ images: Array<{ referrers?: string[] }> }>(c).images[0].referrers).toEqual([
      `${src.host}/tools/tool:${sigTag}`,
    ])
    const l = json<{ images: Array<{ reference: string; referrerOf?: string }> }>(
      await airlock(['bundle', 'list', out, '--json']),
    )
    expect(l.images.find((i) => i.reference.endsWith(sigTag))?.referrerOf).toBe(tool.manifest.digest)
    await withRegistry(async (dst) => {
      expect(
        (await airlock(['bundle', 'push', out, '--to', `${dst.host}/sec`, '--tls-verify=false'])).code,
      ).toBe(0)
      expect(await digestAt(dst, 'sec/tool', 'v1')).toBe(tool.manifest.digest)
      expect(await digestAt(dst, 'sec/tool', sigTag)).toBe(sig.manifest.digest)
    })
    // Without --referrers the signature stays out.
    const plain = json<{ images: Array<{ referrers?: string[] }> }>(
      await airlock([
        'bundle',
        'create',
        '-o',
        at('unsigned.tar'),
        '--tls-verify=false',
        '--json',
        `${src.host}/tools/tool:v1`,
      ]),
    )
    expect(plain.images[0].referrers).toBeUndefined()
  })
})

describe('bundle load', () => {
  it('loads the images of a bundle into podman under their references, skipping signatures', async () => {
    const { makePodman } = await import('../helpers/podman.js')
    const podman = await makePodman()
    try {
      const out = at('signed.tar') // tools/tool:v1 and its .sig tag (from the test above)
      const r = await runCli(['bundle', 'load', out, '--json'], {
        env: isolatedEnv({ ...podman.env, TMPDIR: podman.dir }),
        timeoutMs: 120_000,
      })
      expect(r.code, r.stderr).toBe(0)
      const res = json<{
        engine: string
        images: Array<{ names: string[]; id: string }>
        skipped: Array<{ reference: string }>
      }>(r)
      expect(res.engine).toBe('podman')
      expect(res.images.map((i) => i.names[0])).toEqual([`${src.host}/tools/tool:v1`])
      expect(res.images[0].id).toBe(tool.config.digest)
      expect(res.skipped.map((s) => s.reference)).toEqual([
        `${src.host}/tools/tool:${tool.manifest.digest.replace(':', '-')}.sig`,
      ])
      const imgs = await podman.images()
      expect(imgs.map((i) => `sha256:${i.Id}`)).toEqual([tool.config.digest])
      expect(imgs[0].Names).toContain(`${src.host}/tools/tool:v1`)
      // And back out of podman's storage into a new bundle (podman keeps config and layers).
      const back = at('from-podman.tar')
      const c = await runCli(
        ['bundle', 'create', '-o', back, '--json', `containers-storage:${src.host}/tools/tool:v1`],
        {
          env: isolatedEnv({ ...podman.env, TMPDIR: podman.dir }),
          timeoutMs: 120_000,
        },
      )
      expect(c.code, c.stderr).toBe(0)
      const listed = json<{ images: Array<{ reference: string; platforms: string[] }> }>(
        await airlock(['bundle', 'list', back, '--json']),
      )
      expect(listed.images).toMatchObject([
        { reference: `${src.host}/tools/tool:v1`, platforms: ['linux/amd64'] },
      ])
      expect((await airlock(['bundle', 'verify', back])).code).toBe(0)
    } finally {
      await podman.cleanup()
    }
  })
})

describe('mirror spec credentials', () => {
  it('refuses a spec whose source registry password variable is not set, before fetching anything', async () => {
    const spec = at('creds.yaml')
    writeFileSync(
      spec,
      `defaults:\n  target: harbor.example.org\nregistries:\n  ${proxy.host}:\n    credentials: { username: bot, passwordEnv: AIRLOCK_TEST_UNSET_SECRET }\nimages:\n  - source: ${proxy.host}/tools/tool\n    tags: ["v1"]\n`,
    )
    proxy.hits.length = 0
    const r = await airlock(['bundle', 'create', '-o', at('creds.tar'), '-f', spec])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('AIRLOCK_TEST_UNSET_SECRET')
    expect(proxy.hits).toEqual([])
    expect(existsSync(at('creds.tar'))).toBe(false)
  })
})

describe('Harbor', () => {
  it('pushes into a Harbor project named with capitals, and says when the project does not exist', async () => {
    const { startHarborStandIn } = await import('../helpers/harbor.js')
    const harbor = await startHarborStandIn({
      users: { admin: 'Harbor12345' },
      projects: [{ name: 'ai-group' }],
    })
    try {
      const out = at('images.tar')
      const ok = await airlock([
        'bundle',
        'push',
        out,
        '--to',
        `${harbor.host}/AI-Group`,
        '--creds',
        'admin:Harbor12345',
        '--json',
      ])
      expect(ok.code, ok.stderr).toBe(0)
      const r = json<{ images: Array<{ target: string; action: string }> }>(ok)
      expect(
        r.images.every((i) => i.action === 'pushed' && i.target.startsWith(`${harbor.host}/ai-group/`)),
      ).toBe(true)
      expect(await digestAt(harbor.registry, 'ai-group/alpine', '3.20')).toBe(alpine.index.digest)
      const missing = await airlock([
        'bundle',
        'push',
        out,
        '--to',
        `${harbor.host}/nope`,
        '--creds',
        'admin:Harbor12345',
      ])
      // Every image failed: 1, not "partly failed".
      expect(missing.code).toBe(1)
      expect(missing.stderr).toContain('project')
      expect(await catalog(harbor.registry)).not.toContain('nope/alpine')
      // Told where Harbor's API is, push checks the project first and says so (nothing sent)...
      const told = await airlock([
        'bundle',
        'push',
        out,
        '--to',
        `${harbor.host}/nope`,
        '--harbor',
        harbor.url,
        '--creds',
        'admin:Harbor12345',
      ])
      expect(told.code).toBe(1)
      expect(told.stderr).toContain('Harbor project "nope" does not exist')
      // ...and creates it with --create-project (the group name lowercased), then pushes.
      const made = await airlock([
        'bundle',
        'push',
        out,
        '--to',
        `${harbor.host}/New-Group`,
        '--harbor',
        harbor.url,
        '--create-project',
        '--creds',
        'admin:Harbor12345',
      ])
      expect(made.code, made.stderr).toBe(0)
      expect(harbor.projects.has('new-group')).toBe(true)
      expect(await digestAt(harbor.registry, 'new-group/app', '1.0')).toBe(app.manifest.digest)
    } finally {
      await harbor.stop()
    }
  })
})

describe('digest references', () => {
  it('keeps an image named only by digest, and pushes it by that digest', async () => {
    const out = at('by-digest.tar')
    const ref = `${src.host}/tools/tool@${tool.manifest.digest}`
    const c = await airlock(['bundle', 'create', '-o', out, '--tls-verify=false', ref])
    expect(c.code, c.stderr).toBe(0)
    const l = json<{ images: Array<{ reference: string; digest: string }> }>(
      await airlock(['bundle', 'list', out, '--json']),
    )
    expect(l.images).toMatchObject([{ reference: ref, digest: tool.manifest.digest }])
    await withRegistry(async (dst) => {
      const p = json<{ images: Array<{ target: string }> }>(
        await airlock(['bundle', 'push', out, '--to', `${dst.host}/pinned`, '--tls-verify=false', '--json']),
      )
      expect(p.images[0].target).toBe(`${dst.host}/pinned/tool@${tool.manifest.digest}`)
      expect(await digestAt(dst, 'pinned/tool', tool.manifest.digest)).toBe(tool.manifest.digest)
    })
  })
})
