/**
 * `inspect`: what an image reference points at, read through any transport: digest, media type,
 * platforms, sizes, and for single images the config (entrypoint, env, labels, created, layers).
 * A bare image ID (12 to 64 hex characters, or `sha256:` and hex) is a local image, in the engine
 * found (`containers-storage:` or `docker-daemon:`), as `airlock tag` and `push` take it.
 */

import { verifyBytes } from './digest.js'
import { detectEngine, type EngineName, engineTransportRef } from './engine/index.js'
import { AirlockError } from './errors.js'
import { formatPlatform, parseManifest } from './manifest.js'
import { parseImageReference } from './transports/index.js'
import type { ImageReference, ImageSource, TransportContext } from './transports/transport.js'

export interface InspectedImage {
  digest: string
  mediaType: string
  platform?: string
  /** Compressed size: manifest + config + layers. */
  size: number
  config?: {
    digest: string
    created?: string
    architecture?: string
    os?: string
    variant?: string
    entrypoint?: string[] | null
    cmd?: string[] | null
    env?: string[]
    labels?: Record<string, string>
    workingDir?: string
    user?: string
  }
  layers: Array<{ digest: string; size: number; mediaType: string }>
}

export interface InspectResult {
  reference: string
  digest: string
  mediaType: string
  kind: 'index' | 'image'
  /** Every platform of an index, or the platform of the single image. */
  platforms: string[]
  /** Total compressed size of everything the reference points at (shared blobs once). */
  size: number
  images: InspectedImage[]
  annotations?: Record<string, string>
}

export interface InspectOptions {
  context?: TransportContext
  /** Read each image's config (one request per image). Default true. */
  config?: boolean
}

/** Text that can only be a local image ID: 12–64 hex, or `sha256:` and a prefix of one. */
const LOCAL_ID = /^(?:[0-9a-f]{12,64}|sha256:[0-9a-f]{1,64})$/

/** The reference `text` names, a bare image ID being a local image of the engine found. */
async function openReference(
  reference: string | ImageReference,
  context: TransportContext,
): Promise<ImageReference> {
  if (typeof reference !== 'string') return reference
  const text = reference.trim()
  if (!LOCAL_ID.test(text)) return parseImageReference(reference)
  let engine: EngineName
  try {
    engine = await detectEngine({ ...context.engine })
  } catch (err) {
    if (!(err instanceof AirlockError)) throw err
    throw new AirlockError(err.code, `${text} is a local image ID, and ${err.message}`, {
      cause: err,
      hint: `${err.hint ? `${err.hint}; ` : ''}for a registry image, write docker://NAME`,
    })
  }
  return parseImageReference(engineTransportRef(engine, text))
}

/** The manifest bytes exactly as stored (`inspect --raw`). */
export async function readRawManifest(
  reference: string | ImageReference,
  context: TransportContext = {},
): Promise<{ bytes: Buffer; digest: string; mediaType: string }> {
  const ref = await openReference(reference, context)
  const src = await ref.newSource(context)
  try {
    return await src.getManifest()
  } finally {
    await src.close()
  }
}

export async function inspectImage(
  reference: string | ImageReference,
  options: InspectOptions = {},
): Promise<InspectResult> {
  const ref = await openReference(reference, options.context ?? {})
  const src = await ref.newSource(options.context ?? {})
  try {
    const top = await src.getManifest()
    const parsed = parseManifest(top.bytes, top.mediaType, ref.toString())
    const images: InspectedImage[] = []
    if (parsed.kind === 'index') {
      for (const child of parsed.children) {
        const m = await src.getManifest(child.digest)
        images.push(
          await describeImage(
            src,
            m.bytes,
            child.mediaType,
            child.digest,
            formatPlatform(child.platform),
            options,
          ),
        )
      }
    } else {
      images.push(await describeImage(src, top.bytes, parsed.mediaType, top.digest, undefined, options))
    }
    const seen = new Set<string>()
    let size = top.bytes.length
    for (const img of images) {
      size += parsed.kind === 'index' ? img.size - img.layers.reduce((n, l) => n + l.size, 0) : 0
      for (const l of img.layers) {
        if (seen.has(l.digest)) continue
        seen.add(l.digest)
        size += l.size
      }
    }
    if (parsed.kind === 'image') size = images[0].size
    return {
      reference: ref.toString(),
      digest: top.digest,
      mediaType: parsed.mediaType,
      kind: parsed.kind,
      platforms: images.map((i) => i.platform).filter((p): p is string => !!p && p !== 'unknown'),
      size,
      images,
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
    }
  } finally {
    await src.close()
  }
}

async function describeImage(
  src: ImageSource,
  bytes: Buffer,
  mediaType: string,
  digest: string,
  platform: string | undefined,
  options: InspectOptions,
): Promise<InspectedImage> {
  const parsed = parseManifest(bytes, mediaType, `${src.reference}@${digest}`)
  const cfgDesc = parsed.config!
  const layers = (parsed.layers ?? []).map((l) => ({
    digest: l.digest,
    size: l.size,
    mediaType: l.mediaType,
  }))
  const image: InspectedImage = {
    digest,
    mediaType: parsed.mediaType,
    platform,
    size: bytes.length + cfgDesc.size + layers.reduce((n, l) => n + l.size, 0),
    layers,
  }
  if (options.config !== false && cfgDesc.size < 8 * 1024 * 1024) {
    const { stream } = await src.getBlob(cfgDesc)
    const chunks: Buffer[] = []
    for await (const c of stream) chunks.push(c as Buffer)
    const cfgBytes = Buffer.concat(chunks)
    verifyBytes(cfgBytes, cfgDesc.digest, `config of ${src.reference}@${digest}`)
    const doc = safeJson(cfgBytes)
    const c = (doc?.config ?? {}) as Record<string, unknown>
    image.config = {
      digest: cfgDesc.digest,
      created: doc?.created as string | undefined,
      architecture: doc?.architecture as string | undefined,
      os: doc?.os as string | undefined,
      variant: doc?.variant as string | undefined,
      entrypoint: c.Entrypoint as string[] | null | undefined,
      cmd: c.Cmd as string[] | null | undefined,
      env: c.Env as string[] | undefined,
      labels: c.Labels as Record<string, string> | undefined,
      workingDir: (c.WorkingDir as string) || undefined,
      user: (c.User as string) || undefined,
    }
    image.platform ??=
      [image.config.os, image.config.architecture, image.config.variant].filter(Boolean).join('/') ||
      undefined
  }
  return image
}

function safeJson(b: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(b.toString('utf8'))
  } catch {
    return undefined
  }
}
