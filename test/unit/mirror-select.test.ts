import { describe, expect, it } from 'vitest'
import { selectTags, tagVersion } from '../../src/lib/mirror/select-tags.js'
import { inShard, parseShard, shardOf } from '../../src/lib/mirror/shard.js'
import type { TagSelection } from '../../src/lib/mirror/types.js'

const AVAILABLE = [
  'latest',
  '3.20',
  '3.19',
  '1.0.0',
  'v1.2.0',
  '1.2.0',
  '1.2.10',
  '1.2.9',
  'v1.3.0-rc.1',
  '1.3.0',
  '2.0.0-beta',
  '2.0.0',
  '1.3.0-alpine',
  'edge',
  `sha256-${'a'.repeat(64)}.sig`,
  `sha256-${'b'.repeat(64)}`,
]

const select = async (sel: TagSelection, available = AVAILABLE) => (await selectTags(available, sel)).tags

describe('selectTags: exact tags', () => {
  it('takes exact tags the repository has and reports the others as missing, sorted', async () => {
    expect(await selectTags(AVAILABLE, { tags: ['edge', 'nope', '3.20', 'also-missing', 'edge'] })).toEqual({
      tags: ['3.20', 'edge'],
      missing: ['also-missing', 'nope'],
    })
  })

  it('returns the union of exact tags and the filtered part; exclude does not touch exact tags', async () => {
    expect(await select({ tags: ['latest'], semver: '>=2' })).toEqual(['2.0.0', 'latest'])
    expect(await select({ tags: ['1.2.0'], all: true, exclude: ['^1\\.2'] })).toContain('1.2.0')
    expect(await select({ tags: ['1.2.0'], all: true, exclude: ['^1\\.2'] })).not.toContain('1.2.9')
  })

  it('an exact tag may name a signature tag; filters never select them', async () => {
    const sig = `sha256-${'a'.repeat(64)}.sig`
    expect(await select({ all: true })).not.toContain(sig)
    expect(await select({ include: ['^sha256-'] })).toEqual([])
    expect(await select({ tags: [sig] })).toEqual([sig])
  })
})

describe('selectTags: regexes', () => {
  it('all takes every (non-signature) tag, in code-point order', async () => {
    expect(await select({ all: true })).toEqual([
      '1.0.0',
      '1.2.0',
      '1.2.10',
      '1.2.9',
      '1.3.0',
      '1.3.0-alpine',
      '2.0.0',
      '2.0.0-beta',
      '3.19',
      '3.20',
      'edge',
      'latest',
      'v1.2.0',
      'v1.3.0-rc.1',
    ])
  })

  it('matches regexes as written: unanchored patterns match anywhere', async () => {
    expect(await select({ include: ['rc'] })).toEqual(['v1.3.0-rc.1'])
    expect(await select({ include: ['^1\\.2'] })).toEqual(['1.2.0', '1.2.10', '1.2.9'])
    expect(await select({ include: ['^1\\.2\\.[0-9]$'] })).toEqual(['1.2.0', '1.2.9'])
    expect(await select({ include: ['3'] })).toEqual(['1.3.0', '1.3.0-alpine', '3.19', '3.20', 'v1.3.0-rc.1'])
  })

  it('include is any-of, exclude is none-of, both together', async () => {
    expect(await select({ include: ['^3\\.', '^edge$'] })).toEqual(['3.19', '3.20', 'edge'])
    expect(await select({ include: ['^1\\.'], exclude: ['-', '^1\\.2\\.'] })).toEqual(['1.0.0', '1.3.0'])
    expect(await select({ all: true, exclude: ['^(v|\\d)'] })).toEqual(['edge', 'latest'])
  })

  it('python-style variants: include a suffix, exclude release candidates', async () => {
    const tags = ['3.12-slim', '3.12rc1-slim', '3.11-slim', '3.10-slim', '3.12', '3.12-slim-bookworm']
    expect(await select({ include: ['^3\\.1[12]-slim$'], exclude: ['rc'] }, tags)).toEqual([
      '3.11-slim',
      '3.12-slim',
    ])
  })
})

describe('selectTags: semver', () => {
  it('parses tags loosely with an optional v; non-versions drop out', () => {
    expect(tagVersion('v1.2.3')?.version).toBe('1.2.3')
    expect(tagVersion('1.2.3-rc.1')?.prerelease).toEqual(['rc', 1])
    expect(tagVersion('3.20')).toBeNull()
    expect(tagVersion('latest')).toBeNull()
  })

  it('keeps versions in the range, excluding prereleases', async () => {
    expect(await select({ semver: '>=1.2 <2' })).toEqual(['1.2.0', '1.2.10', '1.2.9', '1.3.0', 'v1.2.0'])
    expect(await select({ semver: '*' })).toEqual([
      '1.0.0',
      '1.2.0',
      '1.2.10',
      '1.2.9',
      '1.3.0',
      '2.0.0',
      'v1.2.0',
    ])
    expect(await select({ semver: '^2' })).toEqual(['2.0.0'])
  })

  it('a range naming a prerelease of the same x.y.z admits it, as node-semver does', async () => {
    expect(await select({ semver: '>=2.0.0-alpha <3' })).toEqual(['2.0.0', '2.0.0-beta'])
  })

  it('combines with regexes (AND)', async () => {
    expect(await select({ semver: '>=1.2 <2', include: ['^v'] })).toEqual(['v1.2.0'])
    expect(await select({ semver: '>=1.2 <2', exclude: ['^v'] })).toEqual([
      '1.2.0',
      '1.2.10',
      '1.2.9',
      '1.3.0',
    ])
  })
})

