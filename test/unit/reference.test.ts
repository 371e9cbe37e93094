/**
 * Cases ported from github.com/distribution/reference (normalize_test.go, reference_test.go, regexp_test.go),
 * run through parseReference (ParseNormalizedNamed) and parseDockerRef (ParseDockerRef).
 */
import { describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import {
  isValidDigest,
  isValidTag,
  parseDockerRef,
  parseReference,
  registryHost,
  withDigest,
  withTag,
} from '../../src/lib/reference.js'
import { errorOf } from '../helpers/errors.js'

const D64 = 'sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'
const D_E6 = 'sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582'
const D_DB = 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c'
const HEX64 = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a'
const HINT =
  'a valid reference looks like [registry[:port]/]repository[:tag][@sha256:<64 hex>], ' +
  'e.g. alpine:3.19, ghcr.io/org/app:1.2 or localhost:5000/app@sha256:<64 hex>'

describe('parseReference: valid names (TestValidateReferenceName, TestValidateRemoteName)', () => {
  it.each([
    ['docker/docker', 'docker.io/docker/docker'],
    ['library/debian', 'docker.io/library/debian'],
    ['debian', 'docker.io/library/debian'],
    ['localhost/library/debian', 'localhost/library/debian'],
    ['localhost/debian', 'localhost/debian'],
    ['LOCALDOMAIN/library/debian', 'LOCALDOMAIN/library/debian'],
    ['LOCALDOMAIN/debian', 'LOCALDOMAIN/debian'],
    ['docker.io/docker/docker', 'docker.io/docker/docker'],
    ['docker.io/library/debian', 'docker.io/library/debian'],
    ['docker.io/debian', 'docker.io/library/debian'],
    ['index.docker.io/docker/docker', 'docker.io/docker/docker'],
    ['index.docker.io/library/debian', 'docker.io/library/debian'],
    ['index.docker.io/debian', 'docker.io/library/debian'],
    ['127.0.0.1:5000/docker/docker', '127.0.0.1:5000/docker/docker'],
    ['127.0.0.1:5000/library/debian', '127.0.0.1:5000/library/debian'],
    ['127.0.0.1:5000/debian', '127.0.0.1:5000/debian'],
    ['192.168.0.1', 'docker.io/library/192.168.0.1'],
    ['192.168.0.1:80', 'docker.io/library/192.168.0.1:80'],
    ['192.168.0.1:8/debian', '192.168.0.1:8/debian'],
    ['192.168.0.2:25000/debian', '192.168.0.2:25000/debian'],
    [
      'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
      'docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    ],
    ['[fc00::1]:5000/docker', '[fc00::1]:5000/docker'],
    ['[fc00::1]:5000/docker/docker', '[fc00::1]:5000/docker/docker'],
    ['[fc00:1:2:3:4:5:6:7]:5000/library/debian', '[fc00:1:2:3:4:5:6:7]:5000/library/debian'],
    [`docker.io/${HEX64}`, `docker.io/library/${HEX64}`],
    ['Docker/docker', 'Docker/docker'],
    ['DOCKER/docker', 'DOCKER/docker'],
    ['docker-rules/docker', 'docker.io/docker-rules/docker'],
    ['docker---rules/docker', 'docker.io/docker---rules/docker'],
    ['doc/docker', 'docker.io/doc/docker'],
    ['d/docker', 'docker.io/d/docker'],
    ['jess/t', 'docker.io/jess/t'],
    ['dock__er/docker', 'docker.io/dock__er/docker'],
    [
      'registry.io/foo/project--id.module--name.ver---sion--name',
      'registry.io/foo/project--id.module--name.ver---sion--name',
    ],
    ['example.com/some_separator__underscore/myimage', 'example.com/some_separator__underscore/myimage'],
    ['Asdf.com/foo/bar', 'Asdf.com/foo/bar'],
  ])('%s -> %s', (input, canonical) => {
    expect(parseReference(input).toString()).toBe(canonical)
  })
})

describe('parseReference: invalid names', () => {
  it.each([
    'https://github.com/docker/docker',
    'docker/Docker',
    '-docker',
    '-docker/docker',
    '-docker.io/docker/docker',
    'docker///docker',
    'docker.io/docker/Docker',
    'docker.io/docker///docker',
    '[fc00::1]',
    '[fc00::1]:5000',
    'fc00::1:5000/debian',
    '[fe80::1%eth0]:5000/debian',
    '[2001:db8:3:4::192.0.2.33]:5000/debian',
    HEX64,
    'docker-/docker',
    '-docker-/docker',
    '____/____',
    '_docker/_docker',
    'dock..er/docker',
    'dock_.er/docker',
    'dock-.er/docker',
    'docker/',
    `${'this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_'.repeat(4)}/docker`,
    ':justtag',
    `@${D64}`,
    'repo@sha256:ffffffffffffffffffffffffffffffffff',
    `validname@invaliddigest:${'f'.repeat(64)}`,
    'Uppercase:tag',
    'test:5000/Uppercase/lowercase:tag',
    'aa/asdf$$^/aa',
    '[2001:db8::1]',
    '[2001:db8::1]:5000',
    '[2001:db8::1]:tag',
    '[fe80::1%@invalidzone]:5000/repo',
    'test.com:http/repo',
    'foo.com/',
    'a/a/a/a/',
    'a//a/a',
    'a^a',
    'foo_bar.com:8080/app',
    'do__cker:8080/docker',
    'example.com/__underscore/myimage',
    'example.com/..dots/myimage',
    'example.com/.dots/myimage',
    'docker./docker',
    '.docker/docker',
    'registry.com:8080/myapp@sha256:badbadbadbad',
    'registry.com:8080/myapp:invalid~tag',
    'bad_hostname.com:8080/myapp:tag',
    'localhost:http/name@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912',
    'registry.com:8080/myapp@bad',
    'registry.com:8080/myapp@2bad',
    'Foo/FarB',
    ' alpine',
  ])('%s is rejected', (input) => {
    const err = errorOf(() => parseReference(input))
    expect(err.code).toBe('INVALID_REFERENCE')
    expect(err.message.startsWith(`invalid reference ${JSON.stringify(input)}: `)).toBe(true)
    expect(err.hint).toBe(HINT)
  })
})

describe('parseReference: normalization (TestParseRepositoryInfo)', () => {
  const cases: Array<[input: string, registry: string, repository: string, familiar: string]> = []
  const table: Array<[remote: string, familiar: string, full: string, ambiguous: string, domain: string]> = [
    ['fooo', 'localhost/fooo', 'localhost/fooo', 'localhost/fooo', 'localhost'],
    ['fooo/bar', 'localhost/fooo/bar', 'localhost/fooo/bar', 'localhost/fooo/bar', 'localhost'],
    ['fooo', 'LOCALDOMAIN/fooo', 'LOCALDOMAIN/fooo', 'LOCALDOMAIN/fooo', 'LOCALDOMAIN'],
    ['fooo/bar', 'LOCALDOMAIN/fooo/bar', 'LOCALDOMAIN/fooo/bar', 'LOCALDOMAIN/fooo/bar', 'LOCALDOMAIN'],
    ['fooo/bar', 'fooo/bar', 'docker.io/fooo/bar', 'index.docker.io/fooo/bar', 'docker.io'],
    ['library/ubuntu', 'ubuntu', 'docker.io/library/ubuntu', 'library/ubuntu', 'docker.io'],
    ['nonlibrary/ubuntu', 'nonlibrary/ubuntu', 'docker.io/nonlibrary/ubuntu', '', 'docker.io'],
    ['other/library', 'other/library', 'docker.io/other/library', '', 'docker.io'],
    [
      'private/moonbase',
      '127.0.0.1:8000/private/moonbase',
      '127.0.0.1:8000/private/moonbase',
      '',
      '127.0.0.1:8000',
    ],
    ['privatebase', '127.0.0.1:8000/privatebase', '127.0.0.1:8000/privatebase', '', '127.0.0.1:8000'],
    ['private/moonbase', 'example.com/private/moonbase', 'example.com/private/moonbase', '', 'example.com'],
    ['privatebase', 'example.com/privatebase', 'example.com/privatebase', '', 'example.com'],
    [
      'private/moonbase',
      'example.com:8000/private/moonbase',
      'example.com:8000/private/moonbase',
      '',
      'example.com:8000',
    ],
    [
      'privatebasee',
      'example.com:8000/privatebasee',
      'example.com:8000/privatebasee',
      '',
      'example.com:8000',
    ],
    [
      'library/ubuntu-12.04-base',
      'ubuntu-12.04-base',
      'docker.io/library/ubuntu-12.04-base',
      'index.docker.io/library/ubuntu-12.04-base',
      'docker.io',
    ],
    ['library/foo', 'foo', 'docker.io/library/foo', 'docker.io/foo', 'docker.io'],
    ['library/foo/bar', 'library/foo/bar', 'docker.io/library/foo/bar', '', 'docker.io'],
    ['store/foo/bar', 'store/foo/bar', 'docker.io/store/foo/bar', '', 'docker.io'],
    ['bar', 'Foo/bar', 'Foo/bar', '', 'Foo'],
    ['bar', 'FOO/bar', 'FOO/bar', '', 'FOO'],
  ]
  for (const [remote, familiar, full, ambiguous, domain] of table) {
    for (const input of [familiar, full, ambiguous].filter((s) => s !== '')) {
      cases.push([input, domain, remote, familiar])
    }
  }

  it.each(cases)('%s -> registry %s, repository %s, familiar %s', (input, registry, repository, familiar) => {
    const ref = parseReference(input)
    expect(ref.registry).toBe(registry)
    expect(ref.repository).toBe(repository)
    expect(ref.name).toBe(`${registry}/${repository}`)
    expect(ref.toString()).toBe(`${registry}/${repository}`)
    expect(ref.familiar()).toBe(familiar)
    expect(ref.tag).toBeUndefined()
    expect(ref.digest).toBeUndefined()
  })
})

describe('parseReference: registry split (TestNormalizedSplitHostname, TestDomainRegexp)', () => {
  it.each([
    ['test.com/foo', 'test.com', 'foo'],
    ['test_com/foo', 'docker.io', 'test_com/foo'],
    ['docker/migrator', 'docker.io', 'docker/migrator'],
    ['test.com:8080/foo', 'test.com:8080', 'foo'],
    ['test-com:8080/foo', 'test-com:8080', 'foo'],
    ['test:8080/foo', 'test:8080', 'foo'],
    ['foo', 'docker.io', 'library/foo'],
    ['xn--n3h.com/foo', 'xn--n3h.com', 'foo'],
    ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
    ['docker.io/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar'],
    ['localhost:8080/bar', 'localhost:8080', 'bar'],
    ['a.b/x', 'a.b', 'x'],
    ['a-b.com/x', 'a-b.com', 'x'],
    ['ab.c-om/x', 'ab.c-om', 'x'],
    ['0101.com/x', '0101.com', 'x'],
    ['b.gbc.io:443/x', 'b.gbc.io:443', 'x'],
    ['192.168.1.1:75050/x', '192.168.1.1:75050', 'x'],
    ['[fd00:1:2::3]:75050/x', '[fd00:1:2::3]:75050', 'x'],
    [
      '[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000/x',
      '[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000',
      'x',
    ],
    ['[2001:db8::1]/repo', '[2001:db8::1]', 'repo'],
    ['[2001:db8::]:5000/repo', '[2001:db8::]:5000', 'repo'],
    ['[::1]:5000/repo', '[::1]:5000', 'repo'],
    ['sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com', 'bar/baz/quux'],
    ['b.gcr.io/test.example.com/my-app', 'b.gcr.io', 'test.example.com/my-app'],
    ['example.com/xn--7o8h.com/myimage', 'example.com', 'xn--7o8h.com/myimage'],
    ['Docker.io/foo', 'Docker.io', 'foo'],
    ['registry-1.docker.io/foo', 'registry-1.docker.io', 'foo'],
    ['index.docker.io:443/foo', 'index.docker.io:443', 'foo'],
    ['localhost', 'docker.io', 'library/localhost'],
  ])('%s -> %s + %s', (input, registry, repository) => {
    const ref = parseReference(input)
    expect([ref.registry, ref.repository]).toEqual([registry, repository])
  })

  it.each([
    '-ab.com/x',
    'ab-.com/x',
    'ab.-com/x',
    'ab.com-/x',
    '[fd00:1:2::3]75050/x',
    '[fd00:1:2::3]::75050/x',
    '[fd00:1:2::3%eth0]:75050/x',
    'fd00:1:2::3:75050/x',
  ])('%s has an invalid registry', (input) => {
    expect(() => parseReference(input)).toThrow(/registry ".*" is not a valid host\[:port\]/)
  })
})

describe('parseReference: tags and digests (TestReferenceParse)', () => {
  it.each([
    ['test_com', 'docker.io', 'library/test_com', undefined, undefined],
    ['test.com:tag', 'docker.io', 'library/test.com', 'tag', undefined],
    ['test.com:5000', 'docker.io', 'library/test.com', '5000', undefined],
    ['test.com/repo:tag', 'test.com', 'repo', 'tag', undefined],
    ['test:5000/repo:tag', 'test:5000', 'repo', 'tag', undefined],
    [`test:5000/repo@${D64}`, 'test:5000', 'repo', undefined, D64],
    [`test:5000/repo:tag@${D64}`, 'test:5000', 'repo', 'tag', D64],
    ['lowercase:Uppercase', 'docker.io', 'library/lowercase', 'Uppercase', undefined],
    [
      'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
      'sub-dom1.foo.com',
      'bar/baz/quux',
      'some-long-tag',
      undefined,
    ],
    [
      'b.gcr.io/test.example.com/my-app:test.example.com',
      'b.gcr.io',
      'test.example.com/my-app',
      'test.example.com',
      undefined,
    ],
    ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com', 'myimage', 'xn--n3h.com', undefined],
    [`xn--7o8h.com/myimage:xn--7o8h.com@${D64}`, 'xn--7o8h.com', 'myimage', 'xn--7o8h.com', D64],
    ['foo_bar.com:8080', 'docker.io', 'library/foo_bar.com', '8080', undefined],
    ['foo/foo_bar.com:8080', 'docker.io', 'foo/foo_bar.com', '8080', undefined],
    ['192.168.1.1:tag', 'docker.io', 'library/192.168.1.1', 'tag', undefined],
    ['192.168.1.1/repo', '192.168.1.1', 'repo', undefined, undefined],
    ['192.168.1.1:5000/repo:5050', '192.168.1.1:5000', 'repo', '5050', undefined],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', '[2001:db8:1:2:3:4:5:6]', 'repo', 'tag', undefined],
    ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000', 'repo', 'tag', undefined],
    [`[2001:db8::1]:5000/repo@${D64}`, '[2001:db8::1]:5000', 'repo', undefined, D64],
    [`[2001:db8::1]:5000/repo:tag@${D64}`, '[2001:db8::1]:5000', 'repo', 'tag', D64],
    [`localhost:8080@${D64}`, 'docker.io', 'library/localhost', '8080', D64],
    [`localhost@${D64}`, 'docker.io', 'library/localhost', undefined, D64],
    [`redis@${D_DB}`, 'docker.io', 'library/redis', undefined, D_DB],
    [`dmcgowan/myapp@${D_DB}`, 'docker.io', 'dmcgowan/myapp', undefined, D_DB],
    ['alpine:3.19', 'docker.io', 'library/alpine', '3.19', undefined],
    [`alpine:${'t'.repeat(128)}`, 'docker.io', 'library/alpine', 't'.repeat(128), undefined],
    [`app@sha384:${'a'.repeat(96)}`, 'docker.io', 'library/app', undefined, `sha384:${'a'.repeat(96)}`],
    [`app@sha512:${'e'.repeat(128)}`, 'docker.io', 'library/app', undefined, `sha512:${'e'.repeat(128)}`],
  ])('%s', (input, registry, repository, tag, digest) => {
    const ref = parseReference(input)
    expect({ registry: ref.registry, repository: ref.repository, tag: ref.tag, digest: ref.digest }).toEqual({
      registry,
      repository,
      tag,
      digest,
    })
  })

  it('keeps tag and digest together (TestParseReferenceWithTagAndDigest)', () => {
    const short = 'busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa'
    const ref = parseReference(short)
    expect(ref.toString()).toBe(`docker.io/library/${short}`)
    expect(ref.tag).toBe('latest')
    expect(ref.digest).toBe('sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa')
    expect(ref.familiar()).toBe(short)
  })
})

describe('parseReference: familiar()', () => {
  it.each([
    ['alpine:3.19', 'alpine:3.19'],
    ['docker.io/library/alpine:3.19', 'alpine:3.19'],
    ['index.docker.io/user/app', 'user/app'],
    ['user/app', 'user/app'],
    ['localhost:5000/x:1', 'localhost:5000/x:1'],
    ['harbor.example.org/proj/app:2', 'harbor.example.org/proj/app:2'],
    ['docker.io/library/foo/bar', 'library/foo/bar'],
    [`redis@${D_DB}`, `redis@${D_DB}`],
    ['[::1]:5000/foo', '[::1]:5000/foo'],
  ])('%s -> %s', (input, familiar) => {
    expect(parseReference(input).familiar()).toBe(familiar)
  })
})

describe('parseReference: length limit (255 characters of repository path)', () => {
  it('accepts 255 characters after a registry', () => {
    const ref = parseReference(`example.com/${'a'.repeat(255)}:tag`)
    expect(ref.repository).toBe('a'.repeat(255))
    expect(ref.tag).toBe('tag')
  })

  it('accepts a 255-character path that only the tag pushes over', () => {
    const ref = parseReference(`${'a/'.repeat(127)}a:tag-puts-this-over-max`)
    expect(ref.registry).toBe('docker.io')
    expect(ref.repository).toBe(`${'a/'.repeat(127)}a`)
  })

  it.each([
    [`example.com/${'a'.repeat(256)}`, 256],
    [`domain/${'a'.repeat(256)}:tag`, 263],
    [`x.io/${'a'.repeat(300)}`, 300],
    ['a'.repeat(250), 258],
  ])('rejects %#', (input, length) => {
    expect(() => parseReference(input)).toThrow(
      `invalid reference ${JSON.stringify(input)}: repository name is ${length} characters long, the limit is 255`,
    )
  })
})

describe('parseReference: error messages', () => {
  it.each([
    ['', 'reference is empty'],
    ['docker/Docker', 'repository name must be lowercase ("docker/Docker")'],
    ['Uppercase:tag', 'repository name must be lowercase ("Uppercase")'],
    ['test:5000/Uppercase/lowercase:tag', 'repository name must be lowercase ("Uppercase/lowercase")'],
    ['FOO_BAR/x', 'repository name must be lowercase ("FOO_BAR/x")'],
    ['alpine:-bad', 'tag "-bad" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'],
    [`alpine:${'t'.repeat(129)}`, `tag "${'t'.repeat(129)}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`],
    ['alpine@sha256:abc', 'digest "sha256:abc" has 3 hex characters, sha256 needs 64'],
    [
      `alpine@sha256:${'f'.repeat(34)}`,
      `digest "sha256:${'f'.repeat(34)}" has 34 hex characters, sha256 needs 64`,
    ],
    [
      `alpine@sha512:${'f'.repeat(64)}`,
      `digest "sha512:${'f'.repeat(64)}" has 64 hex characters, sha512 needs 128`,
    ],
    [`alpine@sha256:${'F'.repeat(64)}`, `digest "sha256:${'F'.repeat(64)}" must use lowercase hex`],
    [
      `alpine@md5:${'f'.repeat(32)}`,
      `digest "md5:${'f'.repeat(32)}" uses unsupported algorithm "md5" (use sha256, sha384 or sha512)`,
    ],
    ['alpine@latest', 'digest "latest" must look like <algorithm>:<hex>, e.g. sha256:<64 hex>'],
    [HEX64, 'cannot specify 64-byte hexadecimal strings as a repository name (an image ID?)'],
    ['https://github.com/docker/docker', 'registry "https:" is not a valid host[:port]'],
    ['foo_bar.com/app', 'registry "foo_bar.com" is not a valid host[:port]'],
    [
      'docker///docker',
      'repository "docker///docker" has an invalid path component "" ' +
        '(lowercase letters and digits, separated by ".", "_", "__" or "-")',
    ],
    [
      'example.com/..dots/myimage',
      'repository "..dots/myimage" has an invalid path component "..dots" ' +
        '(lowercase letters and digits, separated by ".", "_", "__" or "-")',
    ],
  ])('%s', (input, reason) => {
    const err = errorOf(() => parseReference(input))
    expect(err).toBeInstanceOf(AirlockError)
    expect(err.code).toBe('INVALID_REFERENCE')
    expect(err.message).toBe(`invalid reference ${JSON.stringify(input)}: ${reason}`)
    expect(err.hint).toBe(HINT)
  })
})

describe('parseDockerRef (TestParseDockerRef)', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:latest', 'docker.io/library/busybox:latest'],
    [`busybox@${D_E6}`, `docker.io/library/busybox@${D_E6}`],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox:latest', 'docker.io/library/busybox:latest'],
    ['library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['docker.io/library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['gcr.io/library/busybox', 'gcr.io/library/busybox:latest'],
    [`gcr.io/library/busybox:latest@${D_E6}`, `gcr.io/library/busybox@${D_E6}`],
    ['localhost:5000/x:1', 'localhost:5000/x:1'],
  ])('%s -> %s', (input, expected) => {
    const ref = parseDockerRef(input)
    expect(ref.toString()).toBe(expected)
    expect(parseReference(ref.toString()).toString()).toBe(expected)
  })

  it('drops the tag when both tag and digest are given', () => {
    const ref = parseDockerRef(`alpine:3.19@${D64}`)
    expect(ref.tag).toBeUndefined()
    expect(ref.digest).toBe(D64)
    expect(ref.familiar()).toBe(`alpine@${D64}`)
  })

  it('rejects what parseReference rejects', () => {
    expect(() => parseDockerRef('alpine:-bad')).toThrow(
      'invalid reference "alpine:-bad": tag "-bad" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}',
    )
  })
})

