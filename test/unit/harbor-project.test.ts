import { describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { harborDestination, harborHost, projectName } from '../../src/lib/harbor/project-name.js'

describe('Harbor project names', () => {
  it('keeps legal names and lowercases group names with capitals, saying so', () => {
    expect(projectName('mygroup')).toEqual({ name: 'mygroup' })
    expect(projectName('a.b_c-d9')).toEqual({ name: 'a.b_c-d9' })
    expect(projectName('MyGroup')).toEqual({ name: 'mygroup', loweredFrom: 'MyGroup' })
  })

  it.each(['', 'my group', '-lead', 'trail-', 'a..b', 'a_-b', 'café', 'a/b', 'x'.repeat(256)])(
    'refuses %j with the rule in the message',
    (bad) => {
      let err: unknown
      try {
        projectName(bad)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(AirlockError)
      expect((err as AirlockError).code).toBe('INVALID_INPUT')
      expect((err as AirlockError).hint).toContain('^[a-z0-9]+(?:[._-][a-z0-9]+)*$')
    },
  )

  it('accepts 255 characters, the limit', () => {
    expect(projectName('a'.repeat(255)).name).toHaveLength(255)
  })

  it('normalizes the Harbor host and refuses paths', () => {
    expect(harborHost('https://Harbor.Example.org/')).toBe('harbor.example.org')
    expect(harborHost('127.0.0.1:5000')).toBe('127.0.0.1:5000')
    expect(() => harborHost('harbor.example.org/project')).toThrow(/not a Harbor host/)
  })

  it('maps local names into <harbor>/<project>/name:tag', () => {
    expect(harborDestination('alpine:demo-copy', 'harbor.example.org', 'MyGroup')).toBe(
      'harbor.example.org/mygroup/alpine:demo-copy',
    )
    expect(harborDestination('docker.io/library/alpine', 'h.org', 'g')).toBe('h.org/g/alpine:latest')
    expect(harborDestination('quay.io/org/tools/samtools:1.2', 'h.org', 'g')).toBe('h.org/g/samtools:1.2')
    const d = `sha256:${'a'.repeat(64)}`
    expect(harborDestination(`app@${d}`, 'h.org', 'g')).toBe(`h.org/g/app@${d}`)
  })
})
