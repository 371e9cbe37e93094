/**
 * The probe's plumbing with scripted Runners: df parsing, du parsing, which quota tool runs for which
 * filesystem type, matching a tool's entry to graphroot's filesystem, the config fallback, and a node
 * that does not answer. (Real commands: test/integration/quota.test.ts.)
 */
import { describe, expect, it } from 'vitest'
import { parseDf } from '../../src/lib/quota/df.js'
import { probeLimit, toolsFor } from '../../src/lib/quota/limits.js'
import { parseEnv, probeNode } from '../../src/lib/quota/probe.js'
import { parseSizeSetting, parseToolSize } from '../../src/lib/quota/sizes.js'
import type { Runner } from '../../src/lib/quota/types.js'
import { parseDu } from '../../src/lib/quota/usage.js'

type Script = Record<string, { exitCode?: number; stdout?: string; stderr?: string; notFound?: boolean }>

/** Answers by the command line joined with spaces (first match of a prefix wins); records the calls. */
function scripted(script: Script): Runner & { calls: string[] } {
  const calls: string[] = []
  const run = (async (argv: string[]) => {
    const line = argv.join(' ')
    calls.push(line)
    const key = Object.keys(script).find((k) => line === k || line.startsWith(`${k} `))
    if (!key) return { exitCode: 127, stdout: '', stderr: `${argv[0]}: command not found`, notFound: true }
    const s = script[key]
    return { exitCode: s.exitCode ?? 0, stdout: s.stdout ?? '', stderr: s.stderr ?? '', notFound: s.notFound }
  }) as Runner & { calls: string[] }
  run.calls = calls
  return run
}

const G = 1024 ** 3
const quotaOut = (
  dev: string,
  used: string,
  soft: string,
  hard: string,
) => `Disk quotas for user alice (uid 1000): 
   Filesystem   space   quota   limit   grace   files   quota   limit   grace
${dev.padStart(15)} ${used.padStart(7)} ${soft.padStart(7)} ${hard.padStart(7)}            101k       0       0
`
const dfLine = (dev: string, type: string, mount: string) =>
  `Filesystem     Type     1-blocks        Used   Available Capacity Mounted on\n${dev} ${type} 107374182400 53687091200 53687091200 50% ${mount}\n`

describe('df', () => {
  it('reads -P -T output, mount points with spaces, and without -T', () => {
    expect(parseDf(dfLine('/dev/sda1', 'ext4', '/home/my disk'), '/home/my disk/x').info).toEqual({
      filesystem: '/dev/sda1',
      type: 'ext4',
      size: 107374182400,
      used: 53687091200,
      available: 53687091200,
      mountpoint: '/home/my disk',
      path: '/home/my disk/x',
    })
    const plain = 'Filesystem 1-blocks Used Available Capacity Mounted on\nsrv:/export 100 40 60 40% /home\n'
    expect(parseDf(plain, '/home').info).toMatchObject({
      filesystem: 'srv:/export',
      size: 100,
      mountpoint: '/home',
    })
    expect(parseDf(plain, '/home').info?.type).toBeUndefined()
  })

  it('never guesses from output it does not know', () => {
    expect(parseDf('something else\n', '/x')).toEqual({ warnings: ['df: unexpected output: something else'] })
    expect(
      parseDf('Filesystem Type 1-blocks Used Available Capacity Mounted on\n/dev/x ext4 lots 1 2 3% /\n', '/')
        .warnings,
    ).toEqual(['df: cannot read the line: /dev/x ext4 lots 1 2 3% /'])
  })
})

describe('sizes', () => {
  it('reads tool sizes as binary units, bare numbers in the given unit, nothing else', () => {
    expect(parseToolSize('9228M')).toBe(9228 * 1024 ** 2)
    expect(parseToolSize('0k')).toBe(0)
    expect(parseToolSize('1.5G')).toBe(1.5 * G)
    expect(parseToolSize('100')).toBe(102400)
    expect(parseToolSize('100', 1)).toBe(100)
    expect(parseToolSize('4295m')).toBeUndefined() // inode counts (decimal m) are not sizes
    expect(parseToolSize('-')).toBeUndefined()
  })

  it('reads config sizes and refuses others', () => {
    expect(parseSizeSetting('50G')).toBe(50 * G)
    expect(parseSizeSetting('50 GiB')).toBe(50 * G)
    expect(parseSizeSetting('512m')).toBe(512 * 1024 ** 2)
    expect(parseSizeSetting(1000)).toBe(1000)
    expect(() => parseSizeSetting('fifty', 'quota.limit')).toThrow(/quota.limit "fifty" is not a size/)
  })
})

