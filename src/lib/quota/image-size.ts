/**
 * How much space an image will take, read from its manifests before anything is copied: the blobs a
 * registry stores (sizes as the manifests give them: compressed layers, config, the manifest
 * itself), and what an engine needs once it unpacks the layers.
 *
 * Unpacked sizes: a layer stored as a plain tar (`…diff.tar`, `…layer.v1.tar`, as `docker save` and
 * `podman save` write them) unpacks to about its own size, which is exact. A compressed layer's
 * unpacked size is not in any manifest (the config's diff_ids have digests, not sizes), so it is
 * estimated as EXPANSION × its compressed size: gzip'd image layers typically expand 2–3×, and the
 * low end is used so that a preflight refuses only what will clearly not fit; `exact: false` says so.
 *
 * What podman's storage needs depends on its graph driver (storageNeed): overlay, btrfs and zfs keep
 * each layer once (its own diff), but vfs keeps every layer as a directory holding the complete root
 * filesystem up to that layer (containers/storage drivers/vfs/driver.go: Create copies the parent's
 * directory, then the layer's diff is applied on top), so a layer costs the unpacked size of itself
 * and of every layer under it.
 */
import { createHash } from 'node:crypto'
import { AirlockError } from '../errors.js'
import {
  type Descriptor,
  formatPlatform,
  hostPlatform,
  type Platform,
  parseManifest,
  platformMatches,
} from '../manifest.js'
import { parseImageReference } from '../transports/index.js'
import type { ImageReference, ImageSource, TransportContext } from '../transports/transport.js'

/** Unpacked ÷ compressed for a compressed layer whose unpacked size is unknown. */
export const EXPANSION = 2

/** Storage drivers that keep every layer as a full copy of the layers under it. */
export const FULL_COPY_DRIVERS: ReadonlySet<string> = new Set(['vfs'])

export interface LayerSize {
  /** The blob's digest (compressed, as the manifest names it). */
  digest: string
  /** The uncompressed digest (the config's rootfs.diff_ids), when the config was read. */
  diffId?: string
  /** Unpacked bytes: the tar's own size for a plain tar layer, else EXPANSION × the compressed size. */
  unpacked: number
  exact: boolean
}

/** One image as an engine stores it: its config (the image ID), its layers bottom up, its metadata. */
export interface ImageLayers {
  configDigest: string
  /** Bytes the engine keeps beside the layers: the config and the manifest (podman keeps it twice). */
  metadata: number
  layers: LayerSize[]
}

export interface ImageSize {
  /** The manifest the numbers are for (the chosen platform's, or the index's). */
  digest: string
  platforms: string[]
  /** Config digests of the images counted (an engine's image IDs). */
  configDigests: string[]
  /** Every blob, each once: configs, layers, and the manifests themselves. */
  blobs: Descriptor[]
  /** Sum of `blobs` sizes: what a registry stores, what a copy sends. */
  stored: number
  /** The layers unpacked, each once, plus configs: what a driver that stores each layer once needs. */
  unpacked: number
  /** True when every layer was a plain tar, so `unpacked` is not an estimate. */
  exact: boolean
  /** Each image counted, its layers in order: for storageNeed. */
  images: ImageLayers[]
}

export interface ImageSizeOptions {
  /** Platforms of an index to count; every one when empty (a registry copy). */
  platforms?: Platform[]
  /** The destination holds one image (an engine): one platform, the first asked for or this machine's. */
  singleImage?: boolean
  /**
   * Read each image's config for its diff IDs (one small blob per image), so that storageNeed can
   * tell the layers a store holds already. A config that cannot be read leaves them unknown.
   */
  diffIds?: boolean
  context?: TransportContext
}

export function isUncompressedLayer(mediaType: string): boolean {
  return /(\.|\/)tar$/.test(mediaType) || mediaType.endsWith('.tar+foreign')
}

/** The sizes of `ref`'s image (or images), from its manifests (and configs): no layer is read. */
export async function imageSize(
  ref: string | ImageReference,
  opts: ImageSizeOptions = {},
): Promise<ImageSize> {
  const reference = typeof ref === 'string' ? parseImageReference(ref) : ref
  const src = await reference.newSource(opts.context)
  try {
    return await measureImage(src, opts)
  } finally {
    await src.close()
  }
}

