/**
 * `airlock load FILE`: every image of a docker-archive (`docker save`, `podman save [-m]`, `airlock
 * save`) into the local engine, under every name the archive gives it, through the copy engine
 * (the archive is read in place, never extracted). An oci-archive loads its images the same way,
 * named by their `org.opencontainers.image.ref.name`.
 *
 * podman keeps the manifest it is given (containers-storage/destination.ts): an oci-archive's or a
 * bundle's image keeps its digest, a docker-archive's image gets the manifest airlock reads it with.
 * What podman lists is checked: a digest it did not keep is a DIGESTS_CHANGED notice and
 * `digestsPreserved: false`, never reported as kept.
 */
import { basename, resolve } from 'node:path'
import { type CopyResult, copyImage } from '../copy/copy-image.js'
import { detectEngine, engineTransportRef, resolveLocalImage, tagLocalImage } from '../engine/index.js'
import { AirlockError } from '../errors.js'
import { preflightPodmanWrite, type QuotaFlowOptions } from '../quota/checked-copy.js'
import type { SpaceCheck } from '../quota/preflight.js'
import { parseDockerRef } from '../reference.js'
import { ArchiveFile } from '../transports/archive/archive-file.js'
import { readManifestJson } from '../transports/docker-archive/source.js'
import { DockerArchiveReference } from '../transports/docker-archive/transport.js'
import { readOciIndex } from '../transports/oci-archive/source.js'
import { OciArchiveReference } from '../transports/oci-archive/transport.js'
import { REF_NAME } from '../transports/oci-layout/transport.js'
import type { ImageReference } from '../transports/transport.js'
import type { EngineFlowOptions, EngineName, Notice } from './options.js'

export interface LoadedImage {
  /** Position in the archive (`docker-archive:FILE:@N`). */
  index: number
  names: string[]
  id: string
  copy: CopyResult
}

export interface LoadResult {
  engine: EngineName
  file: string
  format: 'docker-archive' | 'oci-archive'
  images: LoadedImage[]
  notices: Notice[]
  /** The space check before loading (podman): needed, available, forced. */
  preflight?: SpaceCheck
}

export async function loadArchive(
  file: string,
  opts: EngineFlowOptions & { quota?: QuotaFlowOptions } = {},
): Promise<LoadResult> {
  const path = resolve(file)
  const { format, items } = await listArchive(path)
  if (!items.length)
    throw new AirlockError('INVALID_INPUT', `${file} holds no image`, { hint: 'check the file' })
  const sourceOf = (index: number) =>
    format === 'docker-archive'
      ? new DockerArchiveReference(path, undefined, index)
      : new OciArchiveReference(path, undefined, index)
  return loadImages(
    file,
    format,
    items.map((i) => ({ ...i, source: sourceOf(i.index) })),
    opts,
  )
}

export interface LoadItem {
  /** Position in the archive (`@N`). */
  index: number
  names: string[]
  source: ImageReference
}

/** Loads `items` (images of `file`) into the local engine, each under its names. */
export async function loadImages(
  file: string,
  format: LoadResult['format'],
  items: LoadItem[],
  opts: EngineFlowOptions & { quota?: QuotaFlowOptions } = {},
): Promise<LoadResult> {
  const path = resolve(file)
  const engine = await detectEngine({ ...opts.engineOptions, engine: opts.engine })
  const notices: Notice[] = []
  const images: LoadedImage[] = []
  // Room for every image of the archive, checked before the first is written.
  const preflight =
    engine === 'podman'
      ? await preflightPodmanWrite(
          items.map((i) => i.source),
          {
            engine: opts.engineOptions,
            quota: opts.quota,
            what: `loading ${file}`,
            platforms: opts.platforms,
          },
        )
      : undefined
  for (const item of items) {
    let names = item.names.flatMap((n) => normalized(n))
    if (!names.length) {
      const fallback = `localhost/${
        basename(path)
          .replace(/\.(tar|tgz|tar\.gz)$/, '')
          .toLowerCase()
          .replace(/[^a-z0-9._-]+/g, '-') || 'image'
      }:${item.index}`
      names = [fallback]
      notices.push({
        code: 'UNNAMED_IMAGE',
        message: `image @${item.index} of ${file} has no name; loaded as ${fallback}`,
      })
    }
    let copy = await copyImage(item.source, engineTransportRef(engine, names[0]), {
      platforms: opts.platforms,
      jobs: opts.jobs,
      signal: opts.signal,
      onEvent: opts.onEvent,
      destination: { engine: opts.engineOptions, signal: opts.signal },
    })
    if (engine === 'podman' && copy.digestsPreserved) {
      const changed = await podmanDigestChange(names[0], copy.destinationDigest, opts)
      if (changed) {
        copy = {
          ...copy,
          digestsPreserved: false,
          ...(changed.listed ? { destinationDigest: changed.listed } : {}),
        }
        notices.push({ code: 'DIGESTS_CHANGED', message: changed.message })
      }
    }
    const tagged = await tagLocalImage(engine, names[0], names.slice(1), opts.engineOptions)
    images.push({ index: item.index, names, id: tagged.id, copy })
  }
  return { engine, file: path, format, images, notices, ...(preflight ? { preflight } : {}) }
}

/**
 * When podman does not list `name` under `digest` (it was given another manifest: see
 * containers-storage/dir-import.ts manifestForPodman), the digest it lists and a notice saying so.
 */
async function podmanDigestChange(
  name: string,
  digest: string,
  opts: EngineFlowOptions,
): Promise<{ listed?: string; message: string } | undefined> {
  const image = await resolveLocalImage('podman', name, opts.engineOptions)
  const repo = parseDockerRef(name).name
  if (image.repoDigests.includes(`${repo}@${digest}`)) return undefined
  const listed = image.repoDigests
    .filter((d) => d.startsWith(`${repo}@`))
    .map((d) => d.slice(repo.length + 1))
  return {
    listed: listed.length === 1 ? listed[0] : undefined,
    message: `podman stored ${name} under manifest digest ${listed.join(', ') || '(none)'}, not ${digest}: it could not take the manifest as it was read`,
  }
}

/** What the archive holds, read from one opening of it: docker-archive first, else oci-archive. */
async function listArchive(
  path: string,
): Promise<{ format: 'docker-archive' | 'oci-archive'; items: Array<{ index: number; names: string[] }> }> {
  const archive = await ArchiveFile.open(path, `docker-archive:${path}`)
  try {
    const items = await readManifestJson(archive)
    return { format: 'docker-archive', items: items.map((it, index) => ({ index, names: it.RepoTags })) }
  } catch (err) {
    if (!(err instanceof AirlockError)) throw err
    const oci = await readOciIndex(archive).catch(() => undefined)
    if (!oci) throw err
    return {
      format: 'oci-archive',
      // skopeo writes bare tags ("latest") as ref.name; only a full reference names an image.
      items: oci.map((c, index) => {
        const name = c.annotations?.[REF_NAME]
        return { index, names: name && /[/:]/.test(name) ? [name] : [] }
      }),
    }
  } finally {
    await archive.close()
  }
}

/** A name the engine can take, or none (an OCI ref.name may be a bare tag like "latest"). */
function normalized(name: string): string[] {
  try {
    const ref = parseDockerRef(name)
    return ref.tag || ref.digest ? [ref.toString()] : [`${ref.toString()}:latest`]
  } catch {
    return []
  }
}
