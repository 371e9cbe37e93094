/**
 * Lustre `lfs quota` parsing: the ARCHER2 sample (ARCHER2-HPC/archer2-docs docs/user-guide/data.md)
 * and edge cases written from lustre/utils/lfs.c: `*` markers, `[inaccurate]` values, grace forms,
 * 2.17 column names, wrapped mount names.
 */
import { describe, expect, it } from 'vitest'
import { parseLfsQuota } from '../../src/lib/quota/limits-lfs.js'

const K = 1024
const G = 1024 ** 3

describe('lfs quota', () => {
  it('reads the reference sample (-h, limits 0k = none, default-quota trailer)', () => {
    const out = `Disk quotas for usr auser (uid 5496):
  Filesystem    used   quota   limit   grace   files   quota   limit   grace
           .  1.366G      0k      0k       -    5486       0       0       -
uid 5496 is using default block quota setting
`
    const r = parseLfsQuota(out)
    expect(r.warnings).toEqual([])
    expect(r.entries).toHaveLength(1)
    const e = r.entries[0]
    expect(e).toMatchObject({ filesystem: '.', kind: 'usr', overQuota: false })
    expect(e.used).toBe(Math.round(1.366 * G))
    expect(e.soft).toBeUndefined()
    expect(e.hard).toBeUndefined()
    expect(e.grace).toBeUndefined()
  })

  it('reads KiB values, a * marker and a grace in progress', () => {
    const out = `Disk quotas for usr bob (uid 1000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
        /lustre 1100000* 1000000 2000000 6d23h59m58s    5486       0       0       -
`
    const [e] = parseLfsQuota(out).entries
    expect(e).toMatchObject({
      filesystem: '/lustre',
      used: 1100000 * K,
      soft: 1000000 * K,
      hard: 2000000 * K,
      grace: '6d23h59m58s',
      overQuota: true,
    })
  })

  it('reads expired grace as none or expired, and 2.17 column names', () => {
    const out = `Disk quotas for usr bob (uid 1000):
     Filesystem    used  bquota  blimit  bgrace   files  iquota  ilimit  igrace
        /lustre 1100000* 1000000 2000000    none      10       0       0       -
Disk quotas for usr bob (uid 1000):
     Filesystem    used  bquota  blimit  bgrace   files  iquota  ilimit  igrace
       /lustre2 1100000* 1000000 2000000 expired      10       0       0       -
`
    const r = parseLfsQuota(out)
    expect(r.warnings).toEqual([])
    expect(r.entries.map((e) => e.grace)).toEqual(['none', 'expired'])
  })

  it('reads a wrapped mount name (longer than 15 characters)', () => {
    const out = `Disk quotas for usr bob (uid 1000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
/lustre/scratch-fs01
                    2048  524288 1048576       -      10       0       0       -
`
    const r = parseLfsQuota(out)
    expect(r.warnings).toEqual([])
    expect(r.entries[0]).toMatchObject({
      filesystem: '/lustre/scratch-fs01',
      used: 2048 * K,
      hard: 1048576 * K,
    })
  })

  it('keeps inaccurate [values] but says so, with the error trailer', () => {
    const out = `Disk quotas for usr bob (uid 1000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
        /lustre  [2048]  524288 1048576       -    [10]       0       0       -
Some errors happened when getting quota info. Some devices may be not working or deactivated. The data in "[]" is inaccurate.
`
    const r = parseLfsQuota(out)
    expect(r.entries[0].used).toBe(2048 * K)
    expect(r.warnings).toHaveLength(2)
    expect(r.warnings[0]).toContain('inaccurate')
    expect(r.warnings[1]).toContain('Some errors happened')
  })

  it('never guesses: an unknown line becomes a warning with the line', () => {
    const out = `Disk quotas for usr bob (uid 1000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
        /lustre  2048  524288 1048576  later  10       0       0       -
lfs: quotactl failed: Operation not permitted
`
    const r = parseLfsQuota(out)
    expect(r.entries).toEqual([])
    expect(r.warnings).toEqual([
      'lfs: cannot read the line: /lustre  2048  524288 1048576  later  10       0       0       -',
      'lfs: cannot read the line: lfs: quotactl failed: Operation not permitted',
    ])
  })
})
