/** `airlock bundle list`: the images a bundle holds, with their platforms and sizes. */
import { formatPlatform, parseManifest } from '../manifest.js'
import { MAX_JSON } from '../transports/archive/archive-file.js'
import { ANN, blobPath } from './layout.js'
import { Bundle } from './open-bundle.js'

export interface ListedImage {
  reference: string
  digest: string
  mediaType: string
  platforms: string[]
  /** Bytes of the image's manifests, configs and layers (shared blobs counted for each image). */
  size: number
  /** Where a mirror spec's naming puts it (bundles made with -f). */
  target?: string
  referrerOf?: string
}

export interface BundleListing {
  bundle: string
  parts: string[]
  size: number
  images: ListedImage[]
}

/** `os/arch[/variant]` from an image config, '' when it says none. */
async function configPlatform(a: Bundle['archive'], digest: string): Promise<string> {
  try {
    const c = JSON.parse(
      (await a.read(a.file(blobPath(digest), `config ${digest}`), MAX_JSON)).toString('utf8'),
    )
    return c.os && c.architecture
      ? formatPlatform({ os: c.os, architecture: c.architecture, variant: c.variant })
      : ''
  } catch {
    return ''
  }
}

export async function listBundle(file: string, signal?: AbortSignal): Promise<BundleListing> {
  const bundle = await Bundle.open(file, signal)
  try {
    const a = bundle.archive
    const read = async (digest: string, mediaType: string, what: string) =>
      parseManifest(await a.read(a.file(blobPath(digest), `manifest ${digest}`), MAX_JSON), mediaType, what)
    const images: ListedImage[] = []
    for (const img of bundle.images) {
      const top = await read(img.digest, img.mediaType, img.reference)
      const platforms: string[] = []
      const blobs = new Map<string, number>([[img.digest, img.size]])
      const children = top.kind === 'index' ? top.children : [{ ...img.descriptor, platform: undefined }]
      for (const c of children) {
        const m = top.kind === 'index' ? await read(c.digest, c.mediaType, img.reference) : top
        blobs.set(c.digest, c.size)
        for (const b of m.children) blobs.set(b.digest, b.size)
        if (c.platform) platforms.push(formatPlatform(c.platform))
        else if (m.kind === 'image' && m.config) platforms.push(await configPlatform(a, m.config.digest))
      }
      images.push({
        reference: img.reference,
        digest: img.digest,
        mediaType: img.mediaType,
        platforms: platforms.filter(Boolean),
        size: [...blobs.values()].reduce((n, s) => n + s, 0),
        ...(img.annotations[ANN.target] ? { target: img.annotations[ANN.target] } : {}),
        ...(img.referrerOf ? { referrerOf: img.referrerOf } : {}),
      })
    }
    return { bundle: bundle.files.base, parts: bundle.files.parts, size: a.size, images }
  } finally {
    await bundle.close()
  }
}
