/**
 * Judging nodes against --warn/--fail: percent of the hard limit (soft when only that is set), of the
 * filesystem when there is no limit; over a hard limit or past a soft limit's grace fails; unreachable
 * nodes are reported and do not fail the run. Rendering: the per-node table and its bar.
 */
import { describe, expect, it } from 'vitest'
import { bar, renderQuotaReport, statusLines } from '../../src/commands/quota.js'
import { assessNode, checkThresholds, quotaReport } from '../../src/lib/quota/report.js'
import type { NodeReport, Runner } from '../../src/lib/quota/types.js'

const G = 1024 ** 3
const t = checkThresholds(80, 95)
const node = (over: Partial<NodeReport>): NodeReport => ({
  node: 'n',
  reachable: true,
  usage: 5 * G,
  free: 100 * G,
  fsSize: 200 * G,
  warnings: [],
  ...over,
})

describe('assessNode', () => {
  it("percent of the hard limit, with the tool's used and the room left", () => {
    expect(assessNode(node({ limit: { source: 'quota', used: 41 * G, hard: 50 * G } }), t)).toEqual({
      status: 'warn',
      percent: 82,
      basis: 'hard',
      used: 41 * G,
      of: 50 * G,
      remaining: 9 * G,
    })
    expect(assessNode(node({ limit: { source: 'quota', used: 48 * G, hard: 50 * G } }), t).status).toBe(
      'fail',
    )
    expect(assessNode(node({ limit: { source: 'quota', used: 10 * G, hard: 50 * G } }), t).status).toBe('ok')
  })

  it('room left is the smaller of the quota and the free space', () => {
    const a = assessNode(node({ free: 2 * G, limit: { source: 'quota', used: 10 * G, hard: 50 * G } }), t)
    expect(a.remaining).toBe(2 * G)
  })

  it('soft only: percent of the soft limit; past it in grace warns, grace expired fails', () => {
    expect(assessNode(node({ limit: { source: 'quota', used: 10 * G, soft: 40 * G } }), t)).toMatchObject({
      basis: 'soft',
      percent: 25,
      status: 'ok',
    })
    const inGrace = node({
      limit: { source: 'quota', used: 42 * G, soft: 40 * G, hard: 100 * G, grace: '6days', overQuota: true },
    })
    expect(assessNode(inGrace, t)).toMatchObject({
      status: 'warn',
      percent: 42,
      reason: 'over the soft limit, grace 6days',
    })
    const expired = node({
      limit: { source: 'quota', used: 42 * G, soft: 40 * G, hard: 100 * G, grace: 'none', overQuota: true },
    })
    expect(assessNode(expired, t)).toMatchObject({
      status: 'fail',
      reason: 'over the soft limit, grace expired',
    })
  })

  it('at the hard limit fails whatever the thresholds', () => {
    const a = assessNode(
      node({ limit: { source: 'quota', used: 50 * G, hard: 50 * G } }),
      checkThresholds(100, 100),
    )
    expect(a).toMatchObject({ status: 'fail', reason: 'at or over the hard limit', remaining: 0 })
  })

  it('a config limit is measured against the graphroot usage', () => {
    expect(
      assessNode(node({ usage: 45 * G, limit: { source: 'config', hard: 50 * G, used: 45 * G } }), t),
    ).toMatchObject({
      percent: 90,
      status: 'warn',
      used: 45 * G,
    })
  })

  it('no limit: how full the filesystem is (size - available)', () => {
    expect(assessNode(node({ limit: { source: 'none' } }), t)).toEqual({
      status: 'ok',
      percent: 50,
      basis: 'filesystem',
      used: 100 * G,
      of: 200 * G,
      remaining: 100 * G,
    })
  })

  it('unreachable or unmeasurable nodes are unknown', () => {
    expect(assessNode({ node: 'x', reachable: false, error: 'refused', warnings: [] }, t)).toEqual({
      status: 'unknown',
      basis: 'unknown',
      reason: 'refused',
    })
    expect(
      assessNode(node({ free: undefined, fsSize: undefined, limit: { source: 'none' } }), t).status,
    ).toBe('unknown')
  })
})

