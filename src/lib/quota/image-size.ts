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
 */
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
  /** What an engine's storage needs for the layers unpacked, plus configs. */
  unpacked: number
  /** True when every layer was a plain tar, so `unpacked` is not an estimate. */
  exact: boolean
}

export interface ImageSizeOptions {
  /** Platforms of an index to count; every one when empty (a registry copy). */
  platforms?: Platform[]
  /** The destination holds one image (an engine): one platform, the first asked for or this machine's. */
  singleImage?: boolean
  context?: TransportContext
}

export function isUncompressedLayer(mediaType: string): boolean {
  return /(\.|\/)tar$/.test(mediaType) || mediaType.endsWith('.tar+foreign')
}

/** The sizes of `ref`'s image (or images), from its manifests only: no layer is read. */
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

/** The sizes of an open source's image (or images), from its manifests only. */
export async function measureImage(src: ImageSource, opts: ImageSizeOptions = {}): Promise<ImageSize> {
  const what = src.reference.toString()
  const top = await src.getManifest()
  const parsed = parseManifest(top.bytes, top.mediaType, what)
  const manifests: Descriptor[] = [
    { mediaType: parsed.mediaType, digest: top.digest, size: top.bytes.length },
  ]
  const images: Array<{ descs: Descriptor[]; platform?: Platform }> = []
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
      images.push({ descs: p.children, platform: child.platform })
    }
  } else {
    images.push({ descs: parsed.children })
  }
  const blobs = new Map<string, Descriptor>()
  for (const m of manifests) blobs.set(m.digest, m)
  let unpacked = 0
  let exact = true
  const layerDigests = new Set<string>()
  const configDigests: string[] = []
  for (const img of images) {
    const [config, ...layers] = img.descs
    if (config) configDigests.push(config.digest)
    if (config && !blobs.has(config.digest)) unpacked += config.size
    for (const d of [config, ...layers]) if (d) blobs.set(d.digest, d)
    for (const layer of layers) {
      if (layerDigests.has(layer.digest)) continue
      layerDigests.add(layer.digest)
      if (isUncompressedLayer(layer.mediaType)) unpacked += layer.size
      else {
        unpacked += layer.size * EXPANSION
        exact = false
      }
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
  }
}
