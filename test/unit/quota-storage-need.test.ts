/**
 * What podman's storage needs for an image, by graph driver (src/lib/quota/image-size.ts
 * storageNeed): vfs keeps every layer as a full copy of the layers under it, overlay keeps each layer
 * once; layers the store holds already (the same chain of diff IDs) are not written again. And the
 * driver an existing store was made with, for a storage.conf that names none (storage-conf.ts).
 * Measured against real podman in test/integration/preflight.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  chainIds,
  EXPANSION,
  type ImageSize,
  imageSize,
  type LayerSize,
  storageNeed,
} from '../../src/lib/quota/image-size.js'
import { resolveStorage, storeDriver } from '../../src/lib/quota/storage-conf.js'
import type { Runner } from '../../src/lib/quota/types.js'
import { diffIdsOf, makeImage, sha256Digest, writeOciLayout } from '../helpers/images.js'

const MiB = 1024 * 1024

function layer(n: number, size: number, exact = true): LayerSize {
  const diffId = sha256Digest(Buffer.from(`layer ${n}`))
  return { digest: exact ? diffId : sha256Digest(Buffer.from(`blob ${n}`)), diffId, unpacked: size, exact }
}

/** An ImageSize of one image: config `id`, `metadata` bytes beside the layers. */
function image(id: string, layers: LayerSize[], metadata = 1000): ImageSize {
  const configDigest = sha256Digest(Buffer.from(id))
  return {
    digest: configDigest,
    platforms: [],
    configDigests: [configDigest],
    blobs: [],
    stored: 0,
    unpacked: 0,
    exact: true,
    images: [{ configDigest, metadata, layers }],
  }
}

const five = [1, 2, 3, 4, 5].map((n) => layer(n, 30 * MiB))

describe('storageNeed: by graph driver', () => {
  it('vfs: each layer costs itself and every layer under it', () => {
    const need = storageNeed([image('a', five)], 'vfs')
    expect(need.bytes).toBe((30 + 60 + 90 + 120 + 150) * MiB + 1000)
    expect(need).toMatchObject({ driver: 'vfs', fullCopies: true, exact: true, layers: 5, reused: 0 })
  })

  it('overlay (and btrfs, zfs): each layer once', () => {
    for (const driver of ['overlay', 'btrfs', 'zfs']) {
      const need = storageNeed([image('a', five)], driver)
      expect(need.bytes).toBe(150 * MiB + 1000)
      expect(need.fullCopies).toBe(false)
    }
  })

  it('an image the store holds (same ID) needs nothing', () => {
    const img = image('a', five)
    const need = storageNeed([img], 'vfs', { images: new Set(img.configDigests) })
    expect(need).toMatchObject({ bytes: 0, layers: 0, reused: 5 })
  })

  it('vfs: layers the store holds are not written, but the layers above still copy them', () => {
    const stored = chainIds(five.slice(0, 3).map((l) => l.diffId as string))
    const need = storageNeed([image('b', five)], 'vfs', {
      images: new Set(['sha256:other']),
      chains: new Set(stored),
    })
    expect(need.bytes).toBe((120 + 150) * MiB + 1000)
    expect(need).toMatchObject({ layers: 2, reused: 3 })
    expect(storageNeed([image('b', five)], 'overlay', { chains: new Set(stored) }).bytes).toBe(
      60 * MiB + 1000,
    )
  })

  it('a layer with the same diff ID on another stack is a new layer (the store keys layers by their chain)', () => {
    // Layer 1 under layer 2 is in the store; layer 2 alone at the bottom is not.
    const stored = chainIds([five[0]!.diffId as string, five[1]!.diffId as string])
    const need = storageNeed([image('c', [five[1]!])], 'vfs', { chains: new Set(stored) })
    expect(need).toMatchObject({ bytes: 30 * MiB + 1000, layers: 1, reused: 0 })
  })

  it('images of one archive sharing their base: the shared layers once', () => {
    const a = image('a', five.slice(0, 3))
    const b = image('b', [...five.slice(0, 3), layer(9, 10 * MiB)])
    const need = storageNeed([a, b], 'vfs')
    expect(need.bytes).toBe((30 + 60 + 90) * MiB + 1000 + 100 * MiB + 1000)
    expect(need).toMatchObject({ layers: 4, reused: 3 })
  })

  it('vfs: an estimated layer under an exact one makes the exact one an estimate too', () => {
    const exactOnTop = storageNeed([image('a', [layer(1, MiB, false), layer(2, MiB)])], 'vfs', {
      chains: new Set(chainIds([layer(1, MiB, false).diffId as string])),
    })
    expect(exactOnTop).toMatchObject({ bytes: 2 * MiB + 1000, exact: false })
    const overlay = storageNeed([image('a', [layer(1, MiB, false), layer(2, MiB)])], 'overlay', {
      chains: new Set(chainIds([layer(1, MiB, false).diffId as string])),
    })
    expect(overlay).toMatchObject({ bytes: MiB + 1000, exact: true })
  })

  it('chain IDs follow the OCI image spec: sha256 of "<chain below> <diff ID>"', () => {
    const ids = chainIds(['sha256:aa', 'sha256:bb'])
    expect(ids[0]).toBe('sha256:aa')
    expect(ids[1]).toBe(sha256Digest(Buffer.from('sha256:aa sha256:bb')))
  })
})