describe('du and env', () => {
  it('reads du -s -B1', () => {
    expect(parseDu('123456\t/home/a/.local/share/containers/storage\n')).toBe(123456)
    expect(parseDu('du: cannot read\n')).toBeUndefined()
  })
  it('keeps only the variables storage resolution reads', () => {
    expect(parseEnv('HOME=/home/a\nPATH=/bin\nXDG_DATA_HOME=/d=x\nCONTAINERS_STORAGE_CONF=/c\n')).toEqual({
      HOME: '/home/a',
      XDG_DATA_HOME: '/d=x',
      CONTAINERS_STORAGE_CONF: '/c',
    })
  })
})

describe('the limit source', () => {
  const df = {
    filesystem: '/dev/sda1',
    type: 'ext4',
    size: 100 * G,
    used: 50 * G,
    available: 50 * G,
    mountpoint: '/home',
    path: '/home/a',
  }

  it('picks the tool by filesystem type', () => {
    expect(toolsFor('lustre')).toEqual(['lfs', 'quota'])
    expect(toolsFor('gpfs')).toEqual(['mmlsquota', 'quota'])
    expect(toolsFor('xfs')).toEqual(['xfs_quota', 'quota'])
    expect(toolsFor('ext4')).toEqual(['quota'])
    expect(toolsFor(undefined)).toEqual(['quota'])
  })

  it("uses quota's entry for graphroot's filesystem only", async () => {
    const run = scripted({
      'quota -v -s': {
        exitCode: 0,
        stdout:
          quotaOut('/dev/sdb1', '1G', '2G', '3G') +
          quotaOut('/dev/sda1', '40G', '45G', '50G').split('\n').slice(2).join('\n'),
      },
    })
    const r = await probeLimit(run, { df, uid: 1000, self: true })
    expect(r.limit).toMatchObject({
      source: 'quota',
      filesystem: '/dev/sda1',
      used: 40 * G,
      soft: 45 * G,
      hard: 50 * G,
    })
    expect(run.calls).toEqual(['quota -v -s'])
  })

  it("asks quota about another user with -u, and says so when no entry is graphroot's", async () => {
    const run = scripted({
      'quota -v -s -u 1001': { exitCode: 0, stdout: quotaOut('/dev/sdb1', '1G', '2G', '3G') },
    })
    const r = await probeLimit(run, { df, uid: 1001, self: false })
    expect(r.limit).toEqual({ source: 'none' })
    expect(r.warnings).toEqual(["quota lists /dev/sdb1 but not graphroot's filesystem /dev/sda1 (/home)"])
  })

  it('falls back to the config limit, measured against the graphroot usage', async () => {
    const run = scripted({ 'quota -v -s': { exitCode: 1, stdout: '' } })
    const r = await probeLimit(run, { df, uid: 1000, self: true, configLimit: 50 * G, usage: 10 * G })
    expect(r.limit).toEqual({ source: 'config', hard: 50 * G, used: 10 * G, overQuota: false })
    expect(r.warnings).toEqual([])
  })

  it('measures the graphroot usage (a function) only when the config limit applies', async () => {
    let walks = 0
    const usage = async () => {
      walks++
      return 60 * G
    }
    const none = scripted({ 'quota -v -s': { exitCode: 1, stdout: '' } })
    const r = await probeLimit(none, { df, uid: 1000, self: true, configLimit: 50 * G, usage })
    expect(r.limit).toEqual({ source: 'config', hard: 50 * G, used: 60 * G, overQuota: true })
    expect(walks).toBe(1)
    const tool = scripted({
      'quota -v -s': { exitCode: 0, stdout: quotaOut('/dev/sda1', '40G', '45G', '50G') },
    })
    const t = await probeLimit(tool, { df, uid: 1000, self: true, configLimit: 50 * G, usage })
    expect(t.limit.source).toBe('quota')
    expect(walks).toBe(1)
  })

  it('an unlimited quota entry gives way to a config limit, and is kept without one', async () => {
    const run = scripted({ 'quota -v -s': { exitCode: 0, stdout: quotaOut('/dev/sda1', '1G', '0K', '0K') } })
    expect(
      (await probeLimit(run, { df, uid: 1000, self: true, configLimit: G, usage: 5 })).limit.source,
    ).toBe('config')
    const kept = (await probeLimit(run, { df, uid: 1000, self: true })).limit
    expect(kept).toMatchObject({ source: 'quota', used: G })
    expect(kept.hard).toBeUndefined()
  })

  it('Lustre: lfs quota -u UID MOUNT, and quota -vs when lfs is missing', async () => {
    const lustre = { ...df, filesystem: '10.0.0.1@tcp:/scratch', type: 'lustre', mountpoint: '/scratch' }
    const run = scripted({
      'lfs quota -u 1000 /scratch': {
        stdout: `Disk quotas for usr alice (uid 1000):
     Filesystem  kbytes   quota   limit   grace   files   quota   limit   grace
       /scratch  1048576       0 2097152       -      10       0       0       -
`,
      },
    })
    expect((await probeLimit(run, { df: lustre, uid: 1000, self: true })).limit).toMatchObject({
      source: 'lfs',
      hard: 2 * G,
      used: G,
    })
    const none = scripted({})
    expect((await probeLimit(none, { df: lustre, uid: 1000, self: true })).limit).toEqual({ source: 'none' })
    expect(none.calls).toEqual(['lfs quota -u 1000 /scratch', 'quota -v -s'])
  })

  it('XFS: xfs_quota -c "quota -v -N -b -u UID" MOUNT', async () => {
    const xfs = { ...df, type: 'xfs' }
    const run = scripted({
      'xfs_quota -c quota -v -N -b -u 1000 /home': {
        stdout: '/dev/sda1  1048576  0  2097152   00 [--------] /home\n',
      },
    })
    expect((await probeLimit(run, { df: xfs, uid: 1000, self: true })).limit).toMatchObject({
      source: 'xfs_quota',
      hard: 2 * G,
    })
  })

  it('GPFS: the tightest of several rows for the filesystem', async () => {
    const gpfs = { ...df, filesystem: 'gpfs1', type: 'gpfs', mountpoint: '/gpfs' }
    const run = scripted({
      mmlsquota: {
        stdout: `                         Block Limits                                    |     File Limits
Filesystem Fileset    type             KB      quota      limit   in_doubt    grace |    files   quota    limit in_doubt    grace  Remarks
gpfs1      root       USR         1048576          0   10485760          0     none |   1       0        0        0     none
gpfs1      home       FILESET     1048576          0    2097152          0     none |   1       0        0        0     none
gpfs2      root       USR         1048576          0       1024          0     none |   1       0        0        0     none
`,
      },
    })
    expect((await probeLimit(run, { df: gpfs, uid: 1000, self: true })).limit).toMatchObject({
      source: 'mmlsquota',
      hard: 2 * G,
      filesystem: 'gpfs1',
    })
  })
})

