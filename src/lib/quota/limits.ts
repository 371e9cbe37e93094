/**
 * The limit on graphroot's filesystem, from whichever source the node has: the tool for the filesystem
 * type (Lustre `lfs quota`, GPFS `mmlsquota`, XFS `xfs_quota`), else `quota -vs`, else airlock's config.
 * A tool's entry counts only when it names graphroot's filesystem (df device or mount point): an entry
 * for another filesystem is reported, never used.
 */
import type { DfInfo } from './df.js'
import { parseMmlsquota } from './limits-gpfs.js'
import { parseLfsQuota } from './limits-lfs.js'
import { parseQuotaV } from './limits-quota.js'
import { parseXfsQuota } from './limits-xfs.js'
import type { LimitInfo, LimitSource, ParsedQuota, QuotaEntry, Runner } from './types.js'

type ToolSource = Exclude<LimitSource, 'config' | 'none'>

interface Tool {
  source: ToolSource
  argv: (df: DfInfo, uid: number, self: boolean) => string[]
  parse: (stdout: string, uid: number) => ParsedQuota
  /** True when the tool was asked about graphroot's filesystem only, so any entry is for it. */
  scoped: boolean
}

const TOOLS: Record<ToolSource, Tool> = {
  quota: {
    source: 'quota',
    // The user's own command; `-u UID` only when asking about someone else (root probing a user).
    argv: (_df, uid, self) => ['quota', '-v', '-s', ...(self ? [] : ['-u', String(uid)])],
    parse: (out) => parseQuotaV(out),
    scoped: false,
  },
  lfs: {
    source: 'lfs',
    argv: (df, uid) => ['lfs', 'quota', '-u', String(uid), df.mountpoint],
    parse: (out) => parseLfsQuota(out),
    scoped: true,
  },
  mmlsquota: {
    source: 'mmlsquota',
    argv: (_df, uid, self) => ['mmlsquota', ...(self ? [] : ['-u', String(uid)])],
    parse: (out) => parseMmlsquota(out),
    scoped: false,
  },
  xfs_quota: {
    source: 'xfs_quota',
    argv: (df, uid) => ['xfs_quota', '-c', `quota -v -N -b -u ${uid}`, df.mountpoint],
    parse: (out, uid) => parseXfsQuota(out, { uid }),
    scoped: true,
  },
}

/** Which tools to try for a filesystem type, most specific first. */
export function toolsFor(fsType: string | undefined): ToolSource[] {
  const t = (fsType ?? '').toLowerCase()
  if (t === 'lustre') return ['lfs', 'quota']
  if (t === 'gpfs') return ['mmlsquota', 'quota']
  if (t === 'xfs') return ['xfs_quota', 'quota']
  return ['quota']
}

/** Whether a tool's entry names graphroot's filesystem. */
export function entryMatches(e: QuotaEntry, df: DfInfo): boolean {
  const strip = (s: string) => s.replace(/^\/dev\//, '').replace(/\/+$/, '') || '/'
  return (
    e.filesystem === df.filesystem ||
    e.filesystem === df.mountpoint ||
    strip(e.filesystem) === strip(df.filesystem) ||
    strip(e.filesystem) === strip(df.mountpoint)
  )
}

/** Of several entries for one filesystem (GPFS USR and FILESET rows), the one with the least room. */
function tightest(entries: QuotaEntry[]): QuotaEntry {
  const room = (e: QuotaEntry) => (e.hard ?? e.soft ?? Number.POSITIVE_INFINITY) - e.used
  return entries.reduce((a, b) => (room(b) < room(a) ? b : a))
}

function toLimit(source: ToolSource, e: QuotaEntry): LimitInfo {
  return {
    source,
    filesystem: e.filesystem,
    used: e.used,
    ...(e.soft !== undefined ? { soft: e.soft } : {}),
    ...(e.hard !== undefined ? { hard: e.hard } : {}),
    ...(e.grace !== undefined ? { grace: e.grace } : {}),
    overQuota: e.overQuota,
    raw: e.raw,
  }
}

export interface LimitProbe {
  limit: LimitInfo
  warnings: string[]
}

/**
 * Asks the node's quota tools about graphroot's filesystem. `configLimit` (bytes) applies when no tool
 * gives a limit for it; `usage` (bytes under graphroot) is what a config limit is measured against:
 * a number, or a function called only when the config limit applies (a walk of graphroot is slow).
 */
export async function probeLimit(
  run: Runner,
  opts: {
    df?: DfInfo
    uid: number
    self: boolean
    configLimit?: number
    usage?: number | (() => Promise<number | undefined>)
  },
): Promise<LimitProbe> {
  const warnings: string[] = []
  let unlimited: LimitInfo | undefined
  const df = opts.df
  if (df) {
    for (const source of toolsFor(df.type)) {
      const tool = TOOLS[source]
      const r = await run(tool.argv(df, opts.uid, opts.self), { timeoutMs: 60_000 })
      if (r.notFound || r.exitCode === 127) continue
      const parsed = tool.parse(r.stdout, opts.uid)
      warnings.push(...parsed.warnings)
      const mine = tool.scoped ? parsed.entries : parsed.entries.filter((e) => entryMatches(e, df))
      if (!mine.length) {
        // Exit 1 with no output: no filesystem has quotas (quota-tools). Anything on stderr is worth showing.
        const err = r.stderr.trim().split('\n').filter(Boolean)
        if (err.length) warnings.push(`${source}: ${err.slice(0, 2).join(' / ')}`)
        if (parsed.entries.length) {
          warnings.push(
            `${source} lists ${parsed.entries.map((e) => e.filesystem).join(', ')} but not graphroot's filesystem ${df.filesystem} (${df.mountpoint})`,
          )
        }
        continue
      }
      const e = tightest(mine)
      const limit = toLimit(source, e)
      if (e.hard !== undefined || e.soft !== undefined) return { limit, warnings }
      unlimited ??= limit // the tool says "no limit": keep looking for a config limit
    }
  }
  if (opts.configLimit !== undefined) {
    const used = typeof opts.usage === 'function' ? await opts.usage() : opts.usage
    return {
      limit: {
        source: 'config',
        hard: opts.configLimit,
        ...(used !== undefined ? { used, overQuota: used >= opts.configLimit } : {}),
      },
      warnings,
    }
  }
  return { limit: unlimited ?? { source: 'none' }, warnings }
}
