/**
 * Preflight on this node: before `pull`, `load` or `sif build` writes anything, will it fit? The space
 * needed (from the image's manifests: image-size.ts) is compared with the room left where it goes:
 * the smaller of the quota left (hard − used, from the node's quota tool for that filesystem, else
 * airlock's config `quota.limit` against the graphroot's usage) and the filesystem's free space.
 *
 * Into podman's storage the need depends on the graph driver podman will use (image-size.ts
 * storageNeed: vfs copies every lower layer into each layer), found as podman finds it:
 * --storage-driver, else STORAGE_DRIVER or storage.conf, else the driver the existing store was made
 * with, else overlay (assumed, and said so). When that need does not fit, the store's images and their
 * layers are looked at: what it holds already is not counted.
 *
 * Over: QUOTA_EXCEEDED (exit 4) naming the numbers (needed, available, limit, used, free), with a hint
 * naming the largest local images to remove, or `--force`. Forced, or nothing measurable: the check
 * says so in its result and lets the work go on. The probe pieces are those of `airlock quota`
 * (storage-conf, df, limits, usage; report.ts's assessNode for the room left).
 */
import { AirlockError } from '../errors.js'
import { formatSize } from '../sizes.js'
import { probeDf } from './df.js'
import { chainIds, FULL_COPY_DRIVERS, type ImageSize, storageNeed } from './image-size.js'
import { probeLimit } from './limits.js'
import { localRunner } from './probe.js'
import { assessNode, checkThresholds } from './report.js'
import { normalizeDriver, resolveStorage, storeDriver } from './storage-conf.js'
import type { LimitSource, NodeReport, Runner } from './types.js'
import { measureUsage } from './usage.js'

/** Kept for importers of this module; the formatter is ../sizes.ts's. */
export { formatSize }

export interface SpaceCheck {
  /** False when the room could not be measured (the reason says why); the work goes on. */
  checked: boolean
  /** True when the check found too little room and `force` let the work go on. */
  forced?: boolean
  reason?: string
  /** Where the bytes go: graphroot or the output directory. */
  path?: string
  needed: number
  /** Bytes that can still be written there (the smaller of quota left and free space). */
  available?: number
  limit?: number
  used?: number
  free?: number
  source?: LimitSource | 'harbor'
  /** The needed bytes were estimated (compressed layers × EXPANSION), not known. */
  estimated?: boolean
  /** podman's graph driver the need was computed for (podman storage only). */
  driver?: string
  /**
   * Where the driver came from: `--storage-driver`, `STORAGE_DRIVER`, the storage.conf that names it,
   * `the store` (the driver an existing store was made with), or `assumed` (none of these).
   */
  driverFrom?: string
}

export interface LocalPreflightOptions {
  /** What is being done, for the message: `pulling docker.io/library/alpine:3.20`. */
  what: string
  /** The needed bytes are an estimate (the message says "about"). */
  estimated?: boolean
  /** podman's graphroot when given (podman --root); else resolved from storage.conf as podman does. */
  graphroot?: string
  /** Bytes, airlock's config `quota.limit`: the limit when no quota tool gives one. */
  configLimit?: number
  force?: boolean
  /** Environment podman sees (CONTAINERS_STORAGE_CONF, HOME, XDG_*); default process.env. */
  env?: NodeJS.ProcessEnv
  /** Runs df and the quota tools (default: this machine). */
  run?: Runner
  /** The images of the local store (name, ID, bytes): for the hint, and to see what is there already. */
  largestImages?: () => Promise<Array<{ name: string; id?: string; size: number }>>
}

export interface PodmanPreflightOptions extends LocalPreflightOptions {
  /** podman's --storage-driver when given; else resolved as podman resolves it. */
  driver?: string
  /**
   * The diff IDs (RootFS.Layers) of each of the store's images `ids`: the layers a pull need not
   * write. Asked only when the whole need does not fit.
   */
  storedLayers?: (ids: string[]) => Promise<string[][]>
}

