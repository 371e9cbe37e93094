/**
 * xfs_quota parsing: the `report -h` layout of xfsprogs quota/report.c (xfs_quota(8)) and the `quota`
 * command layout from xfsprogs quota/quota.c (`%-19s` device, KiB numbers, `%02d` warnings, grace in
 * brackets, mount point), with the grace forms of quota/util.c.
 */
import { describe, expect, it } from 'vitest'
import { parseXfsQuota } from '../../src/lib/quota/limits-xfs.js'

const K = 1024
const M = 1024 ** 2

describe('xfs_quota quota -v -N -b', () => {
  it('reads a row under its limits', () => {
    const out = `/dev/sdb1                  1024      10240      20480   00 [--------] /home\n`
    const r = parseXfsQuota(out, { uid: 1000 })
    expect(r.warnings).toEqual([])
    expect(r.entries[0]).toMatchObject({
      filesystem: '/home',
      used: 1024 * K,
      soft: 10240 * K,
      hard: 20480 * K,
      overQuota: false,
    })
    expect(r.entries[0].grace).toBeUndefined()
  })

  it('reads grace in days, expired (none), and less than a day', () => {
    const out = [
      '/dev/sdb1                 15872      10240      20480   01 [7 days] /home',
      '/dev/sdc1                 25000      10240      20480   03 [--none--] /data',
      '/dev/sdd1                 15000      10240      20480   00 [05:04:03] /scratch',
    ].join('\n')
    const r = parseXfsQuota(out, { uid: 1000 })
    expect(r.warnings).toEqual([])
    expect(r.entries.map((e) => [e.filesystem, e.grace, e.overQuota])).toEqual([
      ['/home', '7 days', true],
      ['/data', 'none', true],
      ['/scratch', '05:04:03', true],
    ])
  })

  it('reads a wrapped device (longer than 19 characters) and 0 = no limit', () => {
    const out = `/dev/mapper/vg_data-lv_home
                         512          0          0   00 [--------] /home\n`
    const r = parseXfsQuota(out, { uid: 1000 })
    expect(r.warnings).toEqual([])
    expect(r.entries[0]).toMatchObject({ filesystem: '/home', used: 512 * K })
    expect(r.entries[0].hard).toBeUndefined()
    expect(r.entries[0].raw).toContain('/dev/mapper/vg_data-lv_home\n')
  })

  it('skips the header when -N was not given', () => {
    const out = `Disk quotas for User bob (1000)
Filesystem              Blocks      Quota      Limit  Warn/Time      Mounted on
/dev/sdb1                  1024      10240      20480   00 [--------] /home
`
    expect(parseXfsQuota(out, { uid: 1000 }).entries).toHaveLength(1)
  })
})

describe('xfs_quota report -h', () => {
  const report = `User quota on /home (/dev/sdb1)
                        Blocks
User ID      Used   Soft   Hard Warn/Grace
---------- ---------------------------------
root            0      0      0  00 [------]
bob         15.5M    10M    20M  00 [7 days]
#1002        2.0G      0      0  00 [------]
carol         25M    10M    20M  02 [-none-]
dave          11M    10M    20M  00 12:00:01
`

  it('picks the user by name, with human sizes and grace', () => {
    const r = parseXfsQuota(report, { name: 'bob', uid: 1001 })
    expect(r.warnings).toEqual([])
    expect(r.entries).toEqual([
      expect.objectContaining({
        filesystem: '/home',
        used: Math.round(15.5 * M),
        soft: 10 * M,
        hard: 20 * M,
        grace: '7 days',
        overQuota: true,
      }),
    ])
  })

  it('picks a user without a name by #uid, and reads -none- and hh:mm:ss', () => {
    expect(parseXfsQuota(report, { uid: 1002 }).entries[0]).toMatchObject({ used: 2 * 1024 ** 3 })
    expect(parseXfsQuota(report, { name: 'carol' }).entries[0]).toMatchObject({
      grace: 'none',
      overQuota: true,
    })
    expect(parseXfsQuota(report, { name: 'dave' }).entries[0]).toMatchObject({ grace: '12:00:01' })
  })

  it('never guesses: an unknown row becomes a warning', () => {
    const r = parseXfsQuota(`${report}erin        lots    10M    20M  00 [------]\n`, { name: 'erin' })
    expect(r.entries).toEqual([])
    expect(r.warnings).toEqual([
      'xfs_quota: cannot read the line: erin        lots    10M    20M  00 [------]',
    ])
  })
})
