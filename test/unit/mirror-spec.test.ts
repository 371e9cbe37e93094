import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadMirrorSpec, parseMirrorSpec } from '../../src/lib/mirror/spec.js'
import { parseSize } from '../../src/lib/mirror/spec-schema.js'
import { errorOf } from '../helpers/errors.js'

const FILE = 'mirror.yaml'

const EXAMPLE = `version: 1
defaults:
  target: harbor.example.org
  project: HPC-Group
  harbor: { createProject: true, storageLimit: 50GiB, credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
  platforms: [linux/amd64, linux/arm64]
  immutable: ['^v?\\d+\\.\\d+\\.\\d+$']
registries:
  docker.io: { credentials: { username: me, passwordEnv: DOCKERHUB_TOKEN }, concurrency: 2, rps: 5 }
  127.0.0.1:5000: { tlsVerify: false }
images:
  - source: docker.io/library/alpine
    tags: ["3.20", "3.19"]
  - source: python
    include: ['^3\\.1[12]-slim$']
    exclude: ['rc']
  - source: quay.io/org/tool
    semver: ">=1.2 <2"
    latest: 3
  - source: ghcr.io/x/y
    all: true
    platforms: [linux/amd64]
    target: other/y
    referrers: true
    immutable: []
  - "docker.io/library/busybox:1.36"
  - source: ghcr.io/x/z
    latest: { count: 5, by: created }
    platforms: all
    naming: "template:{project}/{registry}/{path}"
`

describe('mirror spec: the documented example', () => {
  const s = parseMirrorSpec(EXAMPLE, FILE)

  it('resolves defaults, lowercases the project and converts sizes', () => {
    expect(s.file).toBe(FILE)
    expect(s.defaults).toEqual({
      target: 'harbor.example.org',
      project: 'hpc-group',
      harbor: {
        url: 'https://harbor.example.org',
        createProject: true,
        storageLimit: 50 * 2 ** 30,
        credentials: { username: 'admin', passwordEnv: 'HARBOR_PASSWORD' },
      },
      platforms: ['linux/amd64', 'linux/arm64'],
      concurrency: 4,
      naming: { kind: 'flatten' },
      referrers: false,
      immutable: ['^v?\\d+\\.\\d+\\.\\d+$'],
      retries: 2,
    })
    expect(s.registries).toEqual({
      'docker.io': {
        credentials: { username: 'me', passwordEnv: 'DOCKERHUB_TOKEN' },
        concurrency: 2,
        rps: 5,
      },
      '127.0.0.1:5000': { tlsVerify: false },
    })
  })

  it('normalizes sources as Docker does and applies defaults to every image', () => {
    expect(s.images.map((i) => i.source)).toEqual([
      'docker.io/library/alpine',
      'docker.io/library/python',
      'quay.io/org/tool',
      'ghcr.io/x/y',
      'docker.io/library/busybox',
      'ghcr.io/x/z',
    ])
    expect(s.images[0]).toEqual({
      source: 'docker.io/library/alpine',
      selection: { tags: ['3.20', '3.19'] },
      platforms: ['linux/amd64', 'linux/arm64'],
      naming: { kind: 'flatten' },
      referrers: false,
      immutable: ['^v?\\d+\\.\\d+\\.\\d+$'],
    })
    expect(s.images[1].selection).toEqual({ include: ['^3\\.1[12]-slim$'], exclude: ['rc'] })
    expect(s.images[2].selection).toEqual({ semver: '>=1.2 <2', latest: { count: 3, by: 'semver' } })
    expect(s.images[3]).toMatchObject({
      selection: { all: true },
      platforms: ['linux/amd64'],
      target: 'other/y',
      referrers: true,
      immutable: [],
    })
    expect(s.images[4].selection).toEqual({ tags: ['1.36'] })
    expect(s.images[5].selection).toEqual({ latest: { count: 5, by: 'created' } })
    expect(s.images[5].platforms).toBeUndefined() // "all" overrides the default list
    expect(s.images[5].naming).toEqual({ kind: 'template', template: '{project}/{registry}/{path}' })
  })

  it('loads from a file, and a missing file is bad input (INVALID_INPUT, exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airlock-mirror-spec-'))
    try {
      await writeFile(join(dir, 'm.yaml'), EXAMPLE)
      expect((await loadMirrorSpec(join(dir, 'm.yaml'))).images).toHaveLength(6)
      await expect(loadMirrorSpec(join(dir, 'none.yaml'))).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('mirror spec: values', () => {
  it('converts sizes', () => {
    expect(parseSize('50GiB')).toBe(50 * 2 ** 30)
    expect(parseSize('500MB')).toBe(500e6)
    expect(parseSize('1.5 TiB')).toBe(1.5 * 2 ** 40)
    expect(parseSize('10gb')).toBe(10e9)
    expect(parseSize(1024)).toBe(1024)
    expect(parseSize('2048')).toBe(2048)
    expect(parseSize(-1)).toBe(-1)
    expect(parseSize('unlimited')).toBe(-1)
    for (const bad of ['50G', '', 'GiB', 0, -2, 1.5, '-5MB', '5 XB', null])
      expect(parseSize(bad)).toBeUndefined()
  })

  it('takes a Harbor URL default from the target, and registry aliases of Docker Hub', () => {
    const s = parseMirrorSpec(
      'defaults:\n  target: harbor.example.org\n  project: mirror\n  harbor: {}\n' +
        'images:\n  - alpine:1\nregistries:\n  INDEX.docker.io: { rps: 1 }\n',
      FILE,
    )
    expect(s.defaults.harbor).toEqual({ url: 'https://harbor.example.org' })
    expect(s.registries).toEqual({ 'docker.io': { rps: 1 } })
  })

  it('requires a project with harbor', () => {
    const err = errorOf(() =>
      parseMirrorSpec('defaults:\n  target: h.example.org\n  harbor: {}\nimages: [alpine:1]\n', FILE),
    )
    expect(err.message).toContain('harbor needs defaults.project')
  })
})

describe('docs/mirror-spec.md', () => {
  it('its complete example is a valid spec', async () => {
    const md = await readFile(new URL('../../docs/mirror-spec.md', import.meta.url), 'utf8')
    const example = md.split('```yaml\n')[1].split('```')[0]
    const s = parseMirrorSpec(example, 'docs/mirror-spec.md')
    expect(s.images).toHaveLength(6)
    expect(s.defaults.harbor?.storageLimit).toBe(50 * 2 ** 30)
  })
})
