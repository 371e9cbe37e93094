/**
 * Short names: the candidates each engine tries (src/lib/engine/local-image.ts) and the
 * registries.conf files podman reads for them (src/lib/engine/registries-conf.ts). The comparison
 * with podman's own choices is in test/integration/short-names.test.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  isShortName,
  type LocalImage,
  type LocalNameRules,
  localNameCandidates,
  lookupLocalImageIn,
  normalizeLocalImage,
  parseLocalImageQuery,
} from '../../src/lib/engine/local-image.js'
import { loadShortNameConfig } from '../../src/lib/engine/registries-conf.js'
import { errorOf } from '../helpers/errors.js'

const D = `sha256:${'d'.repeat(64)}`
const podman: LocalNameRules = {
  engine: 'podman',
  aliases: new Map([['tool', 'quay.io/tools/tool']]),
  searchRegistries: ['quay.io', 'registry.example.org:5000'],
}
const candidates = (text: string, rules: LocalNameRules = podman) =>
  localNameCandidates(parseLocalImageQuery(text), rules).map((r) => r.toString())

describe('short-name candidates', () => {
  it('knows short names as containers/image does', () => {
    for (const s of ['app', 'app:1', 'group/app', 'library/app:1', `app@${D}`])
      expect(isShortName(s)).toBe(true)
    for (const s of ['localhost/app', 'quay.io/app', 'host:5000/app', 'a.b/c/d:1'])
      expect(isShortName(s)).toBe(false)
  })

  it('podman: alias, localhost, search registries, then docker.io; latest when untagged', () => {
    expect(candidates('app')).toEqual([
      'localhost/app:latest',
      'quay.io/app:latest',
      'registry.example.org:5000/app:latest',
      'docker.io/library/app:latest',
    ])
    expect(candidates('tool:2')).toEqual([
      'quay.io/tools/tool:2',
      'localhost/tool:2',
      'quay.io/tool:2',
      'registry.example.org:5000/tool:2',
      'docker.io/library/tool:2',
    ])
    expect(candidates('group/app:1', { engine: 'podman' })).toEqual([
      'localhost/group/app:1',
      'docker.io/group/app:1',
    ])
    // A digest wins over a tag, as libimage's normalizeTaggedDigestedString has it.
    expect(candidates(`app:1@${D}`, { engine: 'podman' })).toEqual([
      `localhost/app@${D}`,
      `docker.io/library/app@${D}`,
    ])
    expect(candidates('quay.io/x/app')).toEqual(['quay.io/x/app:latest'])
    expect(candidates('localhost/app:1')).toEqual(['localhost/app:1'])
    expect(candidates(`sha256:${'a'.repeat(12)}`)).toEqual([])
  })

  it('docker: the docker.io normalization only', () => {
    expect(candidates('app:1', { engine: 'docker' })).toEqual(['docker.io/library/app:1'])
  })

  it('matches in that order, and falls back as podman does', () => {
    const A = `sha256:a${'0'.repeat(63)}`
    const B = `sha256:b${'1'.repeat(63)}`
    const C = `sha256:c${'2'.repeat(63)}`
    const images: LocalImage[] = [
      normalizeLocalImage({ id: A, names: ['localhost/app:1', 'h.example.org/g/deep:1'], repoDigests: [] }),
      normalizeLocalImage({
        id: B,
        names: ['app:1', 'x.example.org/two:1'],
        repoDigests: [`quay.io/z@${D}`],
      }),
      normalizeLocalImage({ id: C, names: ['y.example.org/two:1'], repoDigests: [] }),
    ]
    const look = (text: string, rules: LocalNameRules = podman) =>
      lookupLocalImageIn(images, parseLocalImageQuery(text), 'podman storage', rules)
    expect(look('app:1')).toEqual({ image: images[0], name: 'localhost/app:1' })
    expect(look('app:1', { engine: 'docker' })).toEqual({ image: images[1], name: 'docker.io/library/app:1' })
    expect(look('deep:1')).toEqual({ image: images[0], name: 'h.example.org/g/deep:1' })
    expect(look('g/deep:1').image.id).toBe(A)
    expect(errorOf(() => look('eep:1')).code).toBe('NOT_FOUND') // whole path components only
    expect(errorOf(() => look('deep:1', { engine: 'docker' })).code).toBe('NOT_FOUND')
    // Any image with the digest, whatever the name (libimage lookupImageInDigestsAndRepoTags).
    expect(look(`other@${D}`).image.id).toBe(B)
    const amb = errorOf(() => look('two:1'))
    expect([amb.code, amb.exitCode]).toEqual(['INVALID_INPUT', 2])
    expect(amb.message).toContain('x.example.org/two:1, y.example.org/two:1')
    const none = errorOf(() => look('none'))
    expect(none.message).toContain(
      'tried localhost/none:latest, quay.io/none:latest, registry.example.org:5000/none:latest, docker.io/library/none:latest',
    )
    expect(none.hint).toContain('`podman images`')
  })
})

describe('registries.conf as podman reads it', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-regconf-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('the user file replaces /etc, with its own drop-ins; the alias cache wins', async () => {
    const home = join(dir, 'user')
    await mkdir(join(home, '.config/containers/registries.conf.d'), { recursive: true })
    await mkdir(join(home, 'cache/containers'), { recursive: true })
    await writeFile(
      join(home, '.config/containers/registries.conf'),
      'unqualified-search-registries = ["a.example.org", "b.example.org/"]\n[aliases]\n"x" = "a.example.org/x"\n"y" = "a.example.org/y"\n"z" = "a.example.org/z"\n',
    )
    await writeFile(join(home, '.config/containers/registries.conf.d/10-a.conf'), '[aliases]\n"y" = ""\n')
    await writeFile(
      join(home, '.config/containers/registries.conf.d/20-b.conf'),
      '[aliases]\n"z" = "c.example.org/z"\n',
    )
    await writeFile(
      join(home, 'cache/containers/short-name-aliases.conf'),
      '[aliases]\n"x" = "cache.example.org/x"\n',
    )
    const conf = await loadShortNameConfig({
      HOME: home,
      XDG_CACHE_HOME: join(home, 'cache'),
      _CONTAINERS_ROOTLESS_UID: '1000',
    })
    expect(conf.searchRegistries).toEqual(['a.example.org', 'b.example.org'])
    expect(Object.fromEntries(conf.aliases)).toEqual({ x: 'cache.example.org/x', z: 'c.example.org/z' })
    expect(conf.files.some((f) => f.startsWith('/etc/'))).toBe(false)
  })

  it('CONTAINERS_REGISTRIES_CONF (v1 too), then drop-ins; a drop-in list replaces, [] included', async () => {
    const home = join(dir, 'env')
    await mkdir(join(home, '.config/containers/registries.conf.d'), { recursive: true })
    const main = join(dir, 'v1.conf')
    await writeFile(main, '[registries.search]\nregistries = ["v1.example.org"]\n')
    const env = { HOME: home, CONTAINERS_REGISTRIES_CONF: main, _CONTAINERS_ROOTLESS_UID: '1000' }
    expect((await loadShortNameConfig(env)).files[0]).toBe(main)
    await writeFile(
      join(home, '.config/containers/registries.conf.d/99.conf'),
      'unqualified-search-registries = []\n',
    )
    expect((await loadShortNameConfig(env)).searchRegistries).toEqual([])
    await writeFile(
      join(home, '.config/containers/registries.conf.d/99.conf'),
      'unqualified-search-registries = ["d.example.org"]\n',
    )
    expect((await loadShortNameConfig(env)).searchRegistries).toEqual(['d.example.org'])

    await writeFile(main, 'unqualified-search-registries = [\n')
    const bad = await loadShortNameConfig(env).catch((e) => e)
    expect(bad.code).toBe('INVALID_INPUT')
    expect(bad.message).toContain(main)
    const gone = await loadShortNameConfig({
      ...env,
      CONTAINERS_REGISTRIES_CONF: join(dir, 'nope.conf'),
    }).catch((e) => e)
    expect(gone.code).toBe('NOT_FOUND')
  })
})