/**
 * An ImageReference whose newSource hands out `src`, already open: a caller that measured the image
 * passes this to copyImage, so the source is opened once (podman storage spools the whole image on
 * opening). copyImage closes it as usual.
 */
export function openedReference(src: ImageSource): ImageReference {
  const ref = src.reference
  return {
    transport: ref.transport,
    within: ref.within,
    toString: () => ref.toString(),
    newSource: async () => src,
    newDestination: (ctx) => ref.newDestination(ctx),
  }
}

/** The sizes of an open source's image (or images), from its manifests (and configs) only. */
export async function measureImage(src: ImageSource, opts: ImageSizeOptions = {}): Promise<ImageSize> {
  const what = src.reference.toString()
  const top = await src.getManifest()
  const parsed = parseManifest(top.bytes, top.mediaType, what)
  const manifests: Descriptor[] = [
    { mediaType: parsed.mediaType, digest: top.digest, size: top.bytes.length },
  ]
  const images: Array<{ descs: Descriptor[]; platform?: Platform; manifestSize: number }> = []
  let digest = top.digest
  if (parsed.kind === 'index') {
    let wanted = opts.platforms ?? []
    if (opts.singleImage) wanted = [wanted[0] ?? hostPlatform()]
    const chosen = wanted.length
      ? parsed.children.filter((c) => wanted.some((w) => platformMatches(c.platform, w)))
      : parsed.children
    if (!chosen.length) {
      throw new AirlockError(
        'NOT_FOUND',
        `${what} has no image for ${wanted.map(formatPlatform).join(', ')}`,
        {
          hint: `platforms in the index: ${parsed.children.map((c) => formatPlatform(c.platform)).join(', ')}`,
        },
      )
    }
    if (opts.singleImage) {
      manifests.length = 0
      digest = chosen[0]!.digest
    }
    for (const child of chosen) {
      const m = await src.getManifest(child.digest)
      const p = parseManifest(m.bytes, child.mediaType, `${what}@${child.digest}`)
      manifests.push({ mediaType: p.mediaType, digest: child.digest, size: m.bytes.length })
      images.push({ descs: p.children, platform: child.platform, manifestSize: m.bytes.length })
    }
  } else {
    images.push({ descs: parsed.children, manifestSize: top.bytes.length })
  }
  const blobs = new Map<string, Descriptor>()
  for (const m of manifests) blobs.set(m.digest, m)
  let unpacked = 0
  let exact = true
  const layerDigests = new Set<string>()
  const configDigests: string[] = []
  const measured: ImageLayers[] = []
  for (const img of images) {
    const [config, ...layers] = img.descs
    if (config) configDigests.push(config.digest)
    if (config && !blobs.has(config.digest)) unpacked += config.size
    for (const d of [config, ...layers]) if (d) blobs.set(d.digest, d)
    const diffIds = config && opts.diffIds ? await readDiffIds(src, config) : undefined
    const sizes: LayerSize[] = layers.map((layer, i) => {
      const plain = isUncompressedLayer(layer.mediaType)
      const diffId = diffIds?.length === layers.length ? diffIds[i] : plain ? layer.digest : undefined
      return {
        digest: layer.digest,
        ...(diffId ? { diffId } : {}),
        unpacked: plain ? layer.size : layer.size * EXPANSION,
        exact: plain,
      }
    })
    for (const layer of sizes) {
      if (layerDigests.has(layer.digest)) continue
      layerDigests.add(layer.digest)
      unpacked += layer.unpacked
      if (!layer.exact) exact = false
    }
    if (config) {
      measured.push({
        configDigest: config.digest,
        metadata: config.size + 2 * img.manifestSize,
        layers: sizes,
      })
    }
  }
  const all = [...blobs.values()]
  return {
    digest,
    platforms: images.map((i) => formatPlatform(i.platform)).filter((p) => p !== 'unknown'),
    configDigests,
    blobs: all,
    stored: all.reduce((n, d) => n + d.size, 0),
    unpacked,
    exact,
    images: measured,
  }
}

/** Configs larger than this are not read for their diff IDs (real ones are kilobytes). */
const MAX_CONFIG = 4 << 20

