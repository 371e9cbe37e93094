/**
 * Short names of local images, resolved as podman resolves them (src/lib/engine/local-image.ts,
 * registries-conf.ts), against real podman 4.3 on vfs in temporary roots: podman names what
 * `podman tag IMG NAME` makes `localhost/NAME:TAG`, and every answer airlock gives is compared with
 * `podman image inspect NAME`. A real registry on 127.0.0.1 receives pushes.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyImage } from '../../src/lib/copy/copy-image.js'
import { resolveLocalImage } from '../../src/lib/engine/index.js'
import { pushImage } from '../../src/lib/engine-flows/push.js'
import { saveImage } from '../../src/lib/engine-flows/save.js'
import { tagAnywhere } from '../../src/lib/engine-flows/tag.js'
import { inspectImage } from '../../src/lib/inspect.js'
import { openImageForSif } from '../../src/lib/sif/open-image.js'
import { closeAgents } from '../../src/lib/transports/registry/agent-pool.js'
import type { EngineOptions } from '../../src/lib/transports/transport.js'
import { runCli } from '../helpers/cli.js'
import { rejectionOf } from '../helpers/errors.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, writeOciLayout } from '../helpers/images.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let podman: Podman
let reg: TestRegistry
let scratch: string
let a: GeneratedImage
let b: GeneratedImage
/** podman's storage by flags, and podman's own environment (its registries.conf). */
let opts: EngineOptions

/** The image ID podman itself picks for `name` (`podman image inspect`), as sha256:…. */
async function podmanPicks(name: string, env?: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (!env) {
    const img = await podman.inspect(name)
    return img && `sha256:${img.Id}`
  }
  const r = await execa('podman', [...podman.flags, 'image', 'inspect', '--format', '{{.Id}}', name], {
    env,
    reject: false,
  })
  return r.exitCode === 0 ? `sha256:${String(r.stdout).trim()}` : undefined
}

beforeAll(async () => {
  ;[podman, reg, scratch] = await Promise.all([
    makePodman(),
    startRegistry(),
    mkdtemp(join(tmpdir(), 'airlock-short-names-')),
  ])
  opts = {
    podman: { root: podman.root, runroot: podman.runroot, storageDriver: 'vfs' },
    env: { ...podman.env, TMPDIR: scratch },
  }
  // Search registries and an alias in the registries.conf podman and airlock both read; the
  // distribution's drop-ins (/etc/containers/registries.conf.d) still apply on top, for both.
  await writeFile(
    podman.env.CONTAINERS_REGISTRIES_CONF as string,
    [
      'unqualified-search-registries = ["quay.io", "registry.example.org"]',
      'short-name-mode = "disabled"',
      '[aliases]',
      '"aliased" = "example.net/real/aliased"',
      '',
    ].join('\n'),
  )
  a = await makeImage({ layerSizes: [3_000], seed: 601 })
  b = await makeImage({ layerSizes: [3_000], seed: 602 })
  const layout = join(scratch, 'layout')
  await writeOciLayout(layout, [
    { tag: 'a', image: a },
    { tag: 'b', image: b },
  ])
  for (const [tag, name] of [
    ['a', 'example.org/seed/a:1'],
    ['b', 'example.org/seed/b:1'],
  ]) {
    await copyImage(`oci:${layout}:${tag}`, `containers-storage:${name}`, { destination: { engine: opts } })
  }
  const A = a.config.digest.slice(7)
  const B = b.config.digest.slice(7)
  // podman's own naming: `podman tag IMG app:1` stores localhost/app:1.
  await podman.run(['tag', A, 'app:1', 'plain', 'alpine', 'registry.example.org/app:2'])
  await podman.run(['tag', A, 'registry.example.org/only:3', 'localhost/aliased:1'])
  await podman.run(['tag', A, 'harbor.example.org/group/deep:5', 'x.example.org/amb:1'])
  await podman.run(['tag', B, 'docker.io/library/app:1', 'quay.io/app:2', 'docker.io/library/hub:4'])
  await podman.run(['tag', B, 'docker.io/me/thing:4', 'example.net/real/aliased:1'])
  await podman.run(['tag', B, 'docker.io/library/alpine', 'y.example.org/amb:1'])
}, 120_000)

afterAll(async () => {
  await closeAgents()
  await Promise.all([
    podman?.cleanup(),
    reg?.stop(),
    scratch && rm(scratch, { recursive: true, force: true }),
  ])
})

