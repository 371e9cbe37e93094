/**
 * `manifest.json` of a `docker save` archive: Docker Image Specification v1.2, "Combined Image JSON +
 * Filesystem Changeset Format" (moby/docker image/spec/v1.2.md; also written by podman save and
 * skopeo, containers/image docker/internal/tarfile). An array of images:
 *
 *   [{ "Config": "<path of the image config JSON>", "RepoTags": ["name:tag", ...],
 *      "Layers": ["<path of layer 1 tar>", ...] }]
 *
 * Paths are relative to the archive root: `<hex>.json` and `<id>/layer.tar` or `<hex>.tar` in the
 * legacy layout, `blobs/sha256/<hex>` since Docker 25 (which also adds an OCI layout: index.json).
 */
import { AirlockError } from '../../errors.js'
import { type ImageRef, parseDockerRef } from '../../reference.js'
import { selectArchiveImage } from '../archive/archive-reference.js'

export interface ManifestItem {
  Config: string
  RepoTags: string[]
  Layers: string[]
}

export function parseManifestJson(bytes: Buffer, what: string): ManifestItem[] {
  let doc: unknown
  try {
    doc = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new AirlockError('INVALID_INPUT', `${what}: manifest.json is not valid JSON`, {
      hint: 'the archive is corrupt; recreate it with docker save, podman save or skopeo copy',
    })
  }
  if (!Array.isArray(doc)) throw malformed(what, 'it is not a list of images')
  return doc.map((item, i) => {
    if (!item || typeof item !== 'object') throw malformed(what, `item @${i} is not an object`)
    const { Config, RepoTags, Layers } = item as Record<string, unknown>
    if (typeof Config !== 'string') throw malformed(what, `item @${i} has no Config`)
    if (!Array.isArray(Layers) || Layers.some((l) => typeof l !== 'string')) {
      throw malformed(what, `item @${i} has no list of Layers`)
    }
    const tags = Array.isArray(RepoTags) ? RepoTags.filter((t): t is string => typeof t === 'string') : []
    return { Config, RepoTags: tags, Layers: Layers as string[] }
  })
}

function malformed(what: string, why: string): AirlockError {
  return new AirlockError('INVALID_INPUT', `${what}: manifest.json is not a docker save manifest: ${why}`, {
    hint: 'the archive is corrupt; recreate it with docker save, podman save or skopeo copy',
  })
}

/** The normalized form of a RepoTags entry, undefined when it is not a valid reference. */
function normalizedTag(tag: string): string | undefined {
  try {
    const ref = parseDockerRef(tag)
    return ref.digest ? undefined : ref.toString()
  } catch {
    return undefined
  }
}

export interface Selection {
  name?: ImageRef
  index?: number
}

/**
 * The item REF names (RepoTags compared after normalization, so `alpine` matches
 * `docker.io/library/alpine:latest`), the `@N`-th item, or the only one.
 */
export function selectItem(items: ManifestItem[], sel: Selection, what: string): ManifestItem {
  return selectArchiveImage(items, { index: sel.index, name: sel.name?.toString() }, what, {
    listFile: 'manifest.json',
    labels: items.map((it) => (it.RepoTags.length ? it.RepoTags.join(' ') : undefined)),
    byName: (want) => items.find((it) => it.RepoTags.some((t) => normalizedTag(t) === want)),
  })
}
