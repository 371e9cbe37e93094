/**
 * Manifest media types and the little we need to read from manifests: the descriptors they point at.
 * Manifest bytes are never re-serialized here; callers keep the original bytes.
 *
 * Media types: OCI image-spec (manifest.md, image-index.md, media-types.md) and Docker Image
 * Manifest V2 Schema 2 (distribution/distribution docs/spec/manifest-v2-2.md).
 */
import { AirlockError } from './errors.js'
import { isValidDigest } from './reference.js'

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociLayout: 'application/vnd.oci.image.layout.v1+json',
} as const

/** Accept header for manifest requests: every type we can copy. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest]

export interface Platform {
  os: string
  architecture: string
  variant?: string
  'os.version'?: string
  'os.features'?: string[]
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform
  annotations?: Record<string, string>
  urls?: string[]
  artifactType?: string
}

export interface ParsedManifest {
  kind: 'index' | 'image'
  mediaType: string
  /** index: its children. image: config first, then layers. */
  children: Descriptor[]
  /** image only */
  config?: Descriptor
  layers?: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList
}

/**
 * Parses manifest bytes. `declared` is the Content-Type or descriptor media type; the `mediaType`
 * field inside the JSON wins when present (OCI allows it to be absent).
 */
export function parseManifest(bytes: Buffer, declared: string | undefined, what: string): ParsedManifest {
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new AirlockError('INVALID_INPUT', `manifest of ${what} is not valid JSON`, {
      hint: 'the source returned something that is not an image manifest; check the reference',
    })
  }
  const schemaVersion = doc.schemaVersion
  const inner = typeof doc.mediaType === 'string' ? doc.mediaType : undefined
  let mediaType = inner ?? normalizeContentType(declared)
  if (schemaVersion === 1 || mediaType === MEDIA.dockerSchema1 || mediaType === MEDIA.dockerSchema1Signed) {
    throw new AirlockError(
      'UNSUPPORTED',
      `${what} uses Docker image manifest schema 1, which airlock does not copy`,
      {
        hint: 'schema 1 is deprecated and cannot keep its digest across registries; rebuild or re-push the image with a current tool (docker/podman push writes schema 2)',
      },
    )
  }
  if (!mediaType || !(MANIFEST_ACCEPT as string[]).includes(mediaType)) {
    // OCI manifests may omit mediaType: tell them apart by shape.
    if (Array.isArray(doc.manifests)) mediaType = MEDIA.ociIndex
    else if (doc.config && Array.isArray(doc.layers)) mediaType = MEDIA.ociManifest
    else
      throw new AirlockError(
        'UNSUPPORTED',
        `${what} has unsupported manifest type ${mediaType ?? '(none)'}`,
        {
          hint: `airlock copies ${MANIFEST_ACCEPT.join(', ')}`,
        },
      )
  }
  if (isIndexType(mediaType)) {
    const manifests = asDescriptors(doc.manifests, what)
    return {
      kind: 'index',
      mediaType,
      children: manifests,
      subject: doc.subject as Descriptor | undefined,
      annotations: doc.annotations as Record<string, string> | undefined,
    }
  }
  const config = asDescriptors([doc.config], what)[0]
  const layers = asDescriptors(doc.layers, what)
  return {
    kind: 'image',
    mediaType,
    children: [config, ...layers],
    config,
    layers,
    subject: doc.subject as Descriptor | undefined,
    annotations: doc.annotations as Record<string, string> | undefined,
  }
}

function asDescriptors(value: unknown, what: string): Descriptor[] {
  if (!Array.isArray(value))
    throw new AirlockError('INVALID_INPUT', `manifest of ${what} has no descriptor list`)
  return value.map((d) => {
    if (
      !d ||
      typeof d.digest !== 'string' ||
      typeof d.size !== 'number' ||
      !Number.isSafeInteger(d.size) ||
      d.size < 0
    ) {
      throw new AirlockError(
        'INVALID_INPUT',
        `manifest of ${what} has a malformed descriptor: ${JSON.stringify(d)}`,
      )
    }
    // The digest names files in layouts and URLs in registries: it must be a real digest.
    if (!isValidDigest(d.digest)) {
      throw new AirlockError(
        'INVALID_INPUT',
        `manifest of ${what} has a descriptor with an invalid digest ${JSON.stringify(d.digest)}`,
        {
          hint: 'the manifest is corrupt or hostile; a digest is algorithm:hex, e.g. sha256 and 64 lowercase hex characters',
        },
      )
    }
    return d as Descriptor
  })
}

/**
 * The media type of manifest bytes whose type nobody declared: their own `mediaType` field, else an
 * OCI index or manifest by shape; '' when the bytes are not a JSON object.
 */
export function sniffManifestType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8'))
    if (typeof doc.mediaType === 'string') return doc.mediaType
    return Array.isArray(doc.manifests) ? MEDIA.ociIndex : MEDIA.ociManifest
  } catch {
    return ''
  }
}

export function normalizeContentType(ct: string | undefined): string | undefined {
  if (!ct) return undefined
  return ct.split(';')[0].trim().toLowerCase() || undefined
}

/** "linux/arm64/v8" -> Platform. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/')
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/i.test(p))) {
    throw new AirlockError('INVALID_INPUT', `platform "${text}" is not os/arch[/variant]`, {
      hint: 'use e.g. --platform linux/amd64 or --platform linux/arm64/v8',
    })
  }
  const [os, architecture, variant] = parts
  return variant ? { os, architecture, variant } : { os, architecture }
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown'
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/')
}

/** Go's GOARCH names for Node's process.arch, as engines name image platforms. */
const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
}

/** The platform an engine on this machine runs: linux and this CPU (what podman pull picks). */
export function hostPlatform(arch: string = process.arch): Platform {
  return { os: 'linux', architecture: GOARCH[arch] ?? arch }
}

/**
 * containerd's platform matching in the small: os and architecture equal; a wanted variant must
 * equal; arm64 without variant matches v8, arm without variant matches v7.
 */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false
  if (have.os !== want.os || have.architecture !== want.architecture) return false
  if (!want.variant) return true
  const defaults: Record<string, string> = { arm64: 'v8', arm: 'v7' }
  const hv = have.variant ?? defaults[have.architecture]
  return hv === want.variant
}
