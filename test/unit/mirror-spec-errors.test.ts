import { describe, expect, it } from 'vitest'
import { parseMirrorSpec } from '../../src/lib/mirror/spec.js'
import { errorOf } from '../helpers/errors.js'

const FILE = 'mirror.yaml'

const failure = (text: string) => errorOf(() => parseMirrorSpec(text, FILE))

/** A minimal valid spec with `images` (YAML list items) and extra `defaults` lines. */
const spec = (images: string, defaults = '') =>
  `defaults:\n  target: harbor.example.org\n  project: mirror\n${defaults}images:\n${images}`

describe('mirror spec: errors name file, line and column', () => {
  it.each([
    [
      'an unknown key, at the key',
      spec('  - source: alpine\n    tag: ["1"]\n'),
      'mirror.yaml:6:10: images.0.tag: unknown key',
    ],
    ['an unknown top-level key', `${spec('  - alpine:1\n')}mirrors: []\n`, 'mirrors: unknown key'],
    [
      'a tag YAML reads as a number',
      spec('  - source: alpine\n    tags: [3.20]\n'),
      'mirror.yaml:6:12: images.0.tags.0: got the number 3.2: quote the tag as written',
    ],
    [
      'an invalid regex, at its line',
      spec("  - source: alpine\n    include: ['(']\n"),
      'mirror.yaml:6:15: images.0.include.0: not a valid regular expression',
    ],
    [
      'an invalid semver range',
      spec('  - source: alpine\n    semver: ">=1.2 <<2"\n'),
      'images.0.semver: not a valid semver range',
    ],
    [
      'no tag selection',
      spec('  - source: alpine\n    platforms: [linux/amd64]\n'),
      'alpine selects no tags; say which tags to take',
    ],
    [
      'a shorthand without a tag',
      spec('  - alpine\n'),
      'mirror.yaml:5:5: images.0.source: alpine selects no tags',
    ],
    [
      'a digest in the source',
      spec(`  - alpine@sha256:${'a'.repeat(64)}\n`),
      'a digest cannot be mirrored to a tag',
    ],
    [
      'a tag in the source and a selection',
      spec('  - source: alpine:3.20\n    all: true\n'),
      'names a tag and also selects tags',
    ],
    [
      'exclude alone',
      spec('  - source: alpine\n    tags: ["1"]\n    exclude: [rc]\n'),
      'images.0.exclude: exclude narrows all/include/semver/latest',
    ],
    ['an invalid source', spec('  - source: Alpine\n    all: true\n'), 'repository name must be lowercase'],
    [
      'a bad platform',
      spec('  - source: alpine\n    all: true\n    platforms: [linux]\n'),
      'images.0.platforms.0: "linux" is not os/arch[/variant]',
    ],
    [
      'an illegal project',
      'defaults:\n  target: h.example.org\n  project: "my group"\nimages: [alpine:1]\n',
      'mirror.yaml:3:12: defaults.project: "my group" is not a valid Harbor project name',
    ],
    [
      'a target that is a URL',
      'defaults:\n  target: https://h.example.org\nimages: [alpine:1]\n',
      'defaults.target: expected a registry host[:port], not a URL',
    ],
    [
      'a target Docker would read as a namespace',
      'defaults:\n  target: harbor\nimages: [alpine:1]\n',
      'would be read as a Docker Hub namespace',
    ],
    [
      'a missing target',
      'defaults:\n  project: p\nimages: [alpine:1]\n',
      'defaults.target: required: the target registry host[:port]',
    ],
    ['missing defaults', 'images: [alpine:1]\n', 'defaults: required: defaults, with at least target'],
    ['no images', 'defaults:\n  target: h.example.org\nimages: []\n', 'images: list at least one image'],
    ['version 2', `version: 2\n${spec('  - alpine:1\n')}`, 'version: version must be 1'],
    [
      'a bad naming rule',
      spec('  - alpine:1\n', '  naming: nested\n'),
      'defaults.naming: naming "nested" is not a naming rule',
    ],
    [
      'an unknown template placeholder',
      spec('  - alpine:1\n', '  naming: "template:{org}/{name}"\n'),
      'unknown placeholder {org}',
    ],
    [
      '{project} without a project',
      'defaults:\n  target: h.example.org\n  naming: "template:{project}/{name}"\nimages: [alpine:1]\n',
      'uses {project}: set defaults.project',
    ],
    [
      'a template giving an invalid repository',
      spec('  - alpine:1\n', '  naming: "template:{project}/{registry}/{name}"\n')
        .replace('alpine:1', '127.0.0.1:5000/a/b:1')
        .replace('{registry}', 'X{registry}'),
      'repository name must be lowercase',
    ],
    [
      'an explicit target with a tag',
      spec('  - source: alpine:1\n    target: team/alpine:1\n'),
      'mirror.yaml:6:13: images.0.target: cannot mirror docker.io/library/alpine to harbor.example.org/team/alpine:1',
    ],
    [
      'an explicit target that repeats the host',
      spec('  - source: alpine:1\n    target: harbor.example.org/a/b\n'),
      'target is relative to the target registry: write "a/b"',
    ],
    [
      'a bad size',
      spec('  - alpine:1\n', '  harbor: { storageLimit: 50 gigs }\n'),
      'defaults.harbor.storageLimit: expected a size',
    ],
    [
      'a password in the spec',
      spec('  - alpine:1\n', '  harbor: { credentials: { username: a, password: hunter2 } }\n'),
      'secrets do not belong in the spec',
    ],
    [
      'passwordEnv holding a secret',
      spec('  - alpine:1\n', '  harbor: { credentials: { username: a, passwordEnv: "s3cr3t!" } }\n'),
      'the NAME of an environment variable',
    ],
    [
      'passwordEnv without a username',
      spec('  - alpine:1\n', '  harbor: { credentials: { passwordEnv: X } }\n'),
      'passwordEnv needs a username',
    ],
    [
      'credentials in the Harbor URL',
      spec('  - alpine:1\n', '  harbor: { url: "https://u:p@h.example.org" }\n'),
      'no credentials in the URL',
    ],
    ['concurrency 0', spec('  - alpine:1\n', '  concurrency: 0\n'), 'defaults.concurrency:'],
    ['latest 0', spec('  - source: alpine\n    latest: 0\n'), 'latest keeps at least 1 tag'],
    [
      'latest by something else',
      spec('  - source: alpine\n    latest: { count: 2, by: date }\n'),
      'images.0.latest.by',
    ],
    [
      'a registry that is not a host',
      `${spec('  - alpine:1\n')}registries:\n  "https://quay.io": {}\n`,
      'registries.https://quay.io: expected a registry host',
    ],
    [
      'a registry listed twice',
      `${spec('  - alpine:1\n')}registries:\n  docker.io: {}\n  index.docker.io: {}\n`,
      'docker.io is listed twice',
    ],
    ['bad YAML', 'defaults:\n  target: [x\n', 'mirror spec is not valid YAML'],
  ])('%s', (_, text, expected) => {
    const err = failure(text)
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.exitCode).toBe(2)
    expect(err.message).toContain(expected)
  })

  it('never echoes a password from the Harbor URL', () => {
    const err = failure(spec('  - alpine:1\n', '  harbor: { url: "https://u:hunter2@h.example.org" }\n'))
    expect(err.message).not.toContain('hunter2')
  })

  it('points an installed user at the spec reference by name, not at a docs/ folder they lack', () => {
    const err = failure(spec('  - source: alpine\n    tags: [3.20]\n'))
    expect(err.hint).toContain('docs/mirror-spec.md in the airlock source')
    expect(err.hint).toContain('airlock mirror --help')
    expect(err.hint).not.toMatch(/see docs\/ /)
  })

  it('reports several problems at once', () => {
    const err = failure(spec("  - source: alpine\n    tags: [3.20]\n  - source: b\n    include: ['[']\n"))
    expect(err.message).toContain('images.0.tags.0')
    expect(err.message).toContain('images.1.include.0')
  })
})
