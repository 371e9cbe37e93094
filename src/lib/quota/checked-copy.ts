/**
 * The copy engine with the quota preflight in front: what `pull`, `push`, `copy` and `load` call.
 *
 * - Into podman's storage (`containers-storage:`): what podman's graph driver needs for the image
 *   (vfs: every layer a full copy of those under it) against the room left in graphroot (quota,
 *   airlock's config limit, free space): preflight.ts.
 * - Into a Harbor project (`docker://` on the Harbor airlock knows): the blobs the repository lacks
 *   against the project quota, and Harbor's refusal half way explained with numbers: preflight-harbor.ts.
 * - Anywhere else (Docker's daemon, archives, other registries): copyImage as it is.
 *
 * The source is opened once: measured from its manifests, then handed to copyImage already open.
 */
import { type CopyOptions, type CopyResult, copyImage } from '../copy/copy-image.js'
import { listLocalImages } from '../engine/index.js'
import { runPodman } from '../engine/podman-cli.js'
import type { ContainersStorageReference } from '../transports/containers-storage/transport.js'
import { parseImageReference } from '../transports/index.js'
import type { EngineOptions, ImageReference, ImageSource } from '../transports/transport.js'
import { type ImageSize, imageSize, measureImage, openedReference } from './image-size.js'
import { type PodmanPreflightOptions, preflightPodmanStore, type SpaceCheck } from './preflight.js'
import { explainHarborQuota, harborTarget, preflightHarborPush } from './preflight-harbor.js'

export interface QuotaFlowOptions {
  /** Go on when the preflight finds too little room (the result says it was forced). */
  force?: boolean
  /** Bytes: airlock's config `quota.limit`, the limit on podman's storage when no quota tool gives one. */
  configLimit?: number
  /** The Harbor (URL or host) whose project quotas govern pushes to it: --harbor, or harbor.host. */
  harbor?: string
  /** No preflight at all. */
  skip?: boolean
}

export interface CheckedCopyOptions extends CopyOptions {
  quota?: QuotaFlowOptions
  /** What is being done, for messages (default: `copying SRC to DEST`). */
  what?: string
}

export type CheckedCopyResult = CopyResult & { preflight?: SpaceCheck }

function largestImages(engine: EngineOptions): PodmanPreflightOptions['largestImages'] {
  return async () =>
    (await listLocalImages('podman', engine))
      .filter((i) => typeof i.size === 'number')
      .map((i) => ({
        name: i.names[0] ?? i.id.replace(/^sha256:/, '').slice(0, 12),
        id: i.id,
        size: i.size as number,
      }))
}

/** The engine options that reach the store a containers-storage reference names. */
function storeOptions(dst: ImageReference, base: EngineOptions = {}): EngineOptions {
  const csr = dst as Partial<ContainersStorageReference>
  return typeof csr.engineOptions === 'function' ? csr.engineOptions({ engine: base }) : base
}

/** The diff IDs of each image `ids` of the store (`podman image inspect`): the layers it holds. */
function storedLayers(engine: EngineOptions): PodmanPreflightOptions['storedLayers'] {
  return async (ids) => {
    const r = await runPodman(['image', 'inspect', '--format', 'json', ...ids], engine, { reject: false })
    const found = JSON.parse(r.stdout.trim() || '[]') as Array<{ RootFS?: { Layers?: string[] | null } }>
    return found.map((i) => i.RootFS?.Layers ?? [])
  }
}

/** Room check for the images `sizes` into podman's storage; refuses unless forced. */
export function checkPodmanRoom(
  sizes: ImageSize[],
  engine: EngineOptions,
  quota: QuotaFlowOptions,
  what: string,
): Promise<SpaceCheck> {
  return preflightPodmanStore(sizes, {
    what,
    graphroot: engine.podman?.root,
    driver: engine.podman?.storageDriver,
    configLimit: quota.configLimit,
    force: quota.force,
    env: engine.env,
    largestImages: largestImages(engine),
    storedLayers: storedLayers(engine),
  })
}

export async function checkedCopy(
  source: string | ImageReference,
  destination: string | ImageReference,
  options: CheckedCopyOptions = {},
): Promise<CheckedCopyResult> {
  const quota = options.quota ?? {}
  const srcRef = typeof source === 'string' ? parseImageReference(source) : source
  const dstRef = typeof destination === 'string' ? parseImageReference(destination) : destination
  const what = options.what ?? `copying ${srcRef} to ${dstRef}`
  const toPodman = dstRef.transport.name === 'containers-storage'
  const harbor =
    dstRef.transport.name === 'docker' ? harborTarget(dstRef.within.slice(2), quota.harbor) : undefined
  if (quota.skip || (!toPodman && !harbor)) return copyImage(srcRef, dstRef, options)

  const signal = options.signal
  const src: ImageSource = await srcRef.newSource({ ...options.source, signal })
  let check: SpaceCheck
  try {
    if (toPodman) {
      const size = await measureImage(src, { platforms: options.platforms, singleImage: true, diffIds: true })
      const engine = storeOptions(dstRef, options.destination?.engine)
      check = await checkPodmanRoom([size], engine, quota, what)
    } else {
      const size = await measureImage(src, { platforms: options.platforms })
      check = await preflightHarborPush(size.blobs, harbor!, {
        what,
        registry: options.destination?.registry,
        force: quota.force,
        signal,
      })
    }
  } catch (err) {
    await src.close()
    throw err
  }
  try {
    const copy = await copyImage(openedReference(src), dstRef, options)
    return { ...copy, preflight: check }
  } catch (err) {
    if (!harbor) throw err
    throw await explainHarborQuota(err, harbor, {
      what,
      registry: options.destination?.registry,
      needed: check.checked ? check.needed : undefined,
    })
  }
}

/**
 * For `load`: every image of an archive measured (each source opened and closed), then one room check
 * for all of them together before the first is written.
 */
export async function preflightPodmanWrite(
  sources: ImageReference[],
  opts: {
    engine?: EngineOptions
    quota?: QuotaFlowOptions
    what: string
    platforms?: CopyOptions['platforms']
  },
): Promise<SpaceCheck | undefined> {
  if (opts.quota?.skip) return undefined
  const sizes: ImageSize[] = []
  for (const ref of sources)
    sizes.push(await imageSize(ref, { platforms: opts.platforms, singleImage: true, diffIds: true }))
  return checkPodmanRoom(sizes, opts.engine ?? {}, opts.quota ?? {}, opts.what)
}