const LIMIT_NAMES: Record<string, string> = {
  quota: 'quota -vs',
  lfs: 'lfs quota',
  mmlsquota: 'mmlsquota',
  xfs_quota: 'xfs_quota',
  config: 'airlock config quota.limit',
  harbor: 'Harbor project quota',
}

/** The refusal: what needs how much where, and every number that decided it. */
export function spaceError(check: SpaceCheck, what: string, hint: string): AirlockError {
  const about = check.estimated ? 'about ' : ''
  const parts: string[] = []
  if (check.limit !== undefined)
    parts.push(`limit ${formatSize(check.limit)} (${LIMIT_NAMES[check.source ?? ''] ?? check.source})`)
  if (check.used !== undefined) parts.push(`used ${formatSize(check.used)}`)
  if (check.free !== undefined) parts.push(`${formatSize(check.free)} free on the filesystem`)
  return new AirlockError(
    'QUOTA_EXCEEDED',
    `${what} needs ${about}${formatSize(check.needed)}${check.path ? ` in ${check.path}` : ''}${driverText(check)}, but only ${formatSize(check.available ?? 0)} is available: ${parts.join(', ')}`,
    { hint },
  )
}

/** " (podman's vfs driver: …)" for a check into podman's storage, else ''. */
function driverText(check: SpaceCheck): string {
  if (!check.driver) return ''
  const how = FULL_COPY_DRIVERS.has(check.driver) ? ': every layer a full copy of the layers under it' : ''
  const assumed = check.driverFrom === 'assumed' ? ', assumed: no driver is configured' : ''
  return ` (podman's ${check.driver} driver${how}${assumed})`
}

type Listed = Array<{ name: string; id?: string; size: number }>

/** "the largest images here: a (1.2 GiB), b (800 MiB), c (300 MiB); " or '' when none are known. */
function largestText(images: Listed): string {
  const top = [...images].sort((a, b) => b.size - a.size).slice(0, 3)
  if (!top.length) return ''
  return `the largest images here: ${top.map((i) => `${i.name} (${formatSize(i.size)})`).join(', ')}; `
}

/** Measures the room left at `path` (graphroot when `storage` is true) on this node. */
async function measureRoom(
  path: string,
  run: Runner,
  opts: { configLimit?: number; storage: boolean },
): Promise<Omit<SpaceCheck, 'needed'>> {
  const uid = process.getuid?.() ?? 0
  const df = await probeDf(run, path)
  if (!df.info) return { checked: false, path, reason: df.warnings[0] ?? `df ${path} told nothing` }
  // A config limit is on podman's storage: measured against the graphroot's usage, never an output dir.
  const configLimit = opts.storage ? opts.configLimit : undefined
  // Walked only when the config limit is the one that applies (no quota tool gives a limit).
  const usage = async () => (await measureUsage(path)).bytes
  const lim = await probeLimit(run, { df: df.info, uid, self: true, configLimit, usage })
  const usedByConfig = lim.limit.source === 'config' ? lim.limit.used : undefined
  const report: NodeReport = {
    node: 'local',
    reachable: true,
    ...(usedByConfig !== undefined ? { usage: usedByConfig } : {}),
    limit: lim.limit,
    free: df.info.available,
    fsSize: df.info.size,
    warnings: lim.warnings,
  }
  const a = assessNode(report, checkThresholds())
  const limited = a.basis === 'hard' || a.basis === 'soft'
  return {
    checked: a.remaining !== undefined,
    path,
    ...(a.remaining !== undefined ? { available: a.remaining } : { reason: a.reason }),
    ...(limited ? { limit: a.of, used: a.used, source: lim.limit.source } : {}),
    free: df.info.available,
  }
}

/**
 * Over → `recount` (when given) says what is needed knowing the store's images; still over → refused
 * unless forced. `advice` goes into the hint before --force.
 */
