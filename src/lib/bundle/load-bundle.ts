/**
 * `airlock bundle load FILE`: the images of a bundle into podman or docker, each under its
 * reference, the platform of this machine (or --platform) from multi-platform images. Signature
 * and attestation entries are not images to run and are left out, as are entries named only by a
 * digest (an engine cannot name an image by digest).
 */
import { type LoadResult, loadImages } from '../engine-flows/load.js'
import type { EngineFlowOptions } from '../engine-flows/options.js'
import { AirlockError } from '../errors.js'
import { parseDockerRef } from '../reference.js'
import { Bundle } from './open-bundle.js'

export interface LoadBundleResult extends LoadResult {
  /** Entries not loaded, and why. */
  skipped: Array<{ reference: string; reason: string }>
}

export async function loadBundle(
  file: string,
  opts: EngineFlowOptions & { images?: string[] } = {},
): Promise<LoadBundleResult> {
  const bundle = await Bundle.open(file, opts.signal)
  try {
    const skipped: LoadBundleResult['skipped'] = []
    const items = bundle.images.flatMap((image, index) => {
      if (opts.images?.length && !opts.images.includes(image.reference)) return []
      if (image.referrerOf) {
        skipped.push({ reference: image.reference, reason: `signature/attestation of ${image.referrerOf}` })
        return []
      }
      let tagged = false
      try {
        tagged = parseDockerRef(image.reference).tag !== undefined
      } catch {}
      if (!tagged) {
        skipped.push({ reference: image.reference, reason: 'named by digest only; an engine needs a tag' })
        return []
      }
      return [{ index, names: [image.reference], source: bundle.reference(image) }]
    })
    if (!items.length) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${file}: no image to load${opts.images?.length ? ` among ${opts.images.join(', ')}` : ''}`,
        {
          hint: `see what it holds with airlock bundle list ${file}`,
        },
      )
    }
    const result = await loadImages(bundle.files.base, 'oci-archive', items, opts)
    return { ...result, skipped }
  } finally {
    await bundle.close()
  }
}
