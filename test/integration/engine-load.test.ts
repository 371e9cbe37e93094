/**
 * Loading into podman (containers-storage:) against real parts: podman 4.3 on vfs in temporary
 * roots, a real registry on 127.0.0.1, skopeo as the reference (`skopeo copy …
 * containers-storage:[vfs@ROOT+RUNROOT]NAME` keeps the manifest digest). Two things are checked:
 * podman ends up with the image under the source's manifest digest (copy, pull, load, bundle
 * load), and a load that fails leaves podman's storage as it was (a layer podman refuses; a
 * graphroot on a small tmpfs that fills up, when this process may mount one). The CLI runs dist/
 * (`npm run build` first).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyImage } from '../../src/lib/copy/copy-image.js'
import { closeAgents } from '../../src/lib/transports/registry/agent-pool.js'
import type { EngineOptions } from '../../src/lib/transports/transport.js'
import { writeTar } from '../helpers/archives.js'
import { json, runCli } from '../helpers/cli.js'
import { rejectionOf } from '../helpers/errors.js'
import { blob, diffIdsOf, type GeneratedImage, MEDIA_TYPES, makeImage, pushRaw } from '../helpers/images.js'
import { layerBytes } from '../helpers/layers.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'
import { skopeo } from '../helpers/skopeo.js'

let reg: TestRegistry
let podman: Podman
let scratch: string
/** podman's storage through EngineOptions (→ --root/--runroot/--storage-driver). */
let byFlags: EngineOptions

beforeAll(async () => {
  ;[reg, podman, scratch] = await Promise.all([
    startRegistry(),
    makePodman(),
    mkdtemp(join(tmpdir(), 'airlock-engine-load-')),
  ])
  byFlags = {
    podman: { root: podman.root, runroot: podman.runroot, storageDriver: 'vfs' },
    env: { ...podman.env, CONTAINERS_STORAGE_CONF: undefined },
    tmpDir: scratch,
  }
})
afterAll(async () => {
  await closeAgents()
  await Promise.all([
    podman?.cleanup(),
    reg?.stop(),
    scratch && rm(scratch, { recursive: true, force: true }),
  ])
})

