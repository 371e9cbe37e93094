import { describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { planImages } from '../../src/lib/mirror/plan.js'
import { inShard } from '../../src/lib/mirror/shard.js'
import { parseMirrorSpec } from '../../src/lib/mirror/spec.js'

/** A fake registry: repository → tags; `fail` repositories throw as an unreachable registry would. */
function fakeRegistry(repos: Record<string, string[]>, fail: Record<string, Error> = {}) {
  const calls: string[] = []
  const listTags = async (repo: string) => {
    calls.push(repo)
    if (fail[repo]) throw fail[repo]
    if (!repos[repo]) throw new AirlockError('NOT_FOUND', `repository ${repo} not found`)
    return repos[repo]
  }
  return { listTags, calls }
}

const REPOS = {
  'docker.io/library/alpine': ['3.19', '3.20', '3.20.1', '3.20.2', 'edge', 'latest'],
  'docker.io/library/busybox': ['1.36', '1.37', 'latest'],
  'quay.io/org/tool': ['v1.1.0', 'v1.2.0', 'v1.3.0', 'v1.4.0-rc.1', 'v2.0.0', `sha256-${'c'.repeat(64)}.sig`],
  'ghcr.io/x/alpine': ['3.20', '9'],
}

const spec = (images: string, defaults = '') =>
  parseMirrorSpec(
    `defaults:\n  target: harbor.example.org\n  project: mirror\n  immutable: ['^v?\\d+\\.\\d+\\.\\d+$']\n${defaults}images:\n${images}`,
    'mirror.yaml',
  )

describe('planImages', () => {
  it('lists, selects, names, marks immutable and sorts by target', async () => {
    const s = spec(
      [
        '  - source: alpine',
        '    tags: ["3.20", "3.18"]',
        '  - source: quay.io/org/tool',
        '    semver: ">=1.2 <2"',
        '    referrers: true',
        '    platforms: [linux/amd64]',
        '  - busybox:1.36',
        '',
      ].join('\n'),
    )
    const reg = fakeRegistry(REPOS)
    const plan = await planImages(s, reg.listTags)
    expect(plan.errors).toEqual([])
    expect(plan.missing).toEqual([{ source: 'docker.io/library/alpine', tag: '3.18' }])
    expect(plan.images).toEqual([
      {
        source: 'docker://docker.io/library/alpine:3.20',
        target: 'docker://harbor.example.org/mirror/alpine:3.20',
        specIndex: 0,
        tag: '3.20',
        referrers: false,
        immutable: false,
      },
      {
        source: 'docker://docker.io/library/busybox:1.36',
        target: 'docker://harbor.example.org/mirror/busybox:1.36',
        specIndex: 2,
        tag: '1.36',
        referrers: false,
        immutable: false,
      },
      {
        source: 'docker://quay.io/org/tool:v1.2.0',
        target: 'docker://harbor.example.org/mirror/tool:v1.2.0',
        specIndex: 1,
        tag: 'v1.2.0',
        platforms: ['linux/amd64'],
        referrers: true,
        immutable: true,
      },
      {
        source: 'docker://quay.io/org/tool:v1.3.0',
        target: 'docker://harbor.example.org/mirror/tool:v1.3.0',
        specIndex: 1,
        tag: 'v1.3.0',
        platforms: ['linux/amd64'],
        referrers: true,
        immutable: true,
      },
    ])
    expect(reg.calls.sort()).toEqual([
      'docker.io/library/alpine',
      'docker.io/library/busybox',
      'quay.io/org/tool',
    ])
    expect(plan.sourceTags['quay.io/org/tool']).toContain(`sha256-${'c'.repeat(64)}.sig`)
  })

  it('a listing failure is an error of that source only; the others are planned', async () => {
    const down = new AirlockError('UNREACHABLE', 'cannot connect to quay.io')
    const reg = fakeRegistry(REPOS, { 'quay.io/org/tool': down })
    const s = spec(
      '  - source: quay.io/org/tool\n    all: true\n  - source: quay.io/org/tool\n    tags: [v1.1.0]\n  - alpine:edge\n  - source: nothere/x\n    all: true\n',
    )
    const plan = await planImages(s, reg.listTags)
    expect(plan.images.map((p) => p.target)).toEqual(['docker://harbor.example.org/mirror/alpine:edge'])
    expect(plan.errors).toEqual([
      {
        source: 'docker.io/nothere/x',
        code: 'NOT_FOUND',
        message: 'cannot list tags of docker.io/nothere/x: repository docker.io/nothere/x not found',
      },
      {
        source: 'quay.io/org/tool',
        code: 'UNREACHABLE',
        message: 'cannot list tags of quay.io/org/tool: cannot connect to quay.io',
      },
    ])
    expect(reg.calls.filter((c) => c === 'quay.io/org/tool')).toHaveLength(1) // listed once per source
  })

  it('two sources writing the same target tag: an error naming both, neither planned', async () => {
    const s = spec(
      '  - source: alpine\n    all: true\n  - source: ghcr.io/x/alpine\n    tags: ["3.20", "9"]\n  - busybox:latest\n',
    )
    const plan = await planImages(s, fakeRegistry(REPOS).listTags)
    expect(plan.errors).toHaveLength(1)
    expect(plan.errors[0]).toMatchObject({ source: 'ghcr.io/x/alpine', code: 'INVALID_INPUT' })
    expect(plan.errors[0].message).toContain(
      'docker.io/library/alpine and ghcr.io/x/alpine (images 0, 1 of the spec)',
    )
    expect(plan.errors[0].message).toContain('harbor.example.org/mirror/alpine (tags 3.20)')
    // Sorted by target: mirror/alpine:9 (from ghcr.io, no conflict) sorts before mirror/alpine:edge.
    expect(plan.images.map((p) => `${p.target.replace('docker://harbor.example.org/mirror/', '')}`)).toEqual([
      'alpine:3.19',
      'alpine:3.20.1',
      'alpine:3.20.2',
      'alpine:9',
      'alpine:edge',
      'alpine:latest',
      'busybox:latest',
    ])
    expect(plan.images.find((p) => p.tag === '3.20')).toBeUndefined()
  })

  it('keep-path or an explicit target resolves the conflict', async () => {
    const s = spec(
      '  - source: alpine\n    all: true\n  - source: ghcr.io/x/alpine\n    all: true\n',
      '  naming: keep-path\n',
    )
    const plan = await planImages(s, fakeRegistry(REPOS).listTags)
    expect(plan.errors).toEqual([])
    expect(plan.images.filter((p) => p.tag === '3.20').map((p) => p.target)).toEqual([
      'docker://harbor.example.org/mirror/library/alpine:3.20',
      'docker://harbor.example.org/mirror/x/alpine:3.20',
    ])
  })

  it('the same source tag from two overlapping entries is planned once, with the first entry', async () => {
    const s = spec(
      '  - source: alpine\n    tags: ["3.20"]\n    referrers: true\n  - source: alpine\n    include: ["^3\\\\.20"]\n',
    )
    const plan = await planImages(s, fakeRegistry(REPOS).listTags)
    expect(plan.errors).toEqual([])
    expect(plan.images.map((p) => [p.tag, p.specIndex, p.referrers])).toEqual([
      ['3.20', 0, true],
      ['3.20.1', 1, false],
      ['3.20.2', 1, false],
    ])
  })

  it('shards by target repository: a shard lists only its own sources, shards partition the plan', async () => {
    const images = Array.from(
      { length: 12 },
      (_, i) => `  - source: reg.example.org/team/app${i}\n    all: true\n`,
    ).join('')
    const repos = Object.fromEntries(
      Array.from({ length: 12 }, (_, i) => [`reg.example.org/team/app${i}`, ['1', '2', '3']]),
    )
    const s = spec(images)
    const full = await planImages(s, fakeRegistry(repos).listTags)
    expect(full.images).toHaveLength(36)
    const seen: string[] = []
    for (let index = 0; index < 3; index++) {
      const reg = fakeRegistry(repos)
      const part = await planImages(s, reg.listTags, { shard: { index, count: 3 } })
      for (const p of part.images) {
        expect(inShard(p.target.replace(/^docker:\/\//, '').replace(/:[^:]+$/, ''), index, 3)).toBe(true)
      }
      // All tags of a repository stay together, and only this shard's repositories were listed.
      expect(reg.calls.length).toBe(new Set(part.images.map((p) => p.source.replace(/:[^:]+$/, ''))).size)
      seen.push(...part.images.map((p) => p.target))
    }
    expect(seen.sort()).toEqual(full.images.map((p) => p.target).sort())
  })

  it('passes created() the repository; latest by created picks the newest', async () => {
    const s = spec('  - source: busybox\n    latest: { count: 1, by: created }\n')
    const asked: string[] = []
    const plan = await planImages(s, fakeRegistry(REPOS).listTags, {
      created: async (repo, tag) => {
        asked.push(`${repo}:${tag}`)
        return tag === '1.36' ? new Date('2025-01-01') : new Date('2024-01-01')
      },
    })
    expect(plan.images.map((p) => p.tag)).toEqual(['1.36'])
    expect(asked.sort()).toEqual([
      'docker.io/library/busybox:1.36',
      'docker.io/library/busybox:1.37',
      'docker.io/library/busybox:latest',
    ])
    const without = await planImages(s, fakeRegistry(REPOS).listTags)
    expect(without.errors[0]).toMatchObject({ source: 'docker.io/library/busybox', code: 'UNSUPPORTED' })
  })

  it('trustExactTags plans exact-only sources without listing them', async () => {
    const s = spec(
      '  - alpine:3.20\n  - source: busybox\n    tags: ["1.36", "9.99"]\n  - source: quay.io/org/tool\n    latest: 1\n',
    )
    const reg = fakeRegistry(REPOS)
    const plan = await planImages(s, reg.listTags, { trustExactTags: true })
    expect(reg.calls).toEqual(['quay.io/org/tool'])
    expect(plan.missing).toEqual([])
    expect(plan.images.map((p) => p.source)).toEqual([
      'docker://docker.io/library/alpine:3.20',
      'docker://docker.io/library/busybox:1.36',
      'docker://docker.io/library/busybox:9.99',
      'docker://quay.io/org/tool:v2.0.0',
    ])
  })

  it('is deterministic whatever order tags are listed in', async () => {
    const s = spec('  - source: alpine\n    all: true\n  - source: quay.io/org/tool\n    semver: "*"\n')
    const reversed = Object.fromEntries(Object.entries(REPOS).map(([k, v]) => [k, [...v].reverse()]))
    const a = await planImages(s, fakeRegistry(REPOS).listTags)
    const b = await planImages(s, fakeRegistry(reversed).listTags, { listConcurrency: 1 })
    expect(b.images).toEqual(a.images)
  })
})
