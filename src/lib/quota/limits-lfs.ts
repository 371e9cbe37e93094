/**
 * Lustre `lfs quota -u UID MOUNT` output (lustre-release lustre/utils/lfs.c; the lfs-quota(1) man page):
 *
 *   Disk quotas for usr auser (uid 5496):
 *        Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
 *          /lustre  1234567*  1000000 2000000 6d23h59m58s  5486       0       0       -
 *   uid 5496 is using default block quota setting
 *
 * - Column names differ by version (`kbytes`/`used` up to 2.16; `bquota blimit bgrace` from 2.17).
 * - `*` follows usage when over; values in `[]` are inaccurate (with a "Some errors happened" trailer).
 * - Grace `-` when not in grace, `1w2d3h4m5s` while in it, `none` or `expired` after.
 * - `-h` prints k/M/G/T/P (binary); without it, KiB. A limit of 0 or 0k means no limit.
 * - A mount name longer than 15 characters wraps (up to 2.16): its numbers follow on the next line.
 */
import { parseToolSize } from './sizes.js'
import type { ParsedQuota, QuotaEntry } from './types.js'

const HEADER = /^Disk quotas for (usr|grp|prj|user|group|project) (.*) \((uid|gid|pid|prjid) (\d+)\):\s*$/
const COLUMNS =
  /^\s*Filesystem\s+(kbytes|used|bused)\s+(quota|bquota)\s+(limit|blimit)\s+(grace|bgrace)\s+files\s/
const GRACE = /^(?:-|none|expired|(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?)$/
/** Trailers lfs prints after the table that carry no numbers airlock needs. */
const KNOWN_NOTES = [/is using default (block|file) quota setting/, /^Total allocated/]

export function parseLfsQuota(stdout: string): ParsedQuota {
  const entries: QuotaEntry[] = []
  const warnings: string[] = []
  let kind = 'usr'
  let pending: string | undefined
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue
    const h = HEADER.exec(line)
    if (h) {
      kind = h[1]
      continue
    }
    if (COLUMNS.test(line) || KNOWN_NOTES.some((re) => re.test(line))) continue
    if (/^Some errors happened/.test(line)) {
      warnings.push(`lfs: ${line.trim()}`)
      continue
    }
    const tokens = line.trim().split(/\s+/)
    if (pending === undefined && tokens.length === 1) {
      pending = tokens[0]
      continue
    }
    const wrapped = pending !== undefined && isValue(tokens[0])
    if (pending !== undefined && !wrapped)
      warnings.push(`lfs: no numbers after the filesystem line: ${pending}`)
    const fs = wrapped ? (pending as string) : tokens[0]
    const nums = wrapped ? tokens : tokens.slice(1)
    const raw = wrapped ? `${pending}\n${line}` : line
    pending = undefined
    const e = parseRow(fs, nums, raw, kind, warnings)
    if (e) entries.push(e)
    else warnings.push(`lfs: cannot read the line: ${line.trim()}`)
  }
  if (pending !== undefined) warnings.push(`lfs: no numbers after the filesystem line: ${pending}`)
  return { entries, warnings }
}

function isValue(t: string): boolean {
  return /^\[?\d+(?:\.\d+)?[kKMGTP]?\]?\*?$/.test(t)
}

/** A value, possibly `[inaccurate]` and `*`-marked. */
function value(t: string): { n?: number; star: boolean; inaccurate: boolean } {
  let s = t
  const star = s.endsWith('*')
  if (star) s = s.slice(0, -1)
  const inaccurate = s.startsWith('[') && s.endsWith(']')
  if (inaccurate) s = s.slice(1, -1)
  return { n: parseToolSize(s), star, inaccurate }
}

/** used[*] quota limit grace files[*] quota limit grace */
function parseRow(
  fs: string,
  t: string[],
  raw: string,
  kind: string,
  warnings: string[],
): QuotaEntry | undefined {
  if (t.length !== 8) return undefined
  const used = value(t[0])
  const soft = value(t[1])
  const hard = value(t[2])
  if (used.n === undefined || soft.n === undefined || hard.n === undefined) return undefined
  if (!GRACE.test(t[3]) || !GRACE.test(t[7]) || !isValue(t[4]) || !isValue(t[5]) || !isValue(t[6])) {
    return undefined
  }
  if (used.inaccurate || soft.inaccurate || hard.inaccurate) {
    warnings.push(`lfs marks these numbers as inaccurate ([...]): ${raw.trim()}`)
  }
  const grace = t[3] === '-' ? undefined : t[3]
  return {
    filesystem: fs,
    kind,
    used: used.n,
    ...(soft.n > 0 ? { soft: soft.n } : {}),
    ...(hard.n > 0 ? { hard: hard.n } : {}),
    ...(grace ? { grace } : {}),
    overQuota: used.star || (hard.n > 0 && used.n >= hard.n),
    raw,
  }
}
