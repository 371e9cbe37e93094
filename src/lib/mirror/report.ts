/**
 * The mirror's report: totals and exit code from the per-image results, a human summary, and the
 * files cron and node exporters read (JSON report, Prometheus textfile), written atomically.
 */
import { randomBytes } from 'node:crypto'
import { rename, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { formatSize } from '../sizes.js'
import type { ImageReport, MirrorReport } from './types.js'

export function totalsOf(images: ImageReport[]): MirrorReport['totals'] {
  const t = { images: images.length, copied: 0, skipped: 0, failed: 0, bytes: 0 }
  for (const i of images) {
    if (i.action === 'copied') t.copied++
    else if (i.action === 'skipped') t.skipped++
    else if (i.action === 'failed') t.failed++
    t.bytes += i.bytes
  }
  return t
}

/**
 * 0 when everything listed and copied (or was already there), 3 when some failed, 1 when nothing
 * succeeded (every image failed, or every source failed to list).
 */
export function exitCodeOf(images: ImageReport[], errors: MirrorReport['errors']): number {
  const failed = images.filter((i) => i.action === 'failed').length
  if (!errors.length && !failed) return 0
  return failed === images.length ? 1 : 3
}

/** Lines for a terminal or cron mail: one per image that did something or failed, then totals. */
export function summaryLines(r: MirrorReport, verbose = false): string[] {
  const lines: string[] = []
  for (const e of r.errors) lines.push(`FAILED  ${e.source}: ${e.message}`)
  for (const i of r.images) {
    // A skipped image whose referrer tags were copied did something: it is shown.
    if (i.action === 'skipped' && !verbose && !r.dryRun && !i.referrers?.length) continue
    const what = `${i.source} -> ${i.target}`
    if (i.action === 'failed') lines.push(`FAILED  ${what}: ${i.error?.message ?? i.reason ?? 'failed'}`)
    else if (i.action === 'copied')
      lines.push(`copied  ${what} (${formatSize(i.bytes)}, ${i.seconds.toFixed(1)} s)`)
    else {
      const refs = i.referrers?.length
        ? `; copied referrer tags ${i.referrers.map((t) => t.slice(t.lastIndexOf(':') + 1)).join(', ')}`
        : ''
      lines.push(`${i.action.padEnd(7)} ${what}${i.reason ? `: ${i.reason}` : ''}${refs}`)
    }
  }
  const t = r.totals
  const limits = Object.entries(r.registries)
    .filter(([, v]) => v.rateLimitRemaining !== undefined)
    .map(([h, v]) => `${h} RateLimit-Remaining ${v.rateLimitRemaining}`)
  const shard = r.shard ? ` (shard ${r.shard.index}/${r.shard.count})` : ''
  const failed = t.failed + r.errors.length
  if (r.dryRun) {
    // A dry run copies nothing: the planned tags are the ones a run would copy (sizes are not asked).
    const planned = r.images.filter((i) => i.action === 'planned').length
    lines.push(
      `plan: ${t.images} images, ${planned} to copy, ${t.skipped} up to date, ${failed} failed in ${r.seconds.toFixed(1)} s${shard}`,
    )
  } else {
    lines.push(
      `done: ${t.images} images, ${t.copied} copied, ${t.skipped} skipped, ${failed} failed, ${formatSize(t.bytes)} sent in ${r.seconds.toFixed(1)} s${shard}`,
    )
  }
  if (limits.length) lines.push(`rate limits: ${limits.join(', ')}`)
  return lines
}

/** Writes `text` to `file` through a temporary name in the same directory and a rename. */
export async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await writeFile(tmp, text, { mode: 0o644 })
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** Prometheus text exposition format for node_exporter's textfile collector (`*.prom`). */
export function prometheusText(r: MirrorReport): string {
  const spec = `spec="${label(r.spec)}"`
  const shard = r.shard ? `,shard="${r.shard.index}/${r.shard.count}"` : ''
  const l = `${spec}${shard}`
  const out: string[] = []
  const metric = (name: string, help: string, rows: Array<[string, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`)
    for (const [labels, v] of rows) out.push(`${name}{${labels}} ${v}`)
  }
  metric('airlock_mirror_images', 'Images (tags) handled by the last mirror run, by action.', [
    [`${l},action="copied"`, r.totals.copied],
    [`${l},action="skipped"`, r.totals.skipped],
    [`${l},action="failed"`, r.totals.failed + r.errors.length],
  ])
  metric('airlock_mirror_bytes_copied', 'Bytes sent by the last mirror run.', [[l, r.totals.bytes]])
  metric('airlock_mirror_duration_seconds', 'Wall time of the last mirror run.', [
    [l, Number(r.seconds.toFixed(3))],
  ])
  metric('airlock_mirror_exit_code', 'Exit code of the last mirror run (0 ok, 3 some failed).', [
    [l, r.exitCode],
  ])
  metric('airlock_mirror_last_run_timestamp_seconds', 'When the last mirror run finished (Unix time).', [
    [l, Math.floor(Date.parse(r.finishedAt) / 1000)],
  ])
  const limits = Object.entries(r.registries).flatMap(([host, v]) => {
    const n = Number.parseInt(v.rateLimitRemaining ?? '', 10)
    return Number.isFinite(n) ? [[`${l},registry="${label(host)}"`, n] as [string, number]] : []
  })
  if (limits.length)
    metric(
      'airlock_mirror_ratelimit_remaining',
      'Last RateLimit-Remaining a registry sent (Docker Hub).',
      limits,
    )
  return `${out.join('\n')}\n`
}
