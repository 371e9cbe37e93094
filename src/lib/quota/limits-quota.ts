/**
 * `quota -vs` (linux quota-tools `quota.c`, `quotasys.c`; the quota(1) man page) output for one user:
 *
 *   Disk quotas for user alice (uid 1000):
 *        Filesystem   space   quota   limit   grace   files   quota   limit   grace
 *         /dev/sda1  48000M* 46000M  51200M   6days    101k       0       0
 *   ncrc-svm1.ncrc.gov:/ncrc/home2
 *                     9228M  51200M  51200M            101k   4295m   4295m
 *
 * - A device longer than 15 characters sits on its own line; its numbers follow on the next.
 * - `*` follows a usage over its soft or hard limit; grace is empty when not over, `Ndays`, `hh:mm`, or
 *   `none` once expired (`-p` would print epoch seconds; airlock never passes -p).
 * - Space in K/M/G/T (binary) with -s; a bare number is 1K blocks (without -s, column `blocks`).
 * - A limit of 0 means no limit. Exit status is non-zero when over quota or when no filesystem has quotas.
 */
import { parseToolSize } from './sizes.js'
import type { ParsedQuota, QuotaEntry } from './types.js'

/** `6days`, `1day`, `23:59`, `none` (and `-p` epoch seconds are not accepted: digits alone are files). */
export const QUOTA_GRACE = /^(?:\d+days?|\d+:\d{2}|none)$/

const HEADER = /^Disk quotas for (user|group|project) (.*) \((uid|gid|pid) (\d+)\):\s*(none)?\s*$/
const COLUMNS = /^\s*Filesystem\s+(space|blocks)\s+quota\s+limit\s+grace\s+files\s+quota\s+limit\s+grace\s*$/

export function parseQuotaV(stdout: string): ParsedQuota {
  const entries: QuotaEntry[] = []
  const warnings: string[] = []
  let kind = 'user'
  let pending: string | undefined // a wrapped filesystem name waiting for its numbers
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue
    const h = HEADER.exec(line)
    if (h) {
      kind = h[1]
      pending = undefined
      continue
    }
    if (COLUMNS.test(line)) continue
    const tokens = line.trim().split(/\s+/)
    if (pending === undefined && tokens.length === 1) {
      pending = tokens[0]
      continue
    }
    // The numbers of a wrapped line start with the usage, never with a name.
    const wrapped = pending !== undefined && /^\d+(?:\.\d+)?[KMGTPE]?\*?$/.test(tokens[0])
    if (pending !== undefined && !wrapped) {
      warnings.push(`quota: no numbers after the filesystem line: ${pending}`)
      pending = undefined
      if (tokens.length === 1) {
        pending = tokens[0]
        continue
      }
    }
    const fs = wrapped ? (pending as string) : tokens[0]
    const nums = wrapped ? tokens : tokens.slice(1)
    const raw = wrapped ? `${pending}\n${line}` : line
    pending = undefined
    const entry = parseNumbers(fs, nums, raw, kind)
    if (entry) entries.push(entry)
    else warnings.push(`quota: cannot read the line: ${line.trim()}`)
  }
  if (pending !== undefined) warnings.push(`quota: no numbers after the filesystem line: ${pending}`)
  return { entries, warnings }
}

/** used[*] soft hard [grace] files[*] isoft ihard [igrace] */
function parseNumbers(fs: string, t: string[], raw: string, kind: string): QuotaEntry | undefined {
  if (t.length < 6) return undefined
  const usedTok = t[0]
  const star = usedTok.endsWith('*')
  const used = parseToolSize(star ? usedTok.slice(0, -1) : usedTok)
  const soft = parseToolSize(t[1])
  const hard = parseToolSize(t[2])
  if (used === undefined || soft === undefined || hard === undefined) return undefined
  let i = 3
  let grace: string | undefined
  if (QUOTA_GRACE.test(t[i])) grace = t[i++]
  // The inode half must be there and make sense too, or the line is not what we think it is.
  const rest = t.slice(i)
  if (rest.length < 3 || rest.length > 4) return undefined
  if (!/^\d+(?:\.\d+)?[kmgt]?\*?$/.test(rest[0]) || !/^\d+(?:\.\d+)?[kmgt]?$/.test(rest[1])) return undefined
  if (!/^\d+(?:\.\d+)?[kmgt]?$/.test(rest[2])) return undefined
  if (rest.length === 4 && !QUOTA_GRACE.test(rest[3])) return undefined
  const e: QuotaEntry = {
    filesystem: fs,
    kind,
    used,
    ...(soft > 0 ? { soft } : {}),
    ...(hard > 0 ? { hard } : {}),
    ...(grace ? { grace } : {}),
    overQuota: star || (hard > 0 && used >= hard),
    raw,
  }
  return e
}
