/**
 * `airlock push LOCALREF [DEST]`: an image held by podman or docker into a registry, by default
 * into the configured Harbor project. Engines keep layers uncompressed and compress them again on
 * the way out, so the pushed manifest digest can differ from the one the image was pulled with:
 * that is reported (notice and `digestsPreserved: false`) with the digest-preserving alternative.
 */
import type { CopyResult } from '../copy/copy-image.js'
import { detectEngine, engineTransportRef, lookupLocalImage } from '../engine/index.js'
import { checkedCopy, type QuotaFlowOptions } from '../quota/checked-copy.js'
import type { SpaceCheck } from '../quota/preflight.js'
import { pushTarget } from './destination.js'
import type { EngineFlowOptions, EngineName, Notice } from './options.js'

export interface PushResult {
  engine: EngineName
  /** The local image: its ID and names. */
  image: { id: string; names: string[]; repoDigests: string[] }
  destination: string
  /** Digest of the manifest now in the registry. */
  digest: string
  digestsPreserved: boolean
  notices: Notice[]
  copy: CopyResult
  /** The Harbor project quota check before the push, when the destination is the Harbor configured. */
  preflight?: SpaceCheck
}

export async function pushImage(
  localRef: string,
  dest: string | undefined,
  opts: EngineFlowOptions & { quota?: QuotaFlowOptions } = {},
): Promise<PushResult> {
  const engine = await detectEngine({ ...opts.engineOptions, engine: opts.engine })
  // A short name is pushed under the name the engine found it as (`app:1` found as
  // `localhost/app:1` goes there, or into the Harbor project as app:1), as `podman push app:1` does.
  const found = await lookupLocalImage(engine, localRef, opts.engineOptions)
  const local = found.image
  const byId = local.names.length === 0 || isIdLike(localRef, local.id)
  const target = pushTarget(byId ? undefined : (found.name ?? localRef), dest, opts.harbor)
  const quota = { ...opts.quota, harbor: opts.quota?.harbor ?? opts.harbor?.host }
  const checked = await checkedCopy(engineTransportRef(engine, local.id), `docker://${target.reference}`, {
    quota,
    what: `pushing ${localRef} to ${target.reference}`,
    jobs: opts.jobs,
    signal: opts.signal,
    onEvent: opts.onEvent,
    source: { engine: opts.engineOptions, signal: opts.signal },
    destination: { registry: opts.registry, signal: opts.signal },
  })
  const { preflight, ...copy } = checked
  const notices = [...target.notices]
  const digest = copy.destinationDigest
  // The engine's own record of the image's manifest digests (podman: the manifests it was given,
  // e.g. the registry's after airlock pull or podman pull; docker: none for a loaded image): so this
  // names what the engine lists, not what the image was pulled as.
  const listed = local.repoDigests.map((d) => d.slice(d.indexOf('@') + 1))
  const preserved = listed.includes(digest)
  if (!preserved) {
    const was = listed.length ? ` (${engine} lists it as ${[...new Set(listed)].join(', ')})` : ''
    notices.push({
      code: 'DIGESTS_CHANGED',
      message: `${engine} recompresses layers when pushing from its storage: ${target.reference} has manifest digest ${digest}${was}. To move an image with its digests (and signatures) intact, copy registry to registry: airlock copy docker://SOURCE docker://${target.reference}`,
    })
  }
  return {
    engine,
    image: local,
    destination: target.reference,
    digest,
    digestsPreserved: preserved,
    notices,
    copy,
    ...(preflight ? { preflight } : {}),
  }
}

/** The user named the image by (a prefix of) its ID rather than by name. */
function isIdLike(ref: string, id: string): boolean {
  const hex = ref.replace(/^sha256:/, '')
  return /^[0-9a-f]{3,64}$/.test(hex) && id.replace(/^sha256:/, '').startsWith(hex)
}