/** The CLI with podman's storage from CONTAINERS_STORAGE_CONF, in a HOME of its own under scratch. */
async function airlock(args: string[]) {
  const home = await mkdtemp(join(scratch, 'home-'))
  const env: NodeJS.ProcessEnv = {
    ...podman.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    TMPDIR: scratch,
  }
  for (const k of ['XDG_RUNTIME_DIR', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG']) delete env[k]
  return runCli(args, { env, timeoutMs: 120_000 })
}

/** What `podman image inspect` says of a name's digests. */
async function digestsOf(p: Podman, name: string): Promise<{ Digest?: string; RepoDigests?: string[] }> {
  const r = await p.run(['image', 'inspect', '--format', 'json', name])
  return (JSON.parse(r.stdout) as Array<{ Digest?: string; RepoDigests?: string[] }>)[0]
}

async function exists(p: Podman, ref: string): Promise<boolean> {
  return (await p.run(['image', 'exists', ref], { reject: false })).exitCode === 0
}

/** The repository part of a name: `host/repo:tag` → `host/repo`. */
function repoOf(name: string): string {
  return name.slice(0, name.lastIndexOf(':'))
}

/** Every layer ID in the store, sorted (the store's own list, read-only). */
async function layerIds(root: string): Promise<string[]> {
  const text = await readFile(join(root, 'vfs-layers', 'layers.json'), 'utf8').catch(() => '[]')
  return (JSON.parse(text) as Array<{ id: string }>).map((l) => l.id).sort()
}

/** Every image of the store with its names, sorted. */
async function imageList(p: Podman): Promise<string[]> {
  const r = await p.run(['images', '--all', '--format', 'json'])
  const list = JSON.parse(r.stdout || '[]') as Array<{ Id: string; Names?: string[] | null }>
  return [...new Set(list.map((i) => `${i.Id} ${[...(i.Names ?? [])].sort().join(',')}`))].sort()
}

describe('podman keeps the manifest digest', () => {
  it('copy from a registry (OCI and Docker manifests) lists NAME@<source digest>, as skopeo does', async () => {
    for (const [i, format] of (['oci', 'docker'] as const).entries()) {
      const img = await makeImage({ layerSizes: [20_000, 3_000], seed: 701 + i, format })
      await pushRaw(reg, `keep/${format}`, '1', img)
      const name = `${reg.host}/keep/${format}:1`
      const r = await copyImage(`docker://${name}`, `containers-storage:${name}`, {
        destination: { engine: byFlags },
      })
      expect(r.digestsPreserved).toBe(true)
      expect(r.destinationDigest).toBe(img.manifest.digest)
      const d = await digestsOf(podman, name)
      expect(d.Digest).toBe(img.manifest.digest)
      expect(d.RepoDigests).toContain(`${repoOf(name)}@${img.manifest.digest}`)
      expect(await exists(podman, `${repoOf(name)}@${img.manifest.digest}`)).toBe(true)
      // Config and layers as before: image ID = config digest, the diff IDs.
      const info = await podman.inspect(name)
      expect(`sha256:${info?.Id}`).toBe(img.config.digest)
      expect(info?.RootFS.Layers).toEqual(diffIdsOf(img))

      // skopeo into the same store records the same digest.
      const ref = `localhost/skopeo-${format}:1`
      const s = await skopeo([
        'copy',
        '--src-tls-verify=false',
        `docker://${name}`,
        `containers-storage:[vfs@${podman.root}+${podman.runroot}]${ref}`,
      ])
      expect(s.code, s.stderr).toBe(0)
      expect((await digestsOf(podman, ref)).Digest).toBe(img.manifest.digest)

      // The same manifest again: nothing to do.
      const again = await copyImage(`docker://${name}`, `containers-storage:${name}`, {
        destination: { engine: byFlags },
      })
      expect(again.upToDate).toBe(true)
    }
    expect(await readdir(scratch)).not.toContainEqual(expect.stringMatching(/^airlock-podman-load-/))
  })

  it('airlock pull, load of an oci-archive and bundle load keep the source digest', async () => {
    const img = await makeImage({ layerSizes: [15_000, 2_000], seed: 711, format: 'oci' })
    await pushRaw(reg, 'cli/app', '1', img)
    const name = `${reg.host}/cli/app:1`
    const atDigest = `${repoOf(name)}@${img.manifest.digest}`

    const pulled = await airlock(['pull', '--json', name])
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(json<{ copy: { digestsPreserved: boolean } }>(pulled).copy.digestsPreserved).toBe(true)
    expect(await exists(podman, atDigest)).toBe(true)
    await podman.run(['rmi', '--force', img.config.digest.slice(7)])

    // An oci-archive named by ref.name, written by skopeo, loaded by airlock; skopeo's own copy of
    // the same archive into podman records the same digest.
    const archive = join(scratch, 'app.oci.tar')
    const w = await skopeo([
      'copy',
      '--src-tls-verify=false',
      `docker://${name}`,
      `oci-archive:${archive}:${name}`,
    ])
    expect(w.code, w.stderr).toBe(0)
    const loaded = await airlock(['load', '--json', archive])
    expect(loaded.code, loaded.stderr).toBe(0)
    const l = json<{ images: Array<{ names: string[]; copy: { digestsPreserved: boolean } }> }>(loaded)
    expect(l.images[0].names).toEqual([name])
    expect(l.images[0].copy.digestsPreserved).toBe(true)
    expect(await exists(podman, atDigest)).toBe(true)
    expect((await digestsOf(podman, name)).RepoDigests).toContain(atDigest)
    const s = await skopeo([
      'copy',
      `oci-archive:${archive}`,
      `containers-storage:[vfs@${podman.root}+${podman.runroot}]localhost/skopeo-archive:1`,
    ])
    expect(s.code, s.stderr).toBe(0)
    expect((await digestsOf(podman, 'localhost/skopeo-archive:1')).Digest).toBe(img.manifest.digest)
    await podman.run(['rmi', '--force', img.config.digest.slice(7)])

    const bundle = join(scratch, 'app.bundle.tar')
    const c = await airlock(['bundle', 'create', '-o', bundle, '--tls-verify=false', name])
    expect(c.code, c.stderr).toBe(0)
    const b = await airlock(['bundle', 'load', '--json', bundle])
    expect(b.code, b.stderr).toBe(0)
    expect(await exists(podman, atDigest)).toBe(true)
    expect((await digestsOf(podman, name)).Digest).toBe(img.manifest.digest)
  }, 180_000)

  it('moves the name off an older image, which stays in the store', async () => {
    const name = 'localhost/moving:1'
    const [a, b] = await Promise.all([
      makeImage({ layerSizes: [4_000], seed: 721 }),
      makeImage({ layerSizes: [4_000], seed: 722 }),
    ])
    await pushRaw(reg, 'moving/a', '1', a)
    await pushRaw(reg, 'moving/b', '1', b)
    await copyImage(`docker://${reg.host}/moving/a:1`, `containers-storage:${name}`, {
      destination: { engine: byFlags },
    })
    await copyImage(`docker://${reg.host}/moving/b:1`, `containers-storage:${name}`, {
      destination: { engine: byFlags },
    })
    expect(`sha256:${(await podman.inspect(name))?.Id}`).toBe(b.config.digest)
    expect((await digestsOf(podman, name)).Digest).toBe(b.manifest.digest)
    const old = await podman.inspect(a.config.digest.slice(7))
    expect(old?.RepoTags ?? []).toEqual([])
  })

  it('a docker-archive with zstd layers loads, and the digest podman records is the one reported', async () => {
    // containers/image takes no zstd layer type in a Docker v2s2 manifest; the manifest airlock
    // reads such an archive with is given to podman with those layers declared gzip.
    const tar = await layerBytes([{ path: 'etc/zstd.txt', type: 'file', data: randomBytes(3_000) }])
    const zst = Buffer.from((await execa('zstd', ['-q', '-c'], { input: tar, encoding: 'buffer' })).stdout)
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [diffId] },
      }),
    )
    const cfgHex = createHash('sha256').update(config).digest('hex')
    const name = 'localhost/zstd-archive:1'
    const archive = join(scratch, 'zstd.tar')
    await writeTar(archive, [
      { name: `${cfgHex}.json`, data: config },
      { name: 'layer/layer.tar', data: zst },
      {
        name: 'manifest.json',
        data: Buffer.from(
          JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: [name], Layers: ['layer/layer.tar'] }]),
        ),
      },
    ])
    const r = await airlock(['load', '--json', archive])
    expect(r.code, r.stderr).toBe(0)
    const res = json<{
      images: Array<{ id: string; copy: { digestsPreserved: boolean; destinationDigest: string } }>
      notices: Array<{ code: string; message: string }>
    }>(r)
    expect(res.images[0].id).toBe(`sha256:${cfgHex}`)
    expect((await podman.inspect(name))?.RootFS.Layers).toEqual([diffId])
    const stored = (await digestsOf(podman, name)).Digest
    expect(res.images[0].copy.destinationDigest).toBe(stored)
    expect(res.images[0].copy.digestsPreserved).toBe(false)
    expect(res.notices.map((n) => n.code)).toContain('DIGESTS_CHANGED')
    expect(res.notices.find((n) => n.code === 'DIGESTS_CHANGED')?.message).toContain(stored)
  })
})