describe('withTag and withDigest (TestWithTag, TestWithDigest)', () => {
  it.each([
    ['test.com/foo', 'tag', 'test.com/foo:tag'],
    ['foo', 'tag2', 'docker.io/library/foo:tag2'],
    ['test.com:8000/foo', 'tag4', 'test.com:8000/foo:tag4'],
    ['test.com:8000/foo', 'TAG5', 'test.com:8000/foo:TAG5'],
    [`test.com:8000/foo@${D64}`, 'TAG5', `test.com:8000/foo:TAG5@${D64}`],
    ['alpine:3.18', '3.19', 'docker.io/library/alpine:3.19'],
  ])('withTag(%s, %s) -> %s', (input, tag, expected) => {
    const ref = parseReference(input)
    expect(withTag(ref, tag).toString()).toBe(expected)
    expect(ref.toString()).toBe(parseReference(input).toString())
  })

  it.each([
    ['test.com/foo', `test.com/foo@${D64}`],
    ['foo', `docker.io/library/foo@${D64}`],
    ['test.com:8000/foo', `test.com:8000/foo@${D64}`],
    ['test.com:8000/foo:latest', `test.com:8000/foo:latest@${D64}`],
  ])('withDigest(%s) -> %s', (input, expected) => {
    expect(withDigest(parseReference(input), D64).toString()).toBe(expected)
  })

  it('rejects an invalid tag (TestInvalidReferenceComponents)', () => {
    const err = errorOf(() => withTag(parseReference('busybox'), '-foo'))
    expect(err.code).toBe('INVALID_REFERENCE')
    expect(err.message).toBe(
      'cannot tag docker.io/library/busybox with "-foo": tag "-foo" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}',
    )
    expect(err.hint).toBe(HINT)
  })

  it.each([
    ['foo', 'digest "foo" must look like <algorithm>:<hex>, e.g. sha256:<64 hex>'],
    [
      'sha256:1234567890098765432112345667890098765',
      'digest "sha256:1234567890098765432112345667890098765" has 37 hex characters, sha256 needs 64',
    ],
  ])('rejects digest %s', (digest, reason) => {
    const err = errorOf(() => withDigest(parseReference('busybox'), digest))
    expect(err.code).toBe('INVALID_REFERENCE')
    expect(err.message).toBe(`cannot pin docker.io/library/busybox to ${JSON.stringify(digest)}: ${reason}`)
  })
})

