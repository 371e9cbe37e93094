/**
 * xfs_quota output, in the two forms a user meets (xfsprogs quota/quota.c, quota/report.c, quota/util.c;
 * the xfs_quota(8) man page):
 *
 * `xfs_quota -c 'quota -v -N -b -u UID' MOUNT` (what airlock runs; KiB, no header):
 *   /dev/sdb1                 15872      10240      20480   00 [7 days] /home
 * a device longer than 19 characters (12 with -h) sits on its own line, its numbers on the next.
 *
 * `xfs_quota -x -c 'report -h'` (the admin's view; needs the user's row):
 *   User quota on /home (/dev/sdb1)
 *                           Blocks
 *   User ID      Used   Soft   Hard Warn/Grace
 *   ---------- ---------------------------------
 *   bob         15.5M    10M    20M  00 [7 days]
 *
 * Grace: `[------]`/`[--------]` not over, `[N days]` in grace, `[-none-]`/`[--none--]` hard limit
 * exceeded, `hh:mm:ss` (or `[hh:mm:ss]`) when less than a day remains. No `*` marker: over-quota is
 * judged from the numbers. Human sizes end in K/M/G/T/P/E; without -h, 1K blocks. 0 = no limit.
 */
import { parseToolSize } from './sizes.js'
import type { ParsedQuota, QuotaEntry } from './types.js'

const GRACE = String.raw`(\[[^\]]*\]|\d{2}:\d{2}:\d{2})`
const NUMS = String.raw`(\S+)\s+(\S+)\s+(\S+)\s+(\d{2})\s+${GRACE}`
/** `quota` command row: [device] used soft hard warns grace mount. */
const QUOTA_ROW = new RegExp(String.raw`^(\S+)?\s+${NUMS}\s+(\/.*?)\s*$`)
const REPORT_SECTION = /^(User|Group|Project) quota on (\S.*) \((.*)\)\s*$/
const REPORT_ROW = new RegExp(String.raw`^(\S+)\s+${NUMS}\s*$`)
const HEADER_LINES = [
  /^\s*Blocks\s*$/,
  /^(User|Group|Project) ID\s+Used\s+Soft\s+Hard\s+Warn\/Grace/,
  /^-+ -+\s*$/,
]
const QUOTA_HEADER = [/^Disk quotas for (User|Group|Project) /, /^Filesystem\s+Blocks\s+Quota\s+Limit/]

function entry(fs: string, kind: string, [u, s, h, , g]: string[], raw: string): QuotaEntry | undefined {
  const used = parseToolSize(u)
  const soft = parseToolSize(s)
  const hard = parseToolSize(h)
  if (used === undefined || soft === undefined || hard === undefined) return undefined
  const inGrace = !/^\[-+\]$/.test(g)
  const grace = /^\[-+none-+\]$/.test(g) ? 'none' : g.replace(/^\[|\]$/g, '')
  return {
    filesystem: fs,
    kind,
    used,
    ...(soft > 0 ? { soft } : {}),
    ...(hard > 0 ? { hard } : {}),
    ...(inGrace ? { grace } : {}),
    overQuota: (hard > 0 && used > hard) || (soft > 0 && used > soft),
    raw,
  }
}

/**
 * Parses either form. `who` picks the row of a `report` (user name, or `#UID`, or the uid); the
 * `quota` form is already one user's.
 */
export function parseXfsQuota(stdout: string, who?: { name?: string; uid?: number }): ParsedQuota {
  const entries: QuotaEntry[] = []
  const warnings: string[] = []
  let section: { kind: string; mount: string; dev: string } | undefined
  let pending: string | undefined
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue
    const sec = REPORT_SECTION.exec(line)
    if (sec) {
      section = { kind: sec[1].toLowerCase(), mount: sec[2], dev: sec[3] }
      continue
    }
    if (HEADER_LINES.some((re) => re.test(line)) || QUOTA_HEADER.some((re) => re.test(line))) continue
    if (section) {
      const m = REPORT_ROW.exec(line)
      if (!m) {
        warnings.push(`xfs_quota: cannot read the line: ${line.trim()}`)
        continue
      }
      const id = m[1]
      const mine =
        who && (id === who.name || id === `#${who.uid}` || (who.uid !== undefined && id === String(who.uid)))
      if (!mine) continue
      const e = entry(section.mount, section.kind, m.slice(2, 7), line)
      if (e)
        entries.push({ ...e, filesystem: section.mount, raw: `${section.mount} (${section.dev}): ${line}` })
      else warnings.push(`xfs_quota: cannot read the line: ${line.trim()}`)
      continue
    }
    const tokens = line.trim().split(/\s+/)
    if (pending === undefined && tokens.length === 1 && !/^\s/.test(line)) {
      pending = tokens[0]
      continue
    }
    const m = QUOTA_ROW.exec(line)
    // A wrapped row's numbers are indented (no device); an unwrapped row starts with its device.
    if (!m || (pending === undefined) !== Boolean(m[1])) {
      warnings.push(`xfs_quota: cannot read the line: ${pending ? `${pending} ` : ''}${line.trim()}`)
      pending = undefined
      continue
    }
    const dev = pending ?? (m[1] as string)
    const raw = pending ? `${pending}\n${line}` : line
    pending = undefined
    const e = entry(m[7] ?? dev, 'user', m.slice(2, 7), raw)
    if (e) entries.push({ ...e, filesystem: m[7] })
    else warnings.push(`xfs_quota: cannot read the line: ${line.trim()}`)
  }
  if (pending !== undefined) warnings.push(`xfs_quota: no numbers after the device line: ${pending}`)
  return { entries, warnings }
}
