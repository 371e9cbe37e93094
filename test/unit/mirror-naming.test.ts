import { describe, expect, it } from 'vitest'
import { formatNaming, parseNaming, targetRepository } from '../../src/lib/mirror/naming.js'
import type { MirrorDefaults } from '../../src/lib/mirror/types.js'

describe('naming', () => {
  const defaults = (over: Partial<MirrorDefaults> = {}): MirrorDefaults => ({
    target: 'harbor.example.org',
    project: 'mirror',
    concurrency: 4,
    naming: { kind: 'flatten' },
    referrers: false,
    immutable: [],
    retries: 2,
    ...over,
  })
  const alpine = { registry: 'docker.io', repository: 'library/alpine' }
  const deep = { registry: 'localhost:5000', repository: 'team/sub/tool' }

  it('keep-path drops the registry and keeps the path', () => {
    const d = defaults({ naming: { kind: 'keep-path' } })
    expect(targetRepository(alpine, {}, d)).toBe('harbor.example.org/mirror/library/alpine')
    expect(targetRepository(deep, {}, d)).toBe('harbor.example.org/mirror/team/sub/tool')
    expect(targetRepository(alpine, {}, { ...d, project: undefined })).toBe(
      'harbor.example.org/library/alpine',
    )
  })

  it('flatten keeps the last component', () => {
    expect(targetRepository(alpine, {}, defaults())).toBe('harbor.example.org/mirror/alpine')
    expect(targetRepository(deep, {}, defaults())).toBe('harbor.example.org/mirror/tool')
  })

  it('templates fill {project} {registry} {path} {name}; a port becomes "-"', () => {
    const naming = parseNaming('template:{project}/{registry}/{path}')
    expect(targetRepository(alpine, { naming }, defaults())).toBe(
      'harbor.example.org/mirror/docker.io/library/alpine',
    )
    expect(targetRepository(deep, { naming }, defaults())).toBe(
      'harbor.example.org/mirror/localhost-5000/team/sub/tool',
    )
    const byName = parseNaming('template:{project}/{name}-mirror')
    expect(targetRepository(deep, { naming: byName }, defaults())).toBe(
      'harbor.example.org/mirror/tool-mirror',
    )
    expect(formatNaming(naming)).toBe('template:{project}/{registry}/{path}')
  })

  it('an explicit target is relative to the registry (no project added)', () => {
    expect(targetRepository(alpine, { target: 'other/y' }, defaults())).toBe('harbor.example.org/other/y')
  })

  it('refuses results that are not repositories, naming the source', () => {
    expect(() =>
      targetRepository(deep, { naming: parseNaming('template:{project}/X{name}') }, defaults()),
    ).toThrow(/cannot mirror localhost:5000\/team\/sub\/tool to harbor\.example\.org\/mirror\/Xtool/)
    expect(() => targetRepository(alpine, { target: 'a//b' }, defaults())).toThrow(
      /cannot mirror docker.io\/library\/alpine/,
    )
    expect(() => parseNaming('template:{name')).toThrow(/unbalanced/)
    expect(() => parseNaming('template:')).toThrow(/empty/)
  })
})
