/**
 * GPFS `mmlsquota` parsing: the UniBE sample (hpc-unibe-ch/hpc-unibe-ch.github.io
 * docs/file-system/file-system-quota.md) and edge cases written from the IBM docs ("mmlsquota
 * command"): a Fileset column, --block-size relabelling, grace spans, in_doubt.
 */
import { describe, expect, it } from 'vitest'
import { parseMmlsquota } from '../../src/lib/quota/limits-gpfs.js'

const K = 1024
const G = 1024 ** 3

const HEAD = `                         Block Limits                                    |     File Limits
Filesystem type             KB      quota      limit   in_doubt    grace |    files   quota    limit in_doubt    grace  Remarks
`

describe('mmlsquota', () => {
  it('reads the reference sample', () => {
    const out = `${HEAD}gpfs       USR        28292096 3221225472 4294967296          0     none |   136704 2000000  3000000        0     none
`
    const r = parseMmlsquota(out)
    expect(r.warnings).toEqual([])
    expect(r.entries).toEqual([
      {
        filesystem: 'gpfs',
        kind: 'USR',
        used: 28292096 * K,
        soft: 3221225472 * K,
        hard: 4294967296 * K,
        overQuota: false,
        raw: 'gpfs       USR        28292096 3221225472 4294967296          0     none |   136704 2000000  3000000        0     none',
      },
    ])
  })

  it('counts in_doubt with usage, and reads a two-word grace', () => {
    const out = `${HEAD}gpfs       USR        900 800 1000          150     7 days |   1 0  0        0     none
`
    const [e] = parseMmlsquota(out).entries
    expect(e).toMatchObject({
      used: 1050 * K,
      soft: 800 * K,
      hard: 1000 * K,
      grace: '7 days',
      overQuota: true,
    })
  })

  it('reads a Fileset column, FILESET rows, 0 = no limit, and a GB block size', () => {
    const out = `                         Block Limits                                    |     File Limits
Filesystem Fileset    type             GB      quota      limit   in_doubt    grace |    files   quota    limit in_doubt    grace  Remarks
fs1        root       USR              12          0          0          0     none |   136704       0        0        0     none
fs1        projects   FILESET          40         50         60          0  expired |   136704       0        0        0     none
`
    const r = parseMmlsquota(out)
    expect(r.warnings).toEqual([])
    expect(r.entries[0]).toMatchObject({ filesystem: 'fs1', kind: 'USR fileset root', used: 12 * G })
    expect(r.entries[0].hard).toBeUndefined()
    expect(r.entries[1]).toMatchObject({
      filesystem: 'fs1',
      kind: 'FILESET fileset projects',
      used: 40 * G,
      soft: 50 * G,
      hard: 60 * G,
      grace: 'expired',
    })
  })

  it('skips the "Disk quotas for group" line and reads GRP rows', () => {
    const out = `Disk quotas for group id (gid 1001):
${HEAD}gpfs       GRP        100 200 300          0     none |   1 0  0        0     none
`
    const r = parseMmlsquota(out)
    expect(r.warnings).toEqual([])
    expect(r.entries[0]).toMatchObject({ kind: 'GRP', hard: 300 * K })
  })

  it('never guesses: rows before a header, and unknown rows, become warnings', () => {
    const out = `gpfs       USR        1 2 3          0     none |   1 0  0        0     none
${HEAD}gpfs       USR        many 2 3          0     none |   1 0  0        0     none
mmlsquota: Quota is not enabled for file system gpfs2
`
    const r = parseMmlsquota(out)
    expect(r.entries).toEqual([])
    expect(r.warnings).toHaveLength(3)
    expect(r.warnings[2]).toBe(
      'mmlsquota: cannot read the line: mmlsquota: Quota is not enabled for file system gpfs2',
    )
  })
})