describe('probeNode', () => {
  it('reports a node that does not answer as unreachable, not as an error thrown', async () => {
    const run: Runner = async () => ({
      exitCode: 255,
      stdout: '',
      stderr: 'ssh: connect to host login9 port 22: Connection refused\n',
    })
    expect(await probeNode('login9', run)).toEqual({
      node: 'login9',
      reachable: false,
      error: 'ssh: connect to host login9 port 22: Connection refused',
      warnings: [],
    })
  })

  it('goes through run only: env, storage.conf, du, df and quota', async () => {
    const run = scripted({
      'id -u': { stdout: '1000\n' },
      env: { stdout: 'HOME=/home/alice\nPATH=/bin\n' },
      cat: { exitCode: 1, stderr: 'cat: x: No such file or directory' },
      du: { stdout: '4096\t/home/alice/.local/share/containers/storage\n' },
      df: { stdout: dfLine('/dev/sda1', 'ext4', '/home') },
      'quota -v -s': { stdout: quotaOut('/dev/sda1', '40G', '45G', '50G') },
    })
    const r = await probeNode('login1', run)
    expect(r).toMatchObject({
      node: 'login1',
      reachable: true,
      storage: {
        graphroot: '/home/alice/.local/share/containers/storage',
        rootless: true,
        source: 'defaults',
      },
      usage: 4096,
      limit: { source: 'quota', hard: 50 * G, used: 40 * G },
      free: 53687091200,
      fsSize: 107374182400,
      fs: { device: '/dev/sda1', type: 'ext4', mountpoint: '/home' },
      warnings: [],
    })
    expect(run.calls).toContain('du -s -B1 -x -D /home/alice/.local/share/containers/storage')
    expect(run.calls).toContain('df -B1 -P -T /home/alice/.local/share/containers/storage')
  })

  it('measures df at the nearest existing parent of a graphroot not made yet', async () => {
    const run = scripted({
      'id -u': { stdout: '0\n' },
      cat: { exitCode: 1, stderr: 'cat: x: No such file or directory' },
      'du -s -B1 -x -D /var/lib/containers/storage': {
        exitCode: 1,
        stderr: "du: cannot access '/var/lib/containers/storage': No such file or directory",
      },
      'df -B1 -P -T /var/lib/containers/storage': {
        exitCode: 1,
        stderr: 'df: /var/lib/containers/storage: No such file or directory',
      },
      'df -B1 -P -T /var/lib/containers': {
        exitCode: 1,
        stderr: 'df: /var/lib/containers: No such file or directory',
      },
      'df -B1 -P -T /var/lib': { stdout: dfLine('/dev/sda1', 'ext4', '/') },
      quota: { exitCode: 1 },
    })
    const r = await probeNode('local', run, { env: { HOME: '/root' } })
    expect(r).toMatchObject({ usage: 0, free: 53687091200, limit: { source: 'none' }, warnings: [] })
  })
})
