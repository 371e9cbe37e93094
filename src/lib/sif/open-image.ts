/**
 * The image a SIF is built from: one platform of the source (the one asked for, else this
 * machine's), its config, and its layers as streams verified against their digests while read.
 */
import { buffer } from 'node:stream/consumers'
import { DigestVerifier, verifyBytes } from '../digest.js'
import { AirlockError } from '../errors.js'
import { formatPlatform, hostPlatform, type Platform, parseManifest, platformMatches } from '../manifest.js'
import { parseImageReference } from '../transports/index.js'
import type { ImageSource, TransportContext } from '../transports/transport.js'
import type { LayerOpener } from './flatten.js'
import type { ImageRunConfig } from './singularity-d.js'

export interface SifImage {
  arch: string
  variant?: string
  created?: Date
  config: ImageRunConfig
  layers: LayerOpener[]
  layerNames: string[]
  /** Sum of the layer blob sizes (compressed as stored): the size estimate for preflight. */
  layerBytes: number
  close(): Promise<void>
}

export async function openImageForSif(
  reference: string,
  opts: { platform?: Platform; context?: TransportContext; signal?: AbortSignal } = {},
): Promise<SifImage> {
  const ref = parseImageReference(reference)
  const src: ImageSource = await ref.newSource({ ...opts.context, signal: opts.signal })
  try {
    let top = await src.getManifest()
    let parsed = parseManifest(top.bytes, top.mediaType, reference)
    if (parsed.kind === 'index') {
      const want = opts.platform ?? hostPlatform()
      const child = parsed.children.find((c) => platformMatches(c.platform, want))
      if (!child) {
        throw new AirlockError('NOT_FOUND', `${reference} has no image for ${formatPlatform(want)}`, {
          hint: `platforms in it: ${parsed.children.map((c) => formatPlatform(c.platform)).join(', ')}; choose one with --platform`,
        })
      }
      top = await src.getManifest(child.digest)
      parsed = parseManifest(top.bytes, child.mediaType, `${reference}@${child.digest}`)
    }
    if (parsed.kind !== 'image' || !parsed.config) {
      throw new AirlockError('UNSUPPORTED', `${reference} is not an image (${parsed.mediaType})`)
    }
    const configDesc = parsed.config
    const blob = await src.getBlob(configDesc)
    const configBytes = await buffer(blob.stream)
    verifyBytes(configBytes, configDesc.digest, `config of ${reference}`)
    const config = JSON.parse(configBytes.toString('utf8')) as {
      architecture?: string
      variant?: string
      created?: string
      config?: ImageRunConfig
    }
    const layers = parsed.layers ?? []
    if (!layers.length) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${reference} has no layers, so there is no root filesystem to convert`,
        {
          hint: 'check the archive: docker save of Docker 25.0 could write images without layers (moby#47065)',
        },
      )
    }
    return {
      arch: config.architecture ?? 'unknown',
      variant: config.variant,
      created: config.created ? new Date(config.created) : undefined,
      config: config.config ?? {},
      layerNames: layers.map((l) => l.digest),
      layerBytes: layers.reduce((n, l) => n + l.size, 0),
      layers: layers.map((desc) => async () => {
        const { stream } = await src.getBlob(desc)
        const verifier = new DigestVerifier(desc.digest, desc.size, `layer ${desc.digest} of ${reference}`)
        stream.on('error', (e) => verifier.destroy(e))
        return stream.pipe(verifier)
      }),
      close: () => src.close(),
    }
  } catch (err) {
    await src.close()
    throw err
  }
}