describe('short names of local podman images', () => {
  it('picks the image podman picks: localhost first, alias, search registries, docker.io, any /NAME:TAG', async () => {
    expect(await podmanPicks('localhost/app:1')).toBe(a.config.digest)
    const expected: Record<string, string> = {
      'app:1': a.config.digest, // localhost/app:1 before docker.io/library/app:1
      plain: a.config.digest, // localhost/plain:latest
      'app:2': b.config.digest, // quay.io (first search registry) before registry.example.org
      'only:3': a.config.digest, // registry.example.org/only:3 (second search registry)
      'hub:4': b.config.digest, // docker.io/library/hub:4, the last resort
      'me/thing:4': b.config.digest, // docker.io/me/thing:4
      'aliased:1': b.config.digest, // the alias wins over localhost/aliased:1
      'deep:5': a.config.digest, // harbor.example.org/group/deep:5: a name ending in /deep:5
      'group/deep:5': a.config.digest,
    }
    for (const [name, id] of Object.entries(expected)) {
      expect(await podmanPicks(name), `podman's choice for ${name}`).toBe(id)
      expect((await resolveLocalImage('podman', name, opts)).id, `airlock's choice for ${name}`).toBe(id)
    }
    // The distribution's drop-in aliases (Debian: alpine = docker.io/library/alpine) count as well.
    expect((await resolveLocalImage('podman', 'alpine', opts)).id).toBe(await podmanPicks('alpine'))

    // A drop-in in the user's ~/.config/containers/registries.conf.d replaces the search list.
    const home = join(scratch, 'home')
    await mkdir(join(home, '.config/containers/registries.conf.d'), { recursive: true })
    await writeFile(
      join(home, '.config/containers/registries.conf.d/50-test.conf'),
      'unqualified-search-registries = ["registry.example.org"]\n',
    )
    const env = { ...opts.env, HOME: home }
    expect(await podmanPicks('app:2', env)).toBe(a.config.digest)
    expect((await resolveLocalImage('podman', 'app:2', { ...opts, env })).id).toBe(a.config.digest)
  })

  it('refuses a short name that ends several names, and names what it tried when nothing matches', async () => {
    const amb = await rejectionOf(resolveLocalImage('podman', 'amb:1', opts))
    expect([amb.code, amb.exitCode]).toEqual(['INVALID_INPUT', 2])
    expect(amb.message).toContain('x.example.org/amb:1')
    expect(amb.message).toContain('y.example.org/amb:1')

    const missing = await rejectionOf(resolveLocalImage('podman', 'nothing:1', opts))
    expect(missing.code).toBe('NOT_FOUND')
    for (const c of [
      'localhost/nothing:1',
      'quay.io/nothing:1',
      'registry.example.org/nothing:1',
      'docker.io/library/nothing:1',
    ]) {
      expect(missing.message).toContain(c)
    }
    expect(missing.hint).toContain('podman images')
  })

  it('push, save, tag, copy, inspect and sif find localhost/NAME:TAG by its short name', async () => {
    const pushed = await pushImage('app:1', `${reg.host}/short/app:1`, {
      engine: 'podman',
      engineOptions: opts,
    })
    expect(pushed.image.id).toBe(a.config.digest)
    const m = JSON.parse((await fetchManifestRaw(reg, 'short/app', '1')).bytes.toString('utf8'))
    expect(m.config.digest).toBe(a.config.digest)

    const file = join(scratch, 'app.tar')
    const saved = await saveImage('app:1', file, 'docker-archive', { engine: 'podman', engineOptions: opts })
    expect(saved.name).toBe('localhost/app:1') // the name podman found, as `podman save app:1` records
    const archived = await inspectImage(`docker-archive:${file}`)
    expect(archived.images[0].config?.digest).toBe(a.config.digest)

    const tagged = await tagAnywhere('app:1', ['app:tagged'], { engineOptions: opts })
    expect(tagged).toMatchObject({ where: 'podman', id: a.config.digest, tagged: ['localhost/app:tagged'] })
    expect(await podmanPicks('localhost/app:tagged')).toBe(a.config.digest)

    // `plain` exists only as localhost/plain:latest.
    const copied = await copyImage('containers-storage:plain', `oci:${join(scratch, 'out')}:x`, {
      source: { engine: opts },
    })
    expect(copied.destinationDigest).toBeTruthy()
    const out = await inspectImage(`oci:${join(scratch, 'out')}:x`)
    expect(out.images[0].config?.digest).toBe(a.config.digest)

    // A short image ID given to inspect is a local image.
    const byId = await inspectImage(a.config.digest.slice(7, 19), { context: { engine: opts } })
    expect(byId.reference).toBe(`containers-storage:${a.config.digest.slice(7, 19)}`)
    expect(byId.images[0].config?.digest).toBe(a.config.digest)

    const sif = await openImageForSif('containers-storage:plain', { context: { engine: opts } })
    try {
      expect(sif.config.Labels?.['org.airlock.test.seed']).toBe('601')
    } finally {
      await sif.close()
    }
  })

  it('the CLI says what it tried and how to list images, exit 1', async () => {
    const home = join(scratch, 'cli-home')
    await mkdir(home, { recursive: true })
    const r = await runCli(['save', 'nothing:1', '-o', join(scratch, 'never.tar')], {
      env: { ...podman.env, HOME: home, TMPDIR: scratch },
      timeoutMs: 60_000,
    })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toContain('localhost/nothing:1')
    expect(r.stderr).toContain('docker.io/library/nothing:1')
    expect(r.stderr).toContain('podman images')
  })
})
