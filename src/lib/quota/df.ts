/**
 * Free space of the filesystem that holds a path: `df -B1 -P -T PATH` through a Runner. POSIX output
 * (`-P`) keeps each filesystem on one line; `-T` adds the type that picks the quota tool (lustre, gpfs,
 * xfs, ...). A graphroot that does not exist yet is measured at its nearest existing parent.
 */
import type { Runner } from './types.js'

export interface DfInfo {
  /** The device as df names it (`/dev/sda1`, `server:/export`, a GPFS device name). */
  filesystem: string
  /** Filesystem type when df printed one (`-T`). */
  type?: string
  size: number
  used: number
  /** Bytes an unprivileged user can still write (df "Available"). */
  available: number
  mountpoint: string
  /** The path df was run on (the graphroot, or its nearest existing parent). */
  path: string
}

export interface DfParse {
  info?: DfInfo
  warnings: string[]
}

/** Parses `df -B1 -P [-T] PATH` output for one path. Lines it does not understand become warnings. */
export function parseDf(stdout: string, path: string): DfParse {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '')
  const warnings: string[] = []
  const header = lines[0] ?? ''
  if (!/^Filesystem\s/.test(header)) {
    return { warnings: [`df: unexpected output: ${header || '(empty)'}`] }
  }
  const typed = /^Filesystem\s+Type\s/.test(header)
  const data = lines.slice(1)
  if (data.length !== 1) {
    return { warnings: [`df: expected one filesystem line, got ${data.length}: ${data.join(' | ')}`] }
  }
  const line = data[0]
  // Numbers and the capacity sit in the middle: device [type] size used avail capacity mountpoint...
  const re = typed
    ? /^(.+?)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+%|-)\s+(\/.*)$/
    : /^(.+?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+%|-)\s+(\/.*)$/
  const m = re.exec(line)
  if (!m) return { warnings: [`df: cannot read the line: ${line}`] }
  const f = typed ? m.slice(1) : [m[1], undefined, ...m.slice(2)]
  const info: DfInfo = {
    filesystem: f[0] as string,
    ...(f[1] ? { type: f[1] } : {}),
    size: Number(f[2]),
    used: Number(f[3]),
    available: Number(f[4]),
    mountpoint: f[6] as string,
    path,
  }
  return { info, warnings }
}

function parentOf(p: string): string | undefined {
  if (p === '/' || p === '') return undefined
  const i = p.replace(/\/+$/, '').lastIndexOf('/')
  return i <= 0 ? '/' : p.slice(0, i)
}

/** df for `path`, walking up to the nearest existing parent when it does not exist yet. */
export async function probeDf(run: Runner, path: string): Promise<DfParse> {
  let p: string | undefined = path
  let withType = true
  while (p !== undefined) {
    const r = await run(['df', '-B1', '-P', ...(withType ? ['-T'] : []), p], { timeoutMs: 30_000 })
    if (r.notFound) return { warnings: ['df is not installed on this node'] }
    if (r.exitCode === 0) return parseDf(r.stdout, p)
    if (withType && /invalid option|unrecognized option|illegal option/i.test(r.stderr)) {
      withType = false
      continue
    }
    if (!/No such file or directory/i.test(r.stderr)) {
      return { warnings: [`df ${p} failed: ${r.stderr.trim().split('\n')[0] || `exit ${r.exitCode}`}`] }
    }
    p = parentOf(p)
  }
  return { warnings: [`df found no existing parent of ${path}`] }
}