/** An image whose second layer is gzip but not a tar: the first layer stores, the second fails. */
function brokenSecondLayer(good: GeneratedImage): GeneratedImage {
  const junk = randomBytes(3_000)
  const layer = blob(gzipSync(junk), MEDIA_TYPES.oci.layerGzip)
  const diffIds = [...diffIdsOf(good), `sha256:${createHash('sha256').update(junk).digest('hex')}`]
  const cfg = JSON.parse(good.config.bytes.toString('utf8'))
  const config = blob(
    Buffer.from(
      JSON.stringify({ ...cfg, rootfs: { type: 'layers', diff_ids: diffIds }, history: undefined }),
    ),
    MEDIA_TYPES.oci.config,
  )
  const layers = [...good.layers, layer]
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.oci.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    ),
    MEDIA_TYPES.oci.manifest,
  )
  return { manifest, config, layers, platform: good.platform }
}

describe('a failed load leaves nothing behind', () => {
  it('a layer podman refuses: no name, and the layers stored before it are removed', async () => {
    const keep = await makeImage({ layerSizes: [5_000], seed: 731 })
    await pushRaw(reg, 'fail/keep', '1', keep)
    await copyImage(`docker://${reg.host}/fail/keep:1`, 'containers-storage:localhost/keep:1', {
      destination: { engine: byFlags },
    })
    const bad = brokenSecondLayer(await makeImage({ layerSizes: [60_000], seed: 732 }))
    await pushRaw(reg, 'fail/bad', '1', bad)
    const [images, layers] = [await imageList(podman), await layerIds(podman.root)]

    const err = await rejectionOf(
      copyImage(`docker://${reg.host}/fail/bad:1`, 'containers-storage:localhost/bad:1', {
        destination: { engine: byFlags },
      }),
    )
    expect(err.code).toBe('EXEC_FAILED')
    expect(err.message).toContain('podman could not store localhost/bad:1')
    expect(err.hint).toContain("podman's storage holds what it held before")
    expect(await podman.inspect('localhost/bad:1')).toBeUndefined()
    expect(await imageList(podman)).toEqual(images)
    expect(await layerIds(podman.root)).toEqual(layers)
    expect((await podman.inspect('localhost/keep:1'))?.Id).toBe(keep.config.digest.slice(7))
  })

  it('a graphroot that fills up: the error names it, and the store is as before', async () => {
    // A 12 MiB tmpfs as podman's graphroot (vfs: every layer a full copy of those under it).
    const small = await makePodman()
    try {
      await mkdir(small.root, { recursive: true })
      const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', small.root], {
        reject: false,
      })
      if (mounted.exitCode !== 0) throw new Error(`mounting a tmpfs needs root: ${mounted.stderr}`)
      try {
        const engine: EngineOptions = {
          podman: { root: small.root, runroot: small.runroot, storageDriver: 'vfs' },
          env: { ...small.env, CONTAINERS_STORAGE_CONF: undefined },
          tmpDir: scratch,
        }
        const keep = await makeImage({ layerSizes: [200_000], seed: 741 })
        await pushRaw(reg, 'full/keep', '1', keep)
        await copyImage(`docker://${reg.host}/full/keep:1`, 'containers-storage:localhost/keep:1', {
          destination: { engine },
        })
        const big = await makeImage({ layerSizes: [3_000_000, 3_000_000, 3_000_000], seed: 742 })
        await pushRaw(reg, 'full/big', '1', big)
        const used = async () => {
          const s = await statfs(small.root)
          return (s.blocks - s.bfree) * s.bsize
        }
        const before = {
          images: await imageList(small),
          layers: await layerIds(small.root),
          used: await used(),
        }

        const err = await rejectionOf(
          copyImage(`docker://${reg.host}/full/big:1`, 'containers-storage:localhost/big:1', {
            destination: { engine },
          }),
        )
        expect(err.code).toBe('IO_FAILED')
        expect(err.message).toContain(`no space left on device in podman's storage ${small.root}`)
        expect(err.hint).toContain('free space there')
        expect(err.hint).toMatch(/What the load had written was removed \(\d+ layers?\)/)
        expect(await imageList(small)).toEqual(before.images)
        expect(await layerIds(small.root)).toEqual(before.layers)
        expect(await used()).toBeLessThan(before.used + 256 * 1024)
        expect((await small.inspect('localhost/keep:1'))?.Id).toBe(keep.config.digest.slice(7))
      } finally {
        await small.run(['system', 'reset', '--force'], { reject: false })
        await execa('umount', [small.root], { reject: false })
      }
    } finally {
      await small.cleanup()
    }
  })
})
