import { describe, expect, it } from 'vitest'
import { exitCodeOf, prometheusText, summaryLines, totalsOf } from '../../src/lib/mirror/report.js'
import type { ImageReport, MirrorReport } from '../../src/lib/mirror/types.js'

const img = (action: ImageReport['action'], bytes = 0): ImageReport => ({
  source: `docker://src/a:${action}`,
  target: `docker://dst/m/a:${action}`,
  action,
  bytes,
  seconds: 0.5,
  attempts: 1,
  ...(action === 'failed' ? { error: { code: 'NOT_FOUND', message: 'gone' } } : {}),
})

function report(images: ImageReport[], errors: MirrorReport['errors'] = []): MirrorReport {
  return {
    spec: '/etc/airlock/mirror.yaml',
    startedAt: '2026-11-21T02:15:00.000Z',
    finishedAt: '2026-11-21T02:16:00.000Z',
    seconds: 60,
    dryRun: false,
    images,
    totals: totalsOf(images),
    registries: {
      'registry-1.docker.io': { requests: 12, rateLimitRemaining: '97;w=21600' },
      dst: { requests: 3 },
    },
    exitCode: exitCodeOf(images, errors),
    errors,
  }
}

describe('mirror report', () => {
  it('counts actions and maps failures to exit 3', () => {
    const r = report([img('copied', 2048), img('skipped'), img('failed')])
    expect(r.totals).toEqual({ images: 3, copied: 1, skipped: 1, failed: 1, bytes: 2048 })
    expect(r.exitCode).toBe(3)
    expect(exitCodeOf([img('copied')], [])).toBe(0)
    expect(exitCodeOf([img('copied')], [{ source: 'x', code: 'UNREACHABLE', message: 'down' }])).toBe(3)
  })

  it('every image failed, or nothing could be listed: exit 1, not 3', () => {
    expect(exitCodeOf([img('failed'), img('failed')], [])).toBe(1)
    expect(exitCodeOf([], [{ source: 'x', code: 'UNREACHABLE', message: 'down' }])).toBe(1)
    expect(exitCodeOf([img('failed')], [{ source: 'x', code: 'UNREACHABLE', message: 'down' }])).toBe(1)
    expect(exitCodeOf([img('skipped'), img('failed')], [])).toBe(3)
  })

  it('summarizes for cron mail, with the Docker Hub rate limit seen', () => {
    const lines = summaryLines(report([img('copied', 2048), img('skipped'), img('failed')]))
    expect(lines).toContain('FAILED  docker://src/a:failed -> docker://dst/m/a:failed: gone')
    expect(lines.some((l) => l.startsWith('copied  docker://src/a:copied'))).toBe(true)
    expect(lines.some((l) => l.includes('a:skipped'))).toBe(false)
    expect(lines.at(-2)).toMatch(/^done: 3 images, 1 copied, 1 skipped, 1 failed, 2.0 KiB sent/)
    expect(lines.at(-1)).toBe('rate limits: registry-1.docker.io RateLimit-Remaining 97;w=21600')
  })

  it('shows a skipped image whose referrer tags were copied, naming them, and still counts it as skipped', () => {
    const sig = `sha256-${'a'.repeat(64)}.sig`
    const signed: ImageReport = {
      ...img('skipped', 900),
      reason: 'same digest at the target',
      referrers: [`dst/m/a:${sig}`],
    }
    const lines = summaryLines(report([signed, img('skipped')]))
    expect(lines).toContain(
      `skipped docker://src/a:skipped -> docker://dst/m/a:skipped: same digest at the target; copied referrer tags ${sig}`,
    )
    expect(lines).toHaveLength(3) // the other skipped image stays hidden
    expect(lines.at(-2)).toMatch(/^done: 2 images, 0 copied, 2 skipped, 0 failed, 900 B sent/)
  })

  it('counts the planned tags of a dry run as the ones to copy', () => {
    const r = { ...report([img('planned'), img('planned'), img('skipped')]), dryRun: true }
    const lines = summaryLines(r)
    expect(lines).toContain('planned docker://src/a:planned -> docker://dst/m/a:planned')
    expect(lines.at(-2)).toBe('plan: 3 images, 2 to copy, 1 up to date, 0 failed in 60.0 s')
  })

  it('writes Prometheus textfile metrics', () => {
    const text = prometheusText(report([img('copied', 2048), img('failed')]))
    expect(text).toContain('# TYPE airlock_mirror_images gauge')
    expect(text).toContain('airlock_mirror_images{spec="/etc/airlock/mirror.yaml",action="copied"} 1')
    expect(text).toContain('airlock_mirror_bytes_copied{spec="/etc/airlock/mirror.yaml"} 2048')
    expect(text).toContain('airlock_mirror_exit_code{spec="/etc/airlock/mirror.yaml"} 3')
    expect(text).toContain(
      'airlock_mirror_ratelimit_remaining{spec="/etc/airlock/mirror.yaml",registry="registry-1.docker.io"} 97',
    )
    expect(text).toContain(
      'airlock_mirror_last_run_timestamp_seconds{spec="/etc/airlock/mirror.yaml"} 1795227360',
    )
  })
})
