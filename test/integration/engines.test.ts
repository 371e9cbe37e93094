/**
 * The local engines as transports and the engine library, against real parts: podman 4.3 on vfs in
 * temporary roots (`containers-storage:`), the Docker Engine API of `podman system service` on a
 * temporary socket (`docker-daemon:`), and a real registry on 127.0.0.1. The CLI runs dist/
 * (`npm run build` first).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyImage } from '../../src/lib/copy/copy-image.js'
import {
  detectEngine,
  listLocalImages,
  resolveLocalImage,
  tagLocalImage,
} from '../../src/lib/engine/index.js'
import { closeAgents } from '../../src/lib/transports/registry/agent-pool.js'
import type { EngineOptions } from '../../src/lib/transports/transport.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { rejectionOf } from '../helpers/errors.js'
import {
  blob,
  diffIdsOf,
  fetchManifestRaw,
  type GeneratedImage,
  MEDIA_TYPES,
  makeImage,
  pushRaw,
  writeOciLayout,
} from '../helpers/images.js'
import { makePodman, type Podman, type PodmanService, startPodmanService } from '../helpers/podman.js'
import { registryRequest, startRegistry, type TestRegistry } from '../helpers/registry.js'

let reg: TestRegistry
let podman: Podman
let svc: PodmanService
let scratch: string
/** podman's storage through EngineOptions (→ --root/--runroot/--storage-driver). */
let byFlags: EngineOptions
/** The same storage through the Docker Engine API of `podman system service`. */
let byApi: EngineOptions

/** A fresh, empty temporary directory for one copy, to check that nothing is left in it. */
async function tmpDirFor(name: string): Promise<string> {
  return mkdtemp(join(scratch, `${name}-`))
}

beforeAll(async () => {
  ;[reg, podman, scratch] = await Promise.all([
    startRegistry(),
    makePodman(),
    mkdtemp(join(tmpdir(), 'airlock-engines-')),
  ])
  svc = await startPodmanService(podman)
  byFlags = {
    podman: { root: podman.root, runroot: podman.runroot, storageDriver: 'vfs' },
    env: { ...process.env, CONTAINERS_STORAGE_CONF: undefined },
  }
  byApi = { dockerHost: svc.dockerHost }
})
afterAll(async () => {
  await closeAgents()
  await svc?.stop()
  await Promise.all([
    podman?.cleanup(),
    reg?.stop(),
    scratch && rm(scratch, { recursive: true, force: true }),
  ])
})

