/**
 * `airlock quota` as a library call: probe every node (in parallel), optionally ask Harbor, and judge
 * each against the thresholds. The command renders the result; the preflight checks use `assessNode`
 * for the room left on a node.
 *
 * Percent is of the hard limit (or the soft limit when only that is set; the tool's own `used`, which
 * counts all of the user's files on that filesystem, or the graphroot usage for a config limit). With
 * no limit it is how full graphroot's filesystem is, as df's `Use%` computes it: used / (used +
 * available), used being size − free blocks, so blocks reserved for root count neither as used nor as
 * available.
 *
 * When nothing could be measured (no node answered with numbers, no Harbor quota), the report's status
 * is `unknown`, never `ok`: exit 1 when a failure threshold was asked for (`--fail`, config
 * `quota.fail`), else 0 with the reason said plainly.
 */
import { AirlockError } from '../errors.js'
import { type ProbeOptions, probeNode } from './probe.js'
import type { NodeReport, Runner } from './types.js'

export type QuotaStatus = 'ok' | 'warn' | 'fail'
export type Basis = 'hard' | 'soft' | 'filesystem' | 'unknown'

export const DEFAULT_WARN = 80
export const DEFAULT_FAIL = 95

export interface Assessment {
  status: QuotaStatus | 'unknown'
  /** 0–100+, one decimal; undefined when nothing could be measured. */
  percent?: number
  basis: Basis
  /** Bytes counted against `of`. */
  used?: number
  /** The bytes the percent is of (the limit, or the filesystem's used + available, as df's Use%). */
  of?: number
  /** Bytes that can still be written: the smaller of limit − used and the filesystem's free space. */
  remaining?: number
  /** Why the status is what it is, in words (`over the hard limit`, `soft limit exceeded, grace expired`). */
  reason?: string
}

export interface Thresholds {
  warn: number
  fail: number
}

export function checkThresholds(warn = DEFAULT_WARN, fail = DEFAULT_FAIL): Thresholds {
  for (const [name, v] of [
    ['--warn', warn],
    ['--fail', fail],
  ] as const) {
    if (!Number.isFinite(v) || v < 0 || v > 100) {
      throw new AirlockError('INVALID_INPUT', `${name} ${v} is not a percentage`, {
        hint: 'give a number from 0 to 100',
      })
    }
  }
  if (warn > fail) {
    throw new AirlockError('INVALID_INPUT', `--warn ${warn} is above --fail ${fail}`, {
      hint: 'the warning threshold must not exceed the failure threshold',
    })
  }
  return { warn, fail }
}

const round1 = (n: number) => Math.round(n * 10) / 10

/** Judges used/of against the thresholds. */
export function judge(used: number, of: number, t: Thresholds): { percent: number; status: QuotaStatus } {
  const percent = of > 0 ? round1((used / of) * 100) : used > 0 ? 100 : 0
  return { percent, status: percent >= t.fail ? 'fail' : percent >= t.warn ? 'warn' : 'ok' }
}

const worse = (a: QuotaStatus, b: QuotaStatus): QuotaStatus =>
  a === 'fail' || b === 'fail' ? 'fail' : a === 'warn' || b === 'warn' ? 'warn' : 'ok'

/** How full one node is, and how much room is left. */
export function assessNode(r: NodeReport, t: Thresholds): Assessment {
  if (!r.reachable || r.error) return { status: 'unknown', basis: 'unknown', reason: r.error }
  const lim = r.limit
  const used = lim?.source === 'config' ? r.usage : (lim?.used ?? r.usage)
  const cap = lim?.hard ?? lim?.soft
  let a: Assessment & { status: QuotaStatus }
  if (cap !== undefined && used !== undefined) {
    const j = judge(used, cap, t)
    a = {
      ...j,
      basis: lim?.hard !== undefined ? 'hard' : 'soft',
      used,
      of: cap,
      remaining: Math.max(0, cap - used),
    }
    if (lim?.hard !== undefined && used >= lim.hard) {
      a.status = 'fail'
      a.reason = 'at or over the hard limit'
    } else if (lim?.overQuota && lim.soft !== undefined && used > lim.soft) {
      // Over the soft limit: writes still succeed until the grace runs out; after that they fail.
      const expired = lim.grace === 'none' || lim.grace === 'expired'
      a.status = expired ? 'fail' : worse(a.status, 'warn')
      a.reason = expired
        ? 'over the soft limit, grace expired'
        : `over the soft limit, grace ${lim.grace ?? '?'}`
    }
  } else if (r.fsSize !== undefined && r.free !== undefined) {
    // As df: used = size − free blocks (r.fsUsed), Use% = used / (used + available).
    const fsUsed = r.fsUsed ?? Math.max(0, r.fsSize - r.free)
    a = { ...judge(fsUsed, fsUsed + r.free, t), basis: 'filesystem', used: fsUsed, of: fsUsed + r.free }
  } else {
    return { status: 'unknown', basis: 'unknown', reason: 'neither a limit nor the filesystem size is known' }
  }
  if (r.free !== undefined) a.remaining = Math.min(a.remaining ?? r.free, r.free)
  return a
}

