/**
 * Preflight on this node: before `pull`, `load` or `sif build` writes anything, will it fit? The space
 * needed (from the image's manifests: image-size.ts) is compared with the room left where it goes:
 * the smaller of the quota left (hard − used, from the node's quota tool for that filesystem, else
 * airlock's config `quota.limit` against the graphroot's usage) and the filesystem's free space.
 *
 * Over: QUOTA_EXCEEDED (exit 4) naming the numbers (needed, available, limit, used, free), with a hint
 * naming the largest local images to remove, or `--force`. Forced, or nothing measurable: the check
 * says so in its result and lets the work go on. The probe pieces are those of `airlock quota`
 * (storage-conf, df, limits, usage; report.ts's assessNode for the room left).
 */
import { AirlockError } from '../errors.js'
import { formatSize } from '../sizes.js'
import { probeDf } from './df.js'
import { probeLimit } from './limits.js'
import { localRunner } from './probe.js'
import { assessNode, checkThresholds } from './report.js'
import { resolveStorage } from './storage-conf.js'
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
  /**
   * The images about to be written (their config digests, the engine's image IDs) and their share of
   * the needed bytes: one the store holds already needs no room (podman keeps it as it is).
   */
  images?: Array<{ ids: string[]; bytes: number }>
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
    `${what} needs ${about}${formatSize(check.needed)}${check.path ? ` in ${check.path}` : ''}, but only ${formatSize(check.available ?? 0)} is available: ${parts.join(', ')}`,
    { hint },
  )
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

async function decide(check: SpaceCheck, opts: LocalPreflightOptions, cleanup: string): Promise<SpaceCheck> {
  if (!check.checked || check.available === undefined || check.needed <= check.available) return check
  if (opts.force) return { ...check, forced: true }
  const listed: Listed = opts.largestImages ? await opts.largestImages().catch(() => []) : []
  // Images the store holds already take no more room: pulling them again writes nothing.
  const here = new Set(listed.map((i) => i.id).filter(Boolean))
  const present = (opts.images ?? []).filter((i) => i.ids.length && i.ids.every((id) => here.has(id)))
  if (present.length) {
    const needed = Math.max(0, check.needed - present.reduce((n, i) => n + i.bytes, 0))
    if (needed <= check.available) return { ...check, needed }
  }
  const largest = largestText(listed)
  throw spaceError(
    check,
    opts.what,
    `free space first (${largest}${cleanup}), or run again with --force to try anyway`,
  )
}

/**
 * Before writing `neededBytes` into podman's storage (pull, load): refuses with QUOTA_EXCEEDED when
 * they will not fit, unless forced. Never writes anything.
 */
export async function preflightLocalPull(
  neededBytes: number,
  opts: LocalPreflightOptions,
): Promise<SpaceCheck> {
  const env = opts.env ?? process.env
  const run = opts.run ?? localRunner(opts.env)
  const estimated = opts.estimated ?? false
  let graphroot = opts.graphroot
  if (!graphroot) {
    const resolved = await resolveStorage(run, env, process.getuid?.() ?? 0)
    graphroot = resolved.storage.graphroot
  }
  const room = await measureRoom(graphroot, run, { configLimit: opts.configLimit, storage: true })
  return decide({ ...room, needed: neededBytes, estimated }, opts, 'podman rmi NAME, podman image prune')
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