/** The config's rootfs.diff_ids, or undefined when the config cannot be read or is not one. */
async function readDiffIds(src: ImageSource, config: Descriptor): Promise<string[] | undefined> {
  if (config.size > MAX_CONFIG) return undefined
  try {
    const { stream } = await src.getBlob(config)
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of stream) {
      size += (chunk as Buffer).length
      if (size > MAX_CONFIG) {
        stream.destroy()
        return undefined
      }
      chunks.push(chunk as Buffer)
    }
    const bytes = Buffer.concat(chunks)
    const [algorithm, hex] = config.digest.split(':')
    if (algorithm !== 'sha256' || createHash('sha256').update(bytes).digest('hex') !== hex) return undefined
    const ids = (JSON.parse(bytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids
    return Array.isArray(ids) && ids.every((d) => typeof d === 'string') ? (ids as string[]) : undefined
  } catch {
    return undefined
  }
}

/**
 * The OCI ChainID of a layer stack (image-spec config.md, "Layer ChainID"): the first diff ID, then
 * sha256 of "<chain below> <diff ID>" for each layer above. Two images share a layer in an engine's
 * store only when they share the whole stack under it: containers/storage names a layer by its
 * parent and its diff ID, so the chain identifies it.
 */
export function chainId(below: string | undefined, diffId: string): string {
  return below === undefined
    ? diffId
    : `sha256:${createHash('sha256').update(`${below} ${diffId}`).digest('hex')}`
}

/** The chain IDs of every layer of a stack, bottom up. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = []
  for (const d of diffIds) out.push(chainId(out[out.length - 1], d))
  return out
}

/** What the store holds already: image IDs, and the chain IDs of the layers of its images. */
export interface StoredLayers {
  images?: ReadonlySet<string>
  chains?: ReadonlySet<string>
}

export interface StorageNeed {
  /** Bytes the store needs for what it does not hold yet. */
  bytes: number
  driver: string
  /** True when the driver keeps each layer as a full copy of the layers under it (vfs). */
  fullCopies: boolean
  /** Every layer counted was a plain tar (no EXPANSION estimate). */
  exact: boolean
  /** Layers to be written, and layers the store holds already (not counted). */
  layers: number
  reused: number
}

/**
 * What podman's storage needs for `sizes` with graph driver `driver`, not counting what `stored`
 * says the store holds:
 * - vfs: each layer's directory holds the whole root filesystem up to it, so a layer costs the
 *   unpacked size of itself and every layer under it (a 5-layer image of 30 MiB layers needs
 *   30+60+90+120+150 = 450 MiB). A layer the store holds already (the same chain of diff IDs) costs
 *   nothing, but the layers above it still copy it.
 * - overlay, btrfs, zfs and others: each layer once, its own unpacked size.
 * Plus each image's config and manifest, unless the store holds that image (same ID) already.
 * Layers shared by several of `sizes` (the images of one archive) are counted once.
 */
export function storageNeed(sizes: ImageSize[], driver: string, stored: StoredLayers = {}): StorageNeed {
  const fullCopies = FULL_COPY_DRIVERS.has(driver)
  const chains = new Set(stored.chains ?? [])
  const imagesHere = new Set(stored.images ?? [])
  const need: StorageNeed = { bytes: 0, driver, fullCopies, exact: true, layers: 0, reused: 0 }
  for (const size of sizes) {
    for (const img of size.images) {
      const here = imagesHere.has(img.configDigest)
      if (!here) need.bytes += img.metadata
      imagesHere.add(img.configDigest)
      let below = 0
      let belowExact = true
      // A layer whose diff ID is unknown is keyed by its blob digest: never in the store's chains,
      // but still counted once when several images of the same source share it.
      let chain: string | undefined
      for (const layer of img.layers) {
        below += layer.unpacked
        belowExact &&= layer.exact
        chain = chainId(chain, layer.diffId ?? layer.digest)
        if (here || chains.has(chain)) {
          chains.add(chain)
          need.reused++
          continue
        }
        chains.add(chain)
        need.layers++
        need.bytes += fullCopies ? below : layer.unpacked
        if (!(fullCopies ? belowExact : layer.exact)) need.exact = false
      }
    }
  }
  return need
}