/** The Harbor project's quota, as the Harbor side reports it (filled by src/lib/harbor). */
export interface HarborQuotaSection {
  url?: string
  project: string
  /** Bytes in use. */
  used?: number
  /** Bytes; undefined = unlimited. */
  hard?: number
  error?: string
  [key: string]: unknown
}

export interface QuotaNode {
  /** 'local' or the ssh name. */
  name: string
  run: Runner
  /** Measure usage with the Node walk (the local machine) instead of `du` through run. */
  local?: boolean
  /** Probe options for this node (env as seen there, uid, storage overrides). */
  probe?: Omit<ProbeOptions, 'configLimit' | 'localWalk'>
  /** Called once the node is probed (an ssh node ends its shared connection). */
  close?: () => Promise<void>
}

export interface QuotaReportOptions {
  nodes: QuotaNode[]
  warn?: number
  fail?: number
  /** Bytes, from airlock's config `quota.limit`. */
  configLimit?: number
  harbor?: () => Promise<HarborQuotaSection>
  /** Nodes probed at once (default 8). */
  concurrency?: number
}

export interface QuotaReport {
  thresholds: Thresholds
  nodes: Array<NodeReport & { assessment: Assessment }>
  harbor?: HarborQuotaSection & { assessment: Assessment }
  /** `unknown` when nothing could be measured. */
  status: QuotaStatus | 'unknown'
  /** With status `unknown`: `could not measure: <why>`. */
  reason?: string
  /** 4 at the failure threshold; 1 when nothing could be measured and a failure threshold was asked for. */
  exitCode: 0 | 1 | 4
}

export function assessHarbor(h: HarborQuotaSection, t: Thresholds): Assessment {
  if (h.error || h.used === undefined) return { status: 'unknown', basis: 'unknown', reason: h.error }
  if (h.hard === undefined) return { status: 'ok', basis: 'unknown', used: h.used, reason: 'no limit' }
  const j = judge(h.used, h.hard, t)
  return { ...j, basis: 'hard', used: h.used, of: h.hard, remaining: Math.max(0, h.hard - h.used) }
}

export async function quotaReport(opts: QuotaReportOptions): Promise<QuotaReport> {
  const thresholds = checkThresholds(opts.warn, opts.fail)
  const limit = Math.max(1, opts.concurrency ?? 8)
  const reports: NodeReport[] = new Array(opts.nodes.length)
  let next = 0
  const worker = async () => {
    while (next < opts.nodes.length) {
      const i = next++
      const n = opts.nodes[i]
      try {
        reports[i] = await probeNode(n.name, n.run, {
          ...n.probe,
          configLimit: opts.configLimit,
          localWalk: n.local,
        })
      } finally {
        await n.close?.().catch(() => undefined)
      }
    }
  }
  const harborP = opts
    .harbor?.()
    .catch((err: unknown): HarborQuotaSection => ({ project: '?', error: (err as Error).message }))
  await Promise.all(Array.from({ length: Math.min(limit, opts.nodes.length) }, worker))
  const nodes = reports.map((r) => ({ ...r, assessment: assessNode(r, thresholds) }))
  const h = harborP ? await harborP : undefined
  const harbor = h ? { ...h, assessment: assessHarbor(h, thresholds) } : undefined
  let status: QuotaStatus = 'ok'
  let measured = 0
  for (const a of [...nodes.map((n) => n.assessment), ...(harbor ? [harbor.assessment] : [])]) {
    if (a.status !== 'unknown') {
      status = worse(status, a.status)
      measured++
    }
  }
  const base = { thresholds, nodes, ...(harbor ? { harbor } : {}) }
  if (measured === 0) {
    const why = [
      ...nodes.map((n) => `${n.node}: ${n.assessment.reason ?? 'nothing measured'}`),
      ...(harbor
        ? [`Harbor project ${harbor.project}: ${harbor.assessment.reason ?? 'nothing measured'}`]
        : []),
    ]
    return {
      ...base,
      status: 'unknown',
      reason: `could not measure: ${why.join('; ') || 'no node to probe'}`,
      exitCode: opts.fail !== undefined ? 1 : 0,
    }
  }
  return { ...base, status, exitCode: status === 'fail' ? 4 : 0 }
}