async function decide(
  check: SpaceCheck,
  opts: LocalPreflightOptions,
  cleanup: string,
  recount?: (listed: Listed) => Promise<number>,
  advice = '',
): Promise<SpaceCheck> {
  const available = check.available
  if (!check.checked || available === undefined || check.needed <= available) return check
  const listed: Listed = opts.largestImages ? await opts.largestImages().catch(() => []) : []
  if (recount) {
    const needed = await recount(listed).catch(() => undefined)
    if (needed !== undefined && needed < check.needed) {
      check = { ...check, needed }
      if (needed <= available) return check
    }
  }
  if (opts.force) return { ...check, forced: true }
  const largest = largestText(listed)
  throw spaceError(
    check,
    opts.what,
    `free space first (${largest}${cleanup}), ${advice}or run again with --force to try anyway`,
  )
}

/** The graph driver podman will use, and where that comes from (see the top of this file). */
async function podmanDriver(
  opts: PodmanPreflightOptions,
  run: Runner,
  env: NodeJS.ProcessEnv,
): Promise<{ graphroot: string; driver: string; driverFrom: string }> {
  if (opts.graphroot && opts.driver)
    return { graphroot: opts.graphroot, driver: normalizeDriver(opts.driver), driverFrom: '--storage-driver' }
  const resolved = await resolveStorage(run, env, process.getuid?.() ?? 0)
  const graphroot = opts.graphroot ?? resolved.storage.graphroot
  if (opts.driver) return { graphroot, driver: normalizeDriver(opts.driver), driverFrom: '--storage-driver' }
  if (resolved.storage.driver) {
    const driverFrom = resolved.driverFrom ?? resolved.storage.source
    return { graphroot, driver: resolved.storage.driver, driverFrom }
  }
  const found = await storeDriver(run, graphroot)
  return found
    ? { graphroot, driver: found, driverFrom: 'the store' }
    : { graphroot, driver: 'overlay', driverFrom: 'assumed' }
}

/**
 * Before writing the images `sizes` into podman's storage (pull, load): refuses with QUOTA_EXCEEDED
 * when what podman's graph driver needs for them will not fit, unless forced. Never writes anything.
 */
export async function preflightPodmanStore(
  sizes: ImageSize[],
  opts: PodmanPreflightOptions,
): Promise<SpaceCheck> {
  const env = opts.env ?? process.env
  const run = opts.run ?? localRunner(opts.env)
  const { graphroot, driver, driverFrom } = await podmanDriver(opts, run, env)
  const need = storageNeed(sizes, driver)
  const room = await measureRoom(graphroot, run, { configLimit: opts.configLimit, storage: true })
  const recount = async (listed: Listed): Promise<number> => {
    const ids = listed.map((i) => i.id).filter((id): id is string => !!id)
    if (!ids.length) return need.bytes
    const stacks = opts.storedLayers ? await opts.storedLayers(ids) : []
    const chains = new Set(stacks.flatMap((diffIds) => chainIds(diffIds)))
    return storageNeed(sizes, driver, { images: new Set(ids), chains }).bytes
  }
  const advice = need.fullCopies
    ? `use a store with the overlay driver where this kernel allows it (it would need ${formatSize(storageNeed(sizes, 'overlay').bytes)}), `
    : ''
  return decide(
    { ...room, needed: need.bytes, estimated: !need.exact, driver, driverFrom },
    opts,
    'podman rmi NAME, podman image prune',
    recount,
    advice,
  )
}

/**
 * Before writing `neededBytes` into directory `dir` (a SIF's output): the quota of `dir`'s filesystem
 * from the node's quota tool, and its free space. airlock's config limit is about podman's storage,
 * so it does not apply here.
 */
export async function preflightLocalDir(
  neededBytes: number,
  dir: string,
  opts: LocalPreflightOptions,
): Promise<SpaceCheck> {
  const run = opts.run ?? localRunner(opts.env)
  const room = await measureRoom(dir, run, { storage: false })
  return decide(
    { ...room, needed: neededBytes, estimated: opts.estimated ?? false },
    opts,
    'remove files you no longer need, or write elsewhere with -o',
  )
}