describe('thresholds', () => {
  it('refuses percentages out of range and warn above fail', () => {
    expect(() => checkThresholds(120, 130)).toThrow(/--warn 120 is not a percentage/)
    expect(() => checkThresholds(Number.NaN, 90)).toThrow(/not a percentage/)
    expect(() => checkThresholds(90, 80)).toThrow(/--warn 90 is above --fail 80/)
    expect(checkThresholds()).toEqual({ warn: 80, fail: 95 })
  })
})

describe('quotaReport', () => {
  const down: Runner = async () => ({
    exitCode: 255,
    stdout: '',
    stderr: 'ssh: Could not resolve hostname nope',
  })
  const up =
    (usedPct: number): Runner =>
    async (argv) => {
      const cmd = argv.join(' ')
      if (cmd === 'id -u') return { exitCode: 0, stdout: '0\n', stderr: '' }
      if (argv[0] === 'cat') return { exitCode: 1, stdout: '', stderr: 'No such file or directory' }
      if (argv[0] === 'du') return { exitCode: 0, stdout: '1024\t/x\n', stderr: '' }
      if (argv[0] === 'df') {
        const avail = 100 - usedPct
        return {
          exitCode: 0,
          stdout: `Filesystem Type 1-blocks Used Available Capacity Mounted on\n/dev/sda1 ext4 100 ${usedPct} ${avail} ${usedPct}% /\n`,
          stderr: '',
        }
      }
      return { exitCode: 127, stdout: '', stderr: 'not found', notFound: true }
    }

  it('an unreachable node is reported, not fatal; the worst reachable node decides', async () => {
    const r = await quotaReport({
      nodes: [
        { name: 'a', run: up(10), probe: { env: { HOME: '/root' } } },
        { name: 'b', run: down },
        { name: 'c', run: up(85), probe: { env: { HOME: '/root' } } },
      ],
    })
    expect(r.nodes.map((n) => [n.node, n.reachable, n.assessment.status])).toEqual([
      ['a', true, 'ok'],
      ['b', false, 'unknown'],
      ['c', true, 'warn'],
    ])
    expect(r).toMatchObject({ status: 'warn', exitCode: 0, thresholds: { warn: 80, fail: 95 } })
    const text = renderQuotaReport(r).join('\n')
    expect(text).toContain('b: unreachable: ssh: Could not resolve hostname nope')
    // A node that measured nothing is said plainly (docs/quota.md), not taken as ok.
    expect(statusLines(r)).toEqual([
      'Warning: c is at 85.0%; warning from 80%',
      'Warning: could not measure b: ssh: Could not resolve hostname nope',
    ])
  })

  it('fail maps to exit 4, and the Harbor section counts too', async () => {
    const r = await quotaReport({
      nodes: [{ name: 'a', run: up(10), probe: { env: { HOME: '/root' } } }],
      harbor: async () => ({ project: 'grp', used: 99, hard: 100 }),
    })
    expect(r.harbor?.assessment).toMatchObject({ status: 'fail', percent: 99 })
    expect(r).toMatchObject({ status: 'fail', exitCode: 4 })
    expect(statusLines(r)[0]).toBe('Error: Harbor project grp is at 99.0%; the limit for failing is 95%')
  })

  it('a Harbor failure is shown, not thrown', async () => {
    const r = await quotaReport({
      nodes: [],
      harbor: async () => {
        throw new Error('harbor.example.org: 401')
      },
    })
    expect(r.harbor).toMatchObject({ error: 'harbor.example.org: 401', assessment: { status: 'unknown' } })
    expect(r.exitCode).toBe(0)
  })
})

describe('bar', () => {
  it('fills in 24 steps and caps', () => {
    expect(bar(50)).toBe(`[${'#'.repeat(12)}${'-'.repeat(12)}]`)
    expect(bar(250)).toBe(`[${'#'.repeat(24)}]`)
    expect(bar(undefined)).toBe(`[${' '.repeat(24)}]`)
  })
})
