/**
 * `quota -vs` parsing: the NOAA Gaea sample, wrapped (NOAA-RDHPCS/noaa-rdhpcs.github.io
 * source/data/storage.rst), and edge cases written from quota-tools' quota.c layout (quota(1)):
 * `%15s` device, `%7s%c` usage with `*`, grace forms.
 */
import { describe, expect, it } from 'vitest'
import { parseQuotaV } from '../../src/lib/quota/limits-quota.js'

const K = 1024
const M = 1024 ** 2
const G = 1024 ** 3

const HEAD = `Disk quotas for user alice (uid 1000): 
     Filesystem   space   quota   limit   grace   files   quota   limit   grace
`

describe('quota -vs', () => {
  it('reads the wrapped reference sample (device longer than 15 characters)', () => {
    const out = `${HEAD}ncrc-svm1.ncrc.gov:/ncrc/home2
                  9228M  51200M  51200M            101k   4295m   4295m
`
    const r = parseQuotaV(out)
    expect(r.warnings).toEqual([])
    expect(r.entries).toHaveLength(1)
    expect(r.entries[0]).toMatchObject({
      filesystem: 'ncrc-svm1.ncrc.gov:/ncrc/home2',
      kind: 'user',
      used: 9228 * M,
      soft: 51200 * M,
      hard: 51200 * M,
      overQuota: false,
    })
    expect(r.entries[0].grace).toBeUndefined()
    expect(r.entries[0].raw).toContain('ncrc-svm1.ncrc.gov:/ncrc/home2\n')
  })

  it('reads an over-quota marker and a grace in days', () => {
    const out = `${HEAD}      /dev/sda1  48000M* 46000M  51200M   6days    101k       0       0
`
    const [e] = parseQuotaV(out).entries
    expect(e).toMatchObject({ filesystem: '/dev/sda1', used: 48000 * M, soft: 46000 * M, hard: 51200 * M })
    expect(e.grace).toBe('6days')
    expect(e.overQuota).toBe(true)
  })

  it('reads hh:mm grace and an expired grace (none)', () => {
    const out = `${HEAD}      /dev/sda1     47G*    46G     50G   23:59     12k       0       0
      /dev/sdb1     47G*    46G     50G    none     12k       0       0
`
    const r = parseQuotaV(out)
    expect(r.warnings).toEqual([])
    expect(r.entries.map((e) => e.grace)).toEqual(['23:59', 'none'])
    expect(r.entries[1]).toMatchObject({ used: 47 * G, soft: 46 * G, hard: 50 * G, overQuota: true })
  })

  it('treats 0 limits as unlimited', () => {
    const out = `${HEAD}      /dev/sda1     12K      0K      0K               3       0       0
`
    const [e] = parseQuotaV(out).entries
    expect(e.used).toBe(12 * K)
    expect(e.soft).toBeUndefined()
    expect(e.hard).toBeUndefined()
    expect(e.overQuota).toBe(false)
  })

  it('reads several filesystems, wrapped and not, and an inode grace', () => {
    const out = `${HEAD}      /dev/sda1   1024M   2048M   4096M            100k    200k    300k
storage.example.org:/export/home
                 50000M* 40000M  51200M   6days  1000k*   900k   1100k   2days
     /dev/nvme0n1p3      0K   1T   2T               0       0       0
`
    const r = parseQuotaV(out)
    expect(r.warnings).toEqual([])
    expect(r.entries.map((e) => e.filesystem)).toEqual([
      '/dev/sda1',
      'storage.example.org:/export/home',
      '/dev/nvme0n1p3',
    ])
    expect(r.entries[1]).toMatchObject({ used: 50000 * M, hard: 51200 * M, grace: '6days', overQuota: true })
    expect(r.entries[2]).toMatchObject({ used: 0, soft: 1024 ** 4, hard: 2 * 1024 ** 4 })
  })

  it('reads 1K blocks when -s was not given (column "blocks")', () => {
    const out = `Disk quotas for user bob (uid 1001): 
     Filesystem  blocks   quota   limit   grace   files   quota   limit   grace
      /dev/sda1  102400  204800  256000             100       0       0
`
    const [e] = parseQuotaV(out).entries
    expect(e).toMatchObject({ used: 102400 * K, soft: 204800 * K, hard: 256000 * K })
  })

  it('reads a short device that starts with a digit after a wrapped one', () => {
    const out = `${HEAD}a-very-long-nfs-server.example:/home
                  1G      2G      3G              1k       0       0
 10.0.0.5:/data      4G      5G      6G              1k       0       0
`
    const r = parseQuotaV(out)
    expect(r.warnings).toEqual([])
    expect(r.entries.map((e) => [e.filesystem, e.hard])).toEqual([
      ['a-very-long-nfs-server.example:/home', 3 * G],
      ['10.0.0.5:/data', 6 * G],
    ])
  })

  it('says "none" quotas and empty output give no entries and no warnings', () => {
    expect(parseQuotaV('Disk quotas for user alice (uid 1000): none\n')).toEqual({
      entries: [],
      warnings: [],
    })
    expect(parseQuotaV('')).toEqual({ entries: [], warnings: [] })
  })

  it('reads group sections', () => {
    const out = `Disk quotas for group hpc (gid 500): 
     Filesystem   space   quota   limit   grace   files   quota   limit   grace
      /dev/sda1     10G     20G     30G              1k       0       0
`
    expect(parseQuotaV(out).entries[0]).toMatchObject({ kind: 'group', hard: 30 * G })
  })

  it('never guesses: unknown lines become warnings with the line, and no number', () => {
    const out = `${HEAD}      /dev/sda1     lots    20G     30G              1k       0       0
      /dev/sdb1     10G     20G     30G   soon       1k       0       0
quota: error while getting quota from nfs:/home for alice (id 1000): Connection refused
a-lonely-device-without-numbers
`
    const r = parseQuotaV(out)
    expect(r.entries).toEqual([])
    expect(r.warnings).toEqual([
      'quota: cannot read the line: /dev/sda1     lots    20G     30G              1k       0       0',
      'quota: cannot read the line: /dev/sdb1     10G     20G     30G   soon       1k       0       0',
      'quota: cannot read the line: quota: error while getting quota from nfs:/home for alice (id 1000): Connection refused',
      'quota: no numbers after the filesystem line: a-lonely-device-without-numbers',
    ])
  })

  it('warns when a wrapped device line is followed by something that is not its numbers', () => {
    const out = `${HEAD}long-device-name.example:/x
      /dev/sda1     10G     20G     30G              1k       0       0
`
    const r = parseQuotaV(out)
    expect(r.warnings).toEqual(['quota: no numbers after the filesystem line: long-device-name.example:/x'])
    expect(r.entries.map((e) => e.filesystem)).toEqual(['/dev/sda1'])
  })
})
