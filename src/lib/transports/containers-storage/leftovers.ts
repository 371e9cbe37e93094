/**
 * What a failed `podman pull dir:…` leaves in podman's storage, and removing it.
 *
 * containers/image creates an image's layers one by one as their blobs arrive (storage_dest.go) and
 * the image record last. A pull that fails part way (no space for the next layer, a broken layer, a
 * kill) leaves the layers it created: layers no image uses, which `podman image prune` and
 * `podman system prune` never see (they remove images), and which podman 4 has no command to
 * remove. They can be removed through an image: a pull of an image whose layers are exactly those
 * (a config naming only their diff IDs) reuses them without writing anything, and `podman rmi` of
 * that image deletes every layer no other image or container uses (containers/storage
 * store.DeleteImage). The layers are found, read-only, in the store's layer list
 * (`<graphroot>/<driver>-layers/layers.json`): the chain of the image's diff IDs from the base,
 * created after the load started. Images and layers that existed before are never removed.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sha256Digest } from '../../digest.js'
import { runPodman } from '../../engine/podman-cli.js'
import type { EngineOptions, RawManifest } from '../transport.js'
import { DIR_VERSION } from './dir-import.js'

export interface PodmanStore {
  graphRoot: string
  driver: string
}

export interface LeftoverReport {
  /** podman's storage, when `podman info` named it. */
  store?: PodmanStore
  /** Layers of the failed load found in the store and removed. */
  removed: number
  /** Layers of the failed load still in the store after cleaning (0 when clean). */
  left: number
  /** Why cleaning stopped short, when it did. */
  problem?: string
}

interface StoredLayer {
  id: string
  parent?: string
  'diff-digest'?: string
  created?: string
}

/** Graph root and driver of the storage these options select (`podman info`). */
export async function podmanStore(opts: EngineOptions): Promise<PodmanStore | undefined> {
  const res = await runPodman(['info', '--format', 'json'], opts, { reject: false })
  try {
    const info = JSON.parse(res.stdout) as { store?: { graphRoot?: string; graphDriverName?: string } }
    const { graphRoot, graphDriverName } = info.store ?? {}
    return graphRoot && graphDriverName ? { graphRoot, driver: graphDriverName } : undefined
  } catch {
    return undefined
  }
}

async function storedLayers(store: PodmanStore): Promise<StoredLayer[]> {
  const text = await readFile(join(store.graphRoot, `${store.driver}-layers`, 'layers.json'), 'utf8')
  return JSON.parse(text) as StoredLayer[]
}

/**
 * The layers of the chain `diffIds` (from the base) present in the store, as far as it goes, and
 * which of them were created at or after `since` (ms since the epoch).
 */
function chainOf(layers: StoredLayer[], diffIds: string[], since: number): { id: string; fresh: boolean }[] {
  const chain: { id: string; fresh: boolean }[] = []
  let parent: string | undefined
  for (const diffId of diffIds) {
    const fresh = (l: StoredLayer) => Date.parse(l.created ?? '') >= since
    const matches = layers.filter((l) => l['diff-digest'] === diffId && (l.parent || undefined) === parent)
    const layer = matches.find(fresh) ?? matches[0]
    if (!layer) break
    chain.push({ id: layer.id, fresh: fresh(layer) })
    parent = layer.id
  }
  return chain
}

export interface FailedLoad {
  /** The dir: layout the load read (config blob by hex, manifest.json). */
  dir: string
  /** The manifest podman was given. */
  manifest: RawManifest
  configDigest: string
  /** Whether an image with this ID existed before the load. */
  existed: boolean
  /** When the load started (ms since the epoch). */
  since: number
  /** Where to write the layout of the cleaning image. */
  scratch: string
}

/** Removes what the failed load `load` left in podman's storage; never throws. */
export async function removeLeftovers(load: FailedLoad, opts: EngineOptions): Promise<LeftoverReport> {
  const report: LeftoverReport = { removed: 0, left: 0 }
  const id = load.configDigest.slice('sha256:'.length)
  try {
    // An image record of this load (the failure came after it was made): rmi takes its layers too.
    if (!load.existed) {
      const exists = await runPodman(['image', 'exists', id], opts, { reject: false })
      if (exists.exitCode === 0) await runPodman(['rmi', '--force', id], opts)
    }
    report.store = await podmanStore(opts)
    if (!report.store) {
      report.problem = '`podman info` did not name the storage'
      report.left = -1
      return report
    }
    const config = JSON.parse(await readFile(join(load.dir, id), 'utf8')) as Record<string, unknown> & {
      rootfs?: { diff_ids?: string[] }
    }
    const diffIds = config.rootfs?.diff_ids ?? []
    let fresh = chainOf(await storedLayers(report.store), diffIds, load.since)
    const found = fresh.filter((l) => l.fresh).length
    // A layer podman was killed while writing is flagged incomplete and deleted by the next podman
    // that opens the store: that can shorten the chain between rounds, hence a second round.
    for (let round = 0; round < 2 && fresh.some((l) => l.fresh); round++) {
      const depth = fresh.findLastIndex((l) => l.fresh) + 1
      await removeChain(load, config, diffIds.slice(0, depth), round, opts)
      fresh = chainOf(await storedLayers(report.store), diffIds, load.since)
    }
    report.left = fresh.filter((l) => l.fresh).length
    report.removed = Math.max(0, found - report.left)
  } catch (err) {
    report.problem = (err as Error).message
    report.left = report.left || -1
  }
  return report
}

/**
 * Pulls an image made of the layers `diffIds` (already in the store: only manifest and config are
 * written, no layer blob) and removes it again, taking those layers with it.
 */
async function removeChain(
  load: FailedLoad,
  config: Record<string, unknown>,
  diffIds: string[],
  round: number,
  opts: EngineOptions,
): Promise<void> {
  const doc = JSON.parse(load.manifest.bytes.toString('utf8')) as {
    config: { digest: string; size: number }
    layers: unknown[]
  }
  const inner = (config.config ?? {}) as Record<string, unknown>
  // A label of its own makes the config, and so the image ID, one that no other image has.
  const cfg = Buffer.from(
    JSON.stringify({
      ...config,
      config: {
        ...inner,
        Labels: { ...(inner.Labels as object), 'airlock.cleanup': randomBytes(8).toString('hex') },
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: undefined,
    }),
  )
  const cfgDigest = sha256Digest(cfg)
  const manifest = {
    ...doc,
    config: { ...doc.config, digest: cfgDigest, size: cfg.length },
    layers: doc.layers.slice(0, diffIds.length),
  }
  const dir = join(load.scratch, `cleanup-${round}`)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'version'), DIR_VERSION)
  await writeFile(join(dir, cfgDigest.slice('sha256:'.length)), cfg)
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest))
  const pulled = await runPodman(['pull', '--quiet', `dir:${dir}`], opts, { reject: false })
  const hex = /^[a-f0-9]{64}$/m.exec(pulled.stdout)?.[0]
  if (hex) await runPodman(['rmi', hex], opts, { reject: false })
}
