/**
 * GPFS / Storage Scale `mmlsquota` output (IBM docs "mmlsquota command",
 * https://www.ibm.com/docs/en/storage-scale/6.0.1?topic=reference-mmlsquota-command):
 *
 *                            Block Limits                                    |     File Limits
 *   Filesystem type             KB      quota      limit   in_doubt    grace |    files   quota    limit in_doubt    grace  Remarks
 *   gpfs       USR        28292096 3221225472 4294967296          0     none |   136704 2000000  3000000        0     none
 *
 * - The header names the columns: some versions add `Fileset` after `Filesystem`; `--block-size`
 *   relabels `KB` (MB, GB, TB; `auto` prints suffixed values). Bare values count in that unit.
 * - `type` is USR, GRP or FILESET. Grace is `none` when not over, else a span (`7 days`, `2 hours`) or
 *   `expired`: everything between in_doubt and `|`.
 * - A quota or limit of 0 means none. Usage plus in_doubt may not exceed the hard limit (IBM docs), so
 *   `used` here is usage + in_doubt: the amount the limit is checked against.
 */
import { parseToolSize } from './sizes.js'
import type { ParsedQuota, QuotaEntry } from './types.js'

const UNIT: Record<string, number> = { KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, PB: 1024 ** 5 }
const KNOWN = [/^\s*Block Limits\s*\|\s*File Limits\s*$/, /^Disk quotas for (user|group|fileset) /]

export function parseMmlsquota(stdout: string): ParsedQuota {
  const entries: QuotaEntry[] = []
  const warnings: string[] = []
  let unit: number | undefined
  let hasFileset = false
  for (const line of stdout.split('\n')) {
    if (line.trim() === '' || KNOWN.some((re) => re.test(line))) continue
    const header = /^\s*Filesystem\s+(Fileset\s+)?type\s+(\S+)\s+quota\s+limit\s+in_doubt\s+grace\s*\|/i.exec(
      line,
    )
    if (header) {
      hasFileset = Boolean(header[1])
      const label = header[2].toUpperCase()
      unit = UNIT[label] ?? (label === 'BLOCKS' ? 1024 : undefined)
      if (unit === undefined) warnings.push(`mmlsquota: unknown block unit ${header[2]}: ${line.trim()}`)
      continue
    }
    const [block] = line.split('|')
    const t = block.trim().split(/\s+/)
    const lead = hasFileset ? 3 : 2
    if (!line.includes('|') || unit === undefined || t.length < lead + 5) {
      warnings.push(`mmlsquota: cannot read the line: ${line.trim()}`)
      continue
    }
    const [fs, fileset] = hasFileset ? [t[0], t[1]] : [t[0], undefined]
    const kind = t[lead - 1]
    const num = (s: string) => (/^\d+$/.test(s) ? Number(s) * (unit as number) : parseToolSize(s, unit))
    const used = num(t[lead])
    const soft = num(t[lead + 1])
    const hard = num(t[lead + 2])
    const doubt = num(t[lead + 3])
    const grace = t.slice(lead + 4).join(' ')
    if (
      !/^(USR|GRP|FILESET)$/i.test(kind) ||
      used === undefined ||
      soft === undefined ||
      hard === undefined ||
      doubt === undefined ||
      !/^(none|expired|\d+ \w+)$/.test(grace)
    ) {
      warnings.push(`mmlsquota: cannot read the line: ${line.trim()}`)
      continue
    }
    const charged = used + doubt
    entries.push({
      filesystem: fs,
      kind: fileset ? `${kind.toUpperCase()} fileset ${fileset}` : kind.toUpperCase(),
      used: charged,
      ...(soft > 0 ? { soft } : {}),
      ...(hard > 0 ? { hard } : {}),
      ...(grace !== 'none' ? { grace } : {}),
      overQuota: (hard > 0 && charged >= hard) || (soft > 0 && charged > soft),
      raw: line,
    })
  }
  return { entries, warnings }
}