describe('selectTags: latest', () => {
  it('by semver: highest versions first, numeric not lexical (1.2.10 > 1.2.9)', async () => {
    expect(await select({ semver: '>=1 <2', latest: { count: 2, by: 'semver' } })).toEqual([
      '1.2.10',
      '1.3.0',
    ])
    expect(await select({ semver: '~1.2', latest: { count: 1, by: 'semver' } })).toEqual(['1.2.10'])
  })

  it('by semver alone ranks prereleases too (below their release); semver "*" keeps releases only', async () => {
    expect(await select({ latest: { count: 3, by: 'semver' } })).toEqual(['1.3.0', '2.0.0', '2.0.0-beta'])
    expect(await select({ semver: '*', latest: { count: 3, by: 'semver' } })).toEqual([
      '1.2.10',
      '1.3.0',
      '2.0.0',
    ])
  })

  it('ties (1.2.0 and v1.2.0) break by tag in code-point order, and count as separate tags', async () => {
    const tags = ['v1.2.0', '1.2.0', '1.1.0']
    expect(await select({ latest: { count: 1, by: 'semver' } }, tags)).toEqual(['1.2.0'])
    expect(await select({ latest: { count: 2, by: 'semver' } }, tags)).toEqual(['1.2.0', 'v1.2.0'])
    expect(await select({ latest: { count: 3, by: 'semver' } }, tags)).toEqual(['1.1.0', '1.2.0', 'v1.2.0'])
    expect(await select({ latest: { count: 10, by: 'semver' } }, [...tags, 'edge'])).toEqual([
      '1.1.0',
      '1.2.0',
      'v1.2.0',
    ])
  })

  it('applies after the filters', async () => {
    expect(await select({ include: ['^1\\.2\\.'], latest: { count: 2, by: 'semver' } })).toEqual([
      '1.2.10',
      '1.2.9',
    ])
  })

  it('by created: newest first, tags without a date last, ties by tag', async () => {
    const dates: Record<string, string> = {
      a: '2024-01-01T00:00:00Z',
      b: '2025-06-01T00:00:00Z',
      c: '2025-06-01T00:00:00Z',
      d: '2023-01-01T00:00:00Z',
    }
    const asked: string[] = []
    const created = async (tag: string) => {
      asked.push(tag)
      return dates[tag] ? new Date(dates[tag]) : undefined
    }
    const tags = ['a', 'b', 'c', 'd', 'nodate', 'other']
    expect(
      (await selectTags(tags, { all: true, latest: { count: 2, by: 'created' } }, created)).tags,
    ).toEqual(['b', 'c'])
    expect(
      (await selectTags(tags, { all: true, latest: { count: 3, by: 'created' } }, created)).tags,
    ).toEqual(['a', 'b', 'c'])
    expect(
      (await selectTags(tags, { all: true, latest: { count: 5, by: 'created' } }, created)).tags,
    ).toEqual(['a', 'b', 'c', 'd', 'nodate'])
    asked.length = 0
    await selectTags(tags, { include: ['^[ab]$'], latest: { count: 1, by: 'created' } }, created)
    expect(asked.sort()).toEqual(['a', 'b']) // only candidates that passed the filters are looked up
  })

  it('by created without a lookup is UNSUPPORTED', async () => {
    await expect(selectTags(['a'], { all: true, latest: { count: 1, by: 'created' } })).rejects.toMatchObject(
      {
        code: 'UNSUPPORTED',
      },
    )
  })

  it('is deterministic whatever the order of the listing', async () => {
    const sel: TagSelection = { all: true, exclude: ['^v'], latest: { count: 4, by: 'semver' } }
    const shuffled = [...AVAILABLE].reverse()
    expect(await select(sel, shuffled)).toEqual(await select(sel))
  })
})

describe('shards', () => {
  it('parses 0-based I/N and refuses the rest with a hint', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 })
    expect(parseShard(' 3 / 4 ')).toEqual({ index: 3, count: 4 })
    for (const bad of ['4/4', '1/0', '-1/3', 'a/b', '1', '1/2/3', '', '1.5/3']) {
      let err: { code?: string; hint?: string; exitCode?: number } = {}
      try {
        parseShard(bad)
      } catch (e) {
        err = e as typeof err
      }
      expect(err.code, bad).toBe('INVALID_INPUT')
      expect(err.exitCode).toBe(2)
      expect(err.hint).toContain('JOB_COMPLETION_INDEX')
    }
    expect(() => parseShard('4/4')).toThrow(/numbered from 0/)
  })

  it('partitions keys exactly: every key in exactly one shard, roughly balanced', () => {
    const keys = Array.from({ length: 4000 }, (_, i) => `harbor.example.org/mirror/image-${i}`)
    for (const count of [1, 2, 3, 7, 16]) {
      const sizes = Array.from(
        { length: count },
        (_, index) => keys.filter((k) => inShard(k, index, count)).length,
      )
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(keys.length)
      for (const k of keys.slice(0, 200)) {
        expect(Array.from({ length: count }, (_, i) => inShard(k, i, count)).filter(Boolean)).toHaveLength(1)
      }
      const even = keys.length / count
      // Within 4 standard deviations of a fair split (binomial), so a good hash always passes.
      for (const n of sizes) expect(Math.abs(n - even)).toBeLessThan(4 * Math.sqrt(even))
    }
  })

  it('is stable across machines (sha256 of the key, first 8 bytes big-endian, mod N)', () => {
    // Expected values computed independently: int.from_bytes(sha256(key)[:8], 'big') % n in Python.
    expect(shardOf('a', 7)).toBe(4)
    expect(shardOf('b', 7)).toBe(0)
    expect(shardOf('harbor.example.org/mirror/alpine', 10)).toBe(1)
    expect(shardOf('docker.io/library/alpine', 1000)).toBe(172)
    expect(shardOf('', 1)).toBe(0)
  })
})