describe('containers-storage: (podman CLI)', () => {
  it('airlock copy docker:// → containers-storage: stores the image under exactly that name', async () => {
    const img = await makeImage({ layerSizes: [30_000, 2_000], seed: 401, format: 'docker' })
    await pushRaw(reg, 'eng/cli', '1', img)
    const tmp = await tmpDirFor('cli')
    const r = await runCli(
      ['copy', '--json', `docker://${reg.host}/eng/cli:1`, `containers-storage:${reg.host}/eng/cli:1`],
      { env: isolatedEnv({ CONTAINERS_STORAGE_CONF: podman.storageConf, TMPDIR: tmp }) },
    )
    expect(r.code, r.stderr).toBe(0)
    expect(json(r)).toMatchObject({ destination: `containers-storage:${reg.host}/eng/cli:1` })
    const images = await podman.images()
    expect(images.flatMap((i) => i.Names ?? [])).toContain(`${reg.host}/eng/cli:1`)
    const info = await podman.inspect(`${reg.host}/eng/cli:1`)
    // Image ID = config digest; the layers podman stored are the image's diff IDs.
    expect(`sha256:${info?.Id}`).toBe(img.config.digest)
    expect(info?.RootFS.Layers).toEqual(diffIdsOf(img))
    // No temporary names, no temporary files.
    expect(info?.RepoTags).toEqual([`${reg.host}/eng/cli:1`])
    expect(await readdir(tmp)).toEqual([])
  })

  it('containers-storage: → registry by name and by short ID: gzip layers, same image ID when pulled back', async () => {
    const img = await makeImage({ layerSizes: [20_000, 5_000], seed: 402, format: 'oci' })
    await pushRaw(reg, 'eng/src', '1', img)
    await copyImage(`${reg.host}/eng/src:1`, `containers-storage:${reg.host}/eng/src:1`, {
      destination: { engine: byFlags },
    })
    const tmp = await tmpDirFor('push')
    const engine = { ...byFlags, tmpDir: tmp }
    const byName = await copyImage(
      `containers-storage:${reg.host}/eng/src:1`,
      `${reg.host}/eng/pushed:name`,
      {
        source: { engine },
      },
    )
    const short = img.config.digest.slice('sha256:'.length, 'sha256:'.length + 10)
    const byId = await copyImage(`containers-storage:${short}`, `${reg.host}/eng/pushed:id`, {
      source: { engine },
    })
    expect(byName.digestsPreserved).toBe(false)
    expect(byId.source).toBe(`containers-storage:${short}`)
    expect(await readdir(tmp)).toEqual([])

    for (const tag of ['name', 'id']) {
      const raw = await fetchManifestRaw(reg, 'eng/pushed', tag)
      const m = JSON.parse(raw.bytes.toString('utf8'))
      expect(m.config.digest).toBe(img.config.digest)
      // podman keeps the manifest type it stored (the source's OCI one) and gzips the layers.
      for (const l of m.layers as Array<{ mediaType: string }>) expect(l.mediaType).toMatch(/tar[.+]gzip$/)
      const layer = await registryRequest(reg, `/v2/eng/pushed/blobs/${m.layers[0].digest}`)
      expect([...layer.body.subarray(0, 2)]).toEqual([0x1f, 0x8b])
    }

    // Pull back with podman itself from a store that no longer has the image.
    await podman.run(['rmi', '--force', img.config.digest.slice('sha256:'.length)])
    expect(await podman.inspect(`${reg.host}/eng/src:1`)).toBeUndefined()
    await podman.run(['pull', '-q', '--tls-verify=false', `${reg.host}/eng/pushed:id`])
    const back = await podman.inspect(`${reg.host}/eng/pushed:id`)
    expect(`sha256:${back?.Id}`).toBe(img.config.digest)
    expect(back?.RootFS.Layers).toEqual(diffIdsOf(img))

    // podman remembers the manifest digest of what it pulled: copying that same manifest is a no-op.
    const noop = await copyImage(
      `${reg.host}/eng/pushed:id`,
      `containers-storage:${reg.host}/eng/pushed:id`,
      {
        destination: { engine },
      },
    )
    expect(noop.upToDate).toBe(true)

    // An image podman pulled itself (stored with the registry's v2s2 manifest) keeps its ID too.
    await copyImage(`containers-storage:${reg.host}/eng/pushed:id`, `${reg.host}/eng/again:1`, {
      source: { engine },
    })
    const again = JSON.parse((await fetchManifestRaw(reg, 'eng/again', '1')).bytes.toString('utf8'))
    expect(again.config.digest).toBe(img.config.digest)
    expect(await readdir(tmp)).toEqual([])
  })

  it('reads the store named in the reference: [driver@root+runroot]', async () => {
    const img = await makeImage({ layerSizes: [3_000], seed: 405 })
    await writeOciLayout(join(scratch, 'spec-layout'), [{ tag: 'x', image: img }])
    const store = `[vfs@${podman.root}+${podman.runroot}]`
    await copyImage(`oci:${join(scratch, 'spec-layout')}:x`, `containers-storage:${store}localhost/spec`, {
      destination: { engine: { env: byFlags.env } },
    })
    // A name without a registry stays under localhost, and gets :latest, as podman names it.
    expect(`sha256:${(await podman.inspect('localhost/spec:latest'))?.Id}`).toBe(img.config.digest)
  })

  it('leaves no temporary files and no name when a copy fails', async () => {
    // A layer that is gzip but not a tar: every blob verifies, podman refuses it.
    const junk = randomBytes(2_000)
    const layer = blob(gzipSync(junk), MEDIA_TYPES.oci.layerGzip)
    const config = blob(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: {},
          rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(junk).digest('hex')}`] },
        }),
      ),
      MEDIA_TYPES.oci.config,
    )
    const manifest = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MEDIA_TYPES.oci.manifest,
          config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
          layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
        }),
      ),
      MEDIA_TYPES.oci.manifest,
    )
    const bad: GeneratedImage = {
      manifest,
      config,
      layers: [layer],
      platform: { os: 'linux', architecture: 'amd64' },
    }
    const layout = join(scratch, 'bad-layout')
    await writeOciLayout(layout, [{ tag: 'bad', image: bad }])
    const tmp = await tmpDirFor('fail')
    const err = await rejectionOf(
      copyImage(`oci:${layout}:bad`, 'containers-storage:localhost/bad:1', {
        destination: { engine: { ...byFlags, tmpDir: tmp } },
      }),
    )
    expect(err.code).toBe('EXEC_FAILED')
    expect(err.message).toContain('podman could not store localhost/bad:1')
    expect(err.message).toContain('invalid tar header')
    expect(await readdir(tmp)).toEqual([])
    expect(await podman.inspect('localhost/bad:1')).toBeUndefined()

    // A blob that fails its digest mid-copy: same, before podman is ever asked.
    const good = await makeImage({ layerSizes: [4_000], seed: 406 })
    const corrupt: GeneratedImage = {
      ...good,
      layers: [{ ...good.layers[0], bytes: randomBytes(good.layers[0].size) }],
    }
    await writeOciLayout(join(scratch, 'corrupt-layout'), [{ tag: 'c', image: corrupt }])
    const err2 = await rejectionOf(
      copyImage(`oci:${join(scratch, 'corrupt-layout')}:c`, 'containers-storage:localhost/corrupt:1', {
        destination: { engine: { ...byFlags, tmpDir: tmp } },
      }),
    )
    expect(err2.code).toBe('DIGEST_MISMATCH')
    expect(await readdir(tmp)).toEqual([])
    expect(await podman.inspect('localhost/corrupt:1')).toBeUndefined()

    // The Docker API refuses the junk layer too: an AirlockError with the engine's words, no files.
    const err3 = await rejectionOf(
      copyImage(`oci:${layout}:bad`, 'docker-daemon:localhost/bad:2', {
        destination: { engine: { ...byApi, tmpDir: tmp } },
      }),
    )
    expect(err3.code).toBe('EXEC_FAILED')
    expect(err3.message).toContain('localhost/bad:2')
    expect(err3.message).toContain('invalid tar header')
    expect(await readdir(tmp)).toEqual([])
    expect(await podman.inspect('localhost/bad:2')).toBeUndefined()
  })
})

describe('docker-daemon: (Docker Engine API of podman system service)', () => {
  it('round trip registry → docker-daemon: → registry keeps config digest and diff IDs', async () => {
    const img = await makeImage({ layerSizes: [25_000, 1_000], seed: 403, format: 'docker' })
    await pushRaw(reg, 'eng/api', '1', img)
    const tmp = await tmpDirFor('api')
    const into = await copyImage(`${reg.host}/eng/api:1`, `docker-daemon:${reg.host}/eng/api:1`, {
      destination: { engine: { ...byApi, tmpDir: tmp } },
    })
    expect(into.digestsPreserved).toBe(false)
    // The service shares the podman store: the image is there under the name.
    const stored = await podman.inspect(`${reg.host}/eng/api:1`)
    expect(`sha256:${stored?.Id}`).toBe(img.config.digest)
    expect(stored?.RootFS.Layers).toEqual(diffIdsOf(img))

    // Back out through the CLI, with DOCKER_HOST naming the socket.
    const r = await runCli(
      ['copy', '--json', `docker-daemon:${reg.host}/eng/api:1`, `${reg.host}/eng/api-back:1`],
      {
        env: isolatedEnv({ DOCKER_HOST: svc.dockerHost, TMPDIR: tmp }),
      },
    )
    expect(r.code, r.stderr).toBe(0)
    const m = JSON.parse((await fetchManifestRaw(reg, 'eng/api-back', '1')).bytes.toString('utf8'))
    expect(m.config.digest).toBe(img.config.digest)
    const cfg = await registryRequest(reg, `/v2/eng/api-back/blobs/${m.config.digest}`)
    expect(JSON.parse(cfg.body.toString('utf8')).rootfs.diff_ids).toEqual(diffIdsOf(img))
    expect(await readdir(tmp)).toEqual([])
  })

  it('reads by short ID and writes a second name; the load names the image itself', async () => {
    const img = await makeImage({ layerSizes: [6_000], seed: 404, format: 'oci' })
    await writeOciLayout(join(scratch, 'api-layout'), [{ tag: 'a', image: img }])
    await copyImage(`oci:${join(scratch, 'api-layout')}:a`, 'docker-daemon:localhost/api-src:1', {
      destination: { engine: byApi },
    })
    const short = img.config.digest.slice(7, 19)
    await copyImage(`docker-daemon:${short}`, 'docker-daemon:localhost/api-copy:2', {
      source: { engine: byApi },
      destination: { engine: byApi },
    })
    const found = await resolveLocalImage('docker', 'localhost/api-copy:2', byApi)
    expect(found.id).toBe(img.config.digest)
    expect(found.names).toEqual(expect.arrayContaining(['localhost/api-src:1', 'localhost/api-copy:2']))
  })

  it('an unreachable DOCKER_HOST is UNREACHABLE, naming the socket', async () => {
    const sock = join(scratch, 'no-daemon', 'docker.sock')
    const env = { ...process.env, DOCKER_HOST: `unix://${sock}` }
    const src = await rejectionOf(
      copyImage('docker-daemon:localhost/x:1', `oci:${join(scratch, 'never')}:x`, {
        source: { engine: { env } },
      }),
    )
    expect(src.code).toBe('UNREACHABLE')
    expect(src.message).toContain(sock)
    expect(src.hint).toContain('DOCKER_HOST')
    const dst = await rejectionOf(
      copyImage(`oci:${join(scratch, 'api-layout')}:a`, 'docker-daemon:localhost/x:1', {
        destination: { engine: { env } },
      }),
    )
    expect(dst.code).toBe('UNREACHABLE')
    expect((await rejectionOf(detectEngine({ engine: 'docker', env }))).code).toBe('UNREACHABLE')

    const r = await runCli(['copy', 'docker-daemon:localhost/x:1', `oci:${join(scratch, 'never')}:x`], {
      env: isolatedEnv({ DOCKER_HOST: `unix://${sock}` }),
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(sock)
  })
})

describe('engine library', () => {
  it('detects podman first, then DOCKER_HOST', async () => {
    expect(await detectEngine(byFlags)).toBe('podman')
    expect(await detectEngine({ env: { PATH: '', DOCKER_HOST: svc.dockerHost } })).toBe('docker')
    expect(await detectEngine({ engine: 'docker', ...byApi })).toBe('docker')
  })

  it('tags by short ID into a Harbor-style project name, in both engines', async () => {
    const img = await makeImage({ layerSizes: [2_000], seed: 407 })
    await writeOciLayout(join(scratch, 'tag-layout'), [{ tag: 't', image: img }])
    await copyImage(`oci:${join(scratch, 'tag-layout')}:t`, 'containers-storage:localhost/tagme:1', {
      destination: { engine: byFlags },
    })
    const short = img.config.digest.slice(7, 15)
    const viaPodman = await tagLocalImage('podman', short, ['harbor.example.org/mygroup/app:1.0'], byFlags)
    expect(viaPodman).toEqual({ id: img.config.digest, tagged: ['harbor.example.org/mygroup/app:1.0'] })
    expect(`sha256:${(await podman.inspect('harbor.example.org/mygroup/app:1.0'))?.Id}`).toBe(
      img.config.digest,
    )

    const viaApi = await tagLocalImage(
      'docker',
      `sha256:${short}`,
      ['harbor.example.org/mygroup/app:api'],
      byApi,
    )
    expect(viaApi.tagged).toEqual(['harbor.example.org/mygroup/app:api'])
    expect(`sha256:${(await podman.inspect('harbor.example.org/mygroup/app:api'))?.Id}`).toBe(
      img.config.digest,
    )

    // Names are checked before anything is tagged: an uppercase project is refused.
    const bad = await rejectionOf(
      tagLocalImage(
        'podman',
        short,
        ['harbor.example.org/x/ok:1', 'harbor.example.org/MyGroup/app:1'],
        byFlags,
      ),
    )
    expect(bad.code).toBe('INVALID_REFERENCE')
    expect(await podman.inspect('harbor.example.org/x/ok:1')).toBeUndefined()

    const listed = await listLocalImages('podman', byFlags)
    const entry = listed.find((i) => i.id === img.config.digest)
    expect(entry?.names).toEqual(
      expect.arrayContaining([
        'localhost/tagme:1',
        'harbor.example.org/mygroup/app:1.0',
        'harbor.example.org/mygroup/app:api',
      ]),
    )
  })

  it('ambiguous and unknown IDs are exit-2 errors naming them; unknown names NOT_FOUND', async () => {
    const existing = await listLocalImages('podman', byFlags)
    const first = existing[0].id.slice(7, 8)
    // An image whose ID starts like one already stored.
    let seed = 500
    let img = await makeImage({ layerSizes: [500], seed })
    while (img.config.digest.slice(7, 8) !== first) img = await makeImage({ layerSizes: [500], seed: ++seed })
    await writeOciLayout(join(scratch, 'amb-layout'), [{ tag: 'a', image: img }])
    await copyImage(`oci:${join(scratch, 'amb-layout')}:a`, 'containers-storage:localhost/amb:1', {
      destination: { engine: byFlags },
    })
    for (const [engine, opts] of [
      ['podman', byFlags],
      ['docker', byApi],
    ] as const) {
      const amb = await rejectionOf(resolveLocalImage(engine, first, opts))
      expect([amb.code, amb.exitCode]).toEqual(['INVALID_INPUT', 2])
      expect(amb.message).toContain(`image ID ${first} is ambiguous`)
      const unknown = await rejectionOf(resolveLocalImage(engine, 'sha256:0000000000ff', opts))
      expect([unknown.code, unknown.exitCode]).toEqual(['INVALID_INPUT', 2])
      expect(unknown.message).toContain('sha256:0000000000ff')
      const missing = await rejectionOf(resolveLocalImage(engine, 'localhost/nothing:here', opts))
      expect(missing.code).toBe('NOT_FOUND')
      expect(missing.message).toContain('localhost/nothing:here')
      expect((await resolveLocalImage(engine, img.config.digest.slice(7, 20), opts)).names).toContain(
        'localhost/amb:1',
      )
    }
    // The copy command says the same, with exit 2.
    const r = await runCli(['copy', `containers-storage:${first}`, `oci:${join(scratch, 'never')}:x`], {
      env: isolatedEnv({ CONTAINERS_STORAGE_CONF: podman.storageConf }),
    })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('ambiguous')
  })
})