describe('isValidTag / isValidDigest', () => {
  it.each([
    ['latest', true],
    ['3.19', true],
    ['_x', true],
    ['UPPER-case.1', true],
    ['t'.repeat(128), true],
    ['t'.repeat(129), false],
    ['-bad', false],
    ['.bad', false],
    ['', false],
    ['invalid~tag', false],
    ['a:b', false],
  ])('isValidTag(%s) is %s', (tag, valid) => {
    expect(isValidTag(tag)).toBe(valid)
  })

  it.each([
    [D64, true],
    [D_DB, true],
    [`sha384:${'0'.repeat(96)}`, true],
    [`sha512:${'0'.repeat(128)}`, true],
    ['sha256:abc', false],
    [`sha256:${'f'.repeat(63)}`, false],
    [`sha256:${'f'.repeat(65)}`, false],
    [`sha256:${'F'.repeat(64)}`, false],
    [`sha512:${'0'.repeat(64)}`, false],
    [`md5:${'0'.repeat(32)}`, false],
    [`SHA256:${'f'.repeat(64)}`, false],
    ['f'.repeat(64), false],
    ['', false],
  ])('isValidDigest(%s) is %s', (digest, valid) => {
    expect(isValidDigest(digest)).toBe(valid)
  })
})

describe('registryHost', () => {
  it.each([
    ['docker.io', 'registry-1.docker.io'],
    ['localhost:5000', 'localhost:5000'],
    ['[::1]:5000', '[::1]:5000'],
    ['harbor.example.org', 'harbor.example.org'],
    ['ghcr.io', 'ghcr.io'],
  ])('%s -> %s', (registry, host) => {
    expect(registryHost(registry)).toBe(host)
  })

  it('is registry-1.docker.io for normalized Docker Hub names', () => {
    expect(registryHost(parseReference('index.docker.io/library/alpine').registry)).toBe(
      'registry-1.docker.io',
    )
  })
})
