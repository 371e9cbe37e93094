/**
 * Preflight for `push`/`copy` into a Harbor project: the blobs (and manifests) the target repository
 * does not have yet are what the push adds to the project's usage, checked against the project's
 * quota (hard − used) before the first byte is sent. Blobs are looked up in the target repository
 * only (HEAD, never a mount, so nothing is written); a blob Harbor already counts for another
 * repository of the project is counted again, so the check errs towards refusing, and `--force` is
 * there for that.
 *
 * A push Harbor refuses half way (403 DENIED "Quota exceeded …", which the registry client maps to
 * QUOTA_EXCEEDED) is explained the same way: `explainHarborQuota` asks Harbor for the project's
 * numbers and rewrites the error with them, Harbor's own words kept.
 */
import { runPool } from '../copy/pool.js'
import { AirlockError } from '../errors.js'
import { HarborClient } from '../harbor/client.js'
import { harborHost } from '../harbor/project-name.js'
import { type Descriptor, isIndexType, MEDIA } from '../manifest.js'
import { parseDockerRef } from '../reference.js'
import { formatSize } from '../sizes.js'
import { RegistryClient } from '../transports/registry/client.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import { harborRoom } from './harbor-quota.js'
import { type SpaceCheck, spaceError } from './preflight.js'

export interface HarborTarget {
  /** The destination reference, without transport: `harbor.example.org/group/app:1`. */
  reference: string
  /** Harbor's URL or host for its API (default: the destination's registry host). */
  url: string
  project: string
  repository: string
}

/**
 * The Harbor project a destination goes into, when its registry host is a Harbor airlock knows
 * (`harbor`: --harbor, or harbor.host in the config); undefined for any other registry.
 */
export function harborTarget(reference: string, harbor: string | undefined): HarborTarget | undefined {
  if (!harbor) return undefined
  const ref = parseDockerRef(reference.replace(/^docker:\/\//, ''))
  let host: string
  try {
    host = harborHost(harbor)
  } catch {
    return undefined
  }
  if (ref.registry !== host || !ref.repository.includes('/')) return undefined
  return {
    reference: ref.toString(),
    url: harbor,
    project: ref.repository.split('/')[0]!,
    repository: ref.repository,
  }
}

export interface HarborPreflightOptions {
  /** What is being done, for the message: `pushing app:1 to harbor.example.org/group/app:1`. */
  what: string
  registry?: RegistryOptions
  force?: boolean
  signal?: AbortSignal
}

const isManifest = (d: Descriptor) =>
  isIndexType(d.mediaType) || d.mediaType === MEDIA.ociManifest || d.mediaType === MEDIA.dockerManifest

/** Bytes of `blobs` the repository does not hold (HEAD requests only). */
async function missingBytes(
  target: HarborTarget,
  blobs: Descriptor[],
  opts: HarborPreflightOptions,
): Promise<{ bytes: number; count: number }> {
  const ref = parseDockerRef(target.reference)
  const client = new RegistryClient(ref.registry, opts.registry, ref.repository)
  let bytes = 0
  let count = 0
  await runPool(
    blobs,
    8,
    async (d, signal) => {
      const present = isManifest(d)
        ? (await client.headManifest(ref.repository, d.digest, signal)) !== undefined
        : (await client.blobSize(ref.repository, d.digest, signal)) !== undefined
      if (!present) {
        bytes += d.size
        count++
      }
    },
    opts.signal,
  )
  return { bytes, count }
}

function cleanHint(target: HarborTarget): string {
  return `delete artifacts you no longer need from Harbor project "${target.project}" (Projects → ${target.project} → Repositories), or ask a Harbor admin to raise its quota; or run again with --force to try anyway`
}

/**
 * Refuses with QUOTA_EXCEEDED, before anything is sent, a push whose missing blobs do not fit in the
 * project's quota, unless forced. When Harbor cannot be asked (no permission to read the quota, the
 * project missing, not a Harbor after all), the check is skipped (`checked: false` and the reason):
 * the push itself then says what is wrong.
 */
export async function preflightHarborPush(
  blobs: Descriptor[],
  target: HarborTarget,
  opts: HarborPreflightOptions,
): Promise<SpaceCheck & { missingBlobs?: number }> {
  let missing: { bytes: number; count: number }
  let room: Awaited<ReturnType<typeof harborRoom>>
  try {
    missing = await missingBytes(target, blobs, opts)
    room = await harborRoom(
      new HarborClient({ url: target.url, registryOptions: opts.registry }),
      target.project,
    )
  } catch (err) {
    if (opts.signal?.aborted) throw err
    return { checked: false, needed: 0, reason: (err as Error).message }
  }
  const check: SpaceCheck & { missingBlobs?: number } = {
    checked: true,
    path: `Harbor project ${target.project}`,
    needed: missing.bytes,
    missingBlobs: missing.count,
    used: room.used,
    source: 'harbor',
    ...(room.hard !== undefined ? { limit: room.hard, available: room.remaining } : {}),
  }
  if (check.available === undefined || check.needed <= check.available) return check
  if (opts.force) return { ...check, forced: true }
  throw spaceError(check, opts.what, cleanHint(target))
}

/**
 * Turns Harbor's refusal during a push (QUOTA_EXCEEDED from the registry client) into the same error
 * as the preflight's, with the project's numbers as Harbor reports them now. Any other error, or a
 * refusal whose numbers cannot be read, is returned as it was.
 */
export async function explainHarborQuota(
  err: unknown,
  target: HarborTarget,
  opts: HarborPreflightOptions & { needed?: number },
): Promise<unknown> {
  if (!(err instanceof AirlockError) || err.code !== 'QUOTA_EXCEEDED') return err
  const said =
    /adding (.+?) of storage resource.*?current usage of (.+?) will exceed the configured upper limit of ([^.]+(?:\.\d+ ?\w+)?)/i.exec(
      err.message,
    )
  const harborSaid = said ? ` (Harbor: adding ${said[1]} to ${said[2]} would exceed ${said[3]})` : ''
  let numbers = ''
  try {
    const room = await harborRoom(
      new HarborClient({ url: target.url, registryOptions: opts.registry }),
      target.project,
    )
    const parts = [
      ...(opts.needed !== undefined ? [`needed ${formatSize(opts.needed)}`] : []),
      ...(room.remaining !== undefined ? [`available ${formatSize(room.remaining)}`] : []),
      ...(room.hard !== undefined ? [`limit ${formatSize(room.hard)}`] : []),
      `used ${formatSize(room.used)}`,
    ]
    numbers = `: ${parts.join(', ')}`
  } catch {
    if (!said) return err
  }
  return new AirlockError(
    'QUOTA_EXCEEDED',
    `${opts.what} was refused by Harbor: project "${target.project}" is over its storage quota${numbers}${harborSaid}`,
    { hint: cleanHint(target), cause: err, status: err.status },
  )
}