describe('imageSize with diff IDs: what storageNeed compares with the store', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-need-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reads the config for the diff IDs; layers in order, gzip ones estimated', async () => {
    const gz = await makeImage({ layerSizes: [20_000, 30_000], seed: 71 })
    const plain = await makeImage({ layerSizes: [20_000, 30_000], seed: 72, compress: false })
    await writeOciLayout(dir, [
      { tag: 'gz', image: gz },
      { tag: 'plain', image: plain },
    ])
    const g = await imageSize(`oci:${dir}:gz`, { singleImage: true, diffIds: true })
    expect(g.images).toHaveLength(1)
    expect(g.images[0]!.configDigest).toBe(gz.config.digest)
    expect(g.images[0]!.layers.map((l) => l.diffId)).toEqual(diffIdsOf(gz))
    expect(g.images[0]!.layers.map((l) => l.unpacked)).toEqual(
      gz.layers.map((l) => l.bytes.length * EXPANSION),
    )
    expect(g.images[0]!.metadata).toBe(gz.config.bytes.length + 2 * gz.manifest.bytes.length)

    const p = await imageSize(`oci:${dir}:plain`, { singleImage: true })
    // Without the config a plain tar layer's digest is its diff ID all the same.
    expect(p.images[0]!.layers.map((l) => l.diffId)).toEqual(diffIdsOf(plain))
    const [a, b] = plain.layers.map((l) => l.bytes.length) as [number, number]
    expect(storageNeed([p], 'vfs').bytes).toBe(a + (a + b) + p.images[0]!.metadata)
    expect(storageNeed([p], 'vfs').exact).toBe(true)
    expect(storageNeed([p], 'overlay').bytes).toBe(
      p.unpacked - plain.config.bytes.length + p.images[0]!.metadata,
    )
  })
})

describe('the driver of a store whose storage.conf names none', () => {
  function node(listing: Record<string, string>): Runner {
    return async (argv) => {
      if (argv[0] === 'ls') {
        const dir = argv[argv.length - 1] as string
        return dir in listing
          ? { exitCode: 0, stdout: listing[dir] as string, stderr: '' }
          : { exitCode: 2, stdout: '', stderr: `ls: cannot access '${dir}': No such file or directory` }
      }
      return { exitCode: 1, stdout: '', stderr: `${argv[0]}: No such file or directory` }
    }
  }

  it('is the one whose layer directory the graphroot holds', async () => {
    const vfs = 'libpod\nstorage.lock\nuserns.lock\nvfs\nvfs-containers\nvfs-images\nvfs-layers\n'
    expect(await storeDriver(node({ '/s': vfs }), '/s')).toBe('vfs')
    expect(await storeDriver(node({ '/s': 'overlay\noverlay-images\noverlay-layers\n' }), '/s')).toBe(
      'overlay',
    )
    // Several: containers/storage's priority order.
    expect(await storeDriver(node({ '/s': 'vfs-layers\noverlay-layers\n' }), '/s')).toBe('overlay')
  })

  it('is unknown for an empty or missing graphroot', async () => {
    expect(await storeDriver(node({ '/s': 'libpod\n' }), '/s')).toBeUndefined()
    expect(await storeDriver(node({}), '/s')).toBeUndefined()
  })

  it('resolveStorage says which setting named the driver', async () => {
    const files: Record<string, string> = { '/c/storage.conf': '[storage]\ndriver = "vfs"\n' }
    const cat: Runner = async (argv) => {
      const f = argv[argv.length - 1] as string
      return f in files
        ? { exitCode: 0, stdout: files[f] as string, stderr: '' }
        : { exitCode: 1, stdout: '', stderr: `cat: ${f}: No such file or directory` }
    }
    const env = { HOME: '/home/a', CONTAINERS_STORAGE_CONF: '/c/storage.conf' }
    expect((await resolveStorage(cat, env, 1000)).driverFrom).toBe('/c/storage.conf')
    expect((await resolveStorage(cat, { ...env, STORAGE_DRIVER: 'overlay' }, 1000)).driverFrom).toBe(
      'STORAGE_DRIVER',
    )
    expect((await resolveStorage(cat, { HOME: '/home/a' }, 1000)).driverFrom).toBeUndefined()
  })
})
