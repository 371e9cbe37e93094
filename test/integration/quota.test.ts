/**
 * `airlock quota` on real storage: usage walks over real temporary graphroots (files with hard links,
 * and a podman vfs store with imported images) checked against `du`, storage.conf resolution with real
 * files and environments, a config limit, --warn/--fail exit codes and the --json shape.
 *
 * One stand-in: no filesystem here has quotas switched on (the container cannot mount one), so the
 * `quota` tests put a stand-in `quota` executable first on PATH that checks its arguments and prints
 * quota-tools' `-vs` layout for graphroot's real device (see writeQuotaStandIn).
 */
import { randomBytes } from 'node:crypto'
import { chmod, link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localRunner, probeNode } from '../../src/lib/quota/probe.js'
import { measureUsage } from '../../src/lib/quota/usage.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { makePodman, type Podman } from '../helpers/podman.js'

const MiB = 1024 * 1024

async function du(dir: string): Promise<number> {
  const r = await execa('du', ['-s', '-B1', '-x', dir])
  return Number(r.stdout.split('\t')[0])
}

let work: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-quota-'))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

/** A tree with a 1 MiB file hard-linked twice more, other files, a symlink and empty directories. */
async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub/deep/deeper'), { recursive: true })
  await mkdir(join(dir, 'empty'))
  await writeFile(join(dir, 'a'), randomBytes(MiB))
  await link(join(dir, 'a'), join(dir, 'sub/a-again'))
  await link(join(dir, 'a'), join(dir, 'sub/deep/a-third'))
  await writeFile(join(dir, 'c'), randomBytes(300 * 1024))
  await writeFile(join(dir, 'sub/deep/deeper/d'), 'x')
  await symlink('/etc', join(dir, 'to-etc'))
  for (let i = 0; i < 200; i++) await writeFile(join(dir, `sub/f${i}`), randomBytes(i * 97))
}

describe('usage', () => {
  it('counts hard links once and agrees with du', async () => {
    const dir = join(work, 'tree')
    await makeTree(dir)
    const r = await measureUsage(dir)
    expect(r.warnings).toEqual([])
    expect(r.bytes).toBe(await du(dir))
    // The 1 MiB file is there once, not three times: dropping the two extra links changes nothing.
    expect(r.bytes).toBeGreaterThan(MiB + 300 * 1024)
    await rm(join(dir, 'sub/a-again'))
    await rm(join(dir, 'sub/deep/a-third'))
    expect((await measureUsage(dir)).bytes).toBe(r.bytes)
    await link(join(dir, 'a'), join(dir, 'sub/a-again'))
    await link(join(dir, 'a'), join(dir, 'sub/deep/a-third'))
    expect(r.entries).toBe(1 + 4 + 3 + 2 + 1 + 200) // root, 4 dirs, 3 files, 2 links, a symlink, 200 files
  })

  it('the in-process fallback and one thread give the same number', async () => {
    const dir = join(work, 'tree')
    const expected = await du(dir)
    expect((await measureUsage(dir, { inProcess: true })).bytes).toBe(expected)
    expect((await measureUsage(dir, { threads: 1 })).bytes).toBe(expected)
  })

  it('a graphroot not made yet holds 0 bytes', async () => {
    expect(await measureUsage(join(work, 'nothing-here'))).toMatchObject({ bytes: 0, missing: true })
  })
})

describe('a podman store', () => {
  let p: Podman
  beforeAll(async () => {
    p = await makePodman()
    const layer = join(p.dir, 'rootfs.tar')
    const src = join(p.dir, 'rootfs')
    await mkdir(join(src, 'data'), { recursive: true })
    await writeFile(join(src, 'data/blob'), randomBytes(3 * MiB))
    await execa('tar', ['-C', src, '-cf', layer, '.'])
    await p.run(['import', layer, 'localhost/quota/one:1'])
    await p.run(['import', layer, 'localhost/quota/two:1'])
  }, 120_000)
  afterAll(async () => {
    await p?.cleanup()
  })

  it('finds the store through CONTAINERS_STORAGE_CONF and measures it as du does', async () => {
    const env = p.env as Record<string, string>
    const r = await probeNode('local', localRunner(p.env), { env, localWalk: true })
    expect(r.reachable).toBe(true)
    expect(r.storage).toEqual({
      driver: 'vfs',
      graphroot: p.root,
      runroot: p.runroot,
      rootless: false,
      source: p.storageConf,
    })
    expect(r.usage).toBe(await du(p.root))
    expect(r.usage).toBeGreaterThan(3 * MiB)
    // The same probe with du through the runner (as over ssh) gives the same number.
    const viaDu = await probeNode('local', localRunner(p.env), { env })
    expect(viaDu.usage).toBe(r.usage)
    expect(r.free).toBeGreaterThan(0)
    expect(r.fsSize).toBeGreaterThan(r.free as number)
  })

  it('airlock quota --json', async () => {
    const res = await runCli(['quota', '--json'], {
      env: isolatedEnv({ CONTAINERS_STORAGE_CONF: p.storageConf }),
    })
    expect(res.code, res.stderr).toBe(0)
    const doc = json<Record<string, unknown>>(res)
    expect(doc).toMatchObject({
      thresholds: { warn: 80, fail: 95 },
      status: expect.stringMatching(/^(ok|warn|fail)$/),
      nodes: [
        {
          node: 'local',
          reachable: true,
          storage: { driver: 'vfs', graphroot: p.root, source: p.storageConf },
          usage: await du(p.root),
          limit: { source: 'none' },
          free: expect.any(Number),
          fsSize: expect.any(Number),
          fs: { device: expect.any(String), mountpoint: expect.any(String) },
          warnings: [],
          assessment: { basis: 'filesystem', percent: expect.any(Number), remaining: expect.any(Number) },
        },
      ],
    })
    expect(res.stderr).not.toMatch(/Error/)
  })
})

describe('storage.conf resolution with real files', () => {
  it('rootless: $XDG_CONFIG_HOME, then ~/.config; $HOME and $UID expanded', async () => {
    const home = join(work, 'home-alice')
    await mkdir(join(home, '.config/containers'), { recursive: true })
    await writeFile(
      join(home, '.config/containers/storage.conf'),
      '[storage]\ndriver = "overlay"\ngraphroot = "$HOME/images-$UID"\n',
    )
    const r = await probeNode('local', localRunner(), { env: { HOME: home }, uid: 1000, localWalk: true })
    expect(r.storage).toMatchObject({
      driver: 'overlay',
      graphroot: join(home, 'images-1000'),
      rootless: true,
      source: join(home, '.config/containers/storage.conf'),
    })
    expect(r.usage).toBe(0)

    const xdg = join(work, 'xdg')
    await mkdir(join(xdg, 'containers'), { recursive: true })
    await writeFile(
      join(xdg, 'containers/storage.conf'),
      `[storage]\ndriver = "vfs"\ngraphroot = "${work}/tree"\n`,
    )
    const x = await probeNode('local', localRunner(), {
      env: { HOME: home, XDG_CONFIG_HOME: xdg },
      uid: 1000,
      localWalk: true,
    })
    expect(x.storage).toMatchObject({
      driver: 'vfs',
      graphroot: join(work, 'tree'),
      source: join(xdg, 'containers/storage.conf'),
    })
    expect(x.usage).toBe(await du(join(work, 'tree')))
  })

  it('rootless without a user file: the XDG_DATA_HOME default', async () => {
    const home = join(work, 'home-bob')
    await mkdir(home)
    const r = await probeNode('local', localRunner(), {
      env: { HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: '/run/user/1001' },
      uid: 1001,
    })
    // /etc/containers/storage.conf does not exist here; /usr/share's may.
    expect(r.storage).toMatchObject({
      graphroot: join(home, 'data/containers/storage'),
      runroot: '/run/user/1001/containers',
      rootless: true,
    })
  })
})

describe('limits and thresholds (CLI)', () => {
  let graphroot: string
  let conf: string
  let bytes: number
  beforeAll(async () => {
    graphroot = join(work, 'graphroot')
    await mkdir(graphroot)
    await writeFile(join(graphroot, 'layer'), randomBytes(4 * MiB))
    conf = join(work, 'storage.conf')
    await writeFile(conf, `[storage]\ndriver = "vfs"\ngraphroot = "${graphroot}"\nrunroot = "${work}/run"\n`)
    bytes = await du(graphroot)
  })

  /** airlock config with quota.limit = bytes × 100 / percent, so usage is at `percent`. */
  async function configAt(percent: number, extra = ''): Promise<string> {
    const file = join(work, `airlock-${percent}.yaml`)
    await writeFile(file, `quota:\n  limit: ${Math.round((bytes * 100) / percent)}\n${extra}`)
    return file
  }
  const env = () => isolatedEnv({ CONTAINERS_STORAGE_CONF: conf })

  it('a config limit below the warning: exit 0, the table with a bar', async () => {
    const res = await runCli(['quota', '--config', await configAt(50)], { env: env() })
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toContain(`local: ${graphroot} (vfs; ${conf})`)
    expect(res.stdout).toMatch(/limit {3}\d+\.\d+ MiB hard \(quota\.limit in airlock config\)/)
    expect(res.stdout).toMatch(/\[#{12}-{12}\] 50\.0% of the hard limit {2}OK/)
    expect(res.stderr).toBe('')
  })

  it('--warn: exit 0 with a warning line', async () => {
    const res = await runCli(['quota', '--config', await configAt(50), '--warn', '40', '--fail', '90'], {
      env: env(),
    })
    expect(res.code, res.stderr).toBe(0)
    expect(res.stderr).toBe('Warning: local is at 50.0%; warning from 40%\n')
  })

  it('--fail: exit 4, also with --json (one document, status fail)', async () => {
    const cfg = await configAt(50)
    const res = await runCli(['quota', '--config', cfg, '--warn', '30', '--fail', '45'], { env: env() })
    expect(res.code).toBe(4)
    expect(res.stderr).toMatch(/^Error: local is at 50\.0%; the limit for failing is 45%\nHint: /)
    const j = await runCli(['quota', '--json', '--config', cfg, '--fail', '45', '--warn', '10'], {
      env: env(),
    })
    expect(j.code).toBe(4)
    expect(json(j)).toMatchObject({
      status: 'fail',
      exitCode: 4,
      thresholds: { warn: 10, fail: 45 },
      nodes: [
        {
          limit: { source: 'config', used: bytes },
          assessment: { status: 'fail', percent: 50, basis: 'hard' },
        },
      ],
    })
  })

  it('thresholds from the config file; flags win', async () => {
    const cfg = await configAt(50, '  warn: 20\n  fail: 40\n')
    expect((await runCli(['quota', '--config', cfg], { env: env() })).code).toBe(4)
    expect((await runCli(['quota', '--config', cfg, '--fail', '60'], { env: env() })).code).toBe(0)
  })

  it('--limit on the command line', async () => {
    const res = await runCli(['quota', '--json', '--limit', `${bytes * 4}`], { env: env() })
    expect(json(res)).toMatchObject({ nodes: [{ assessment: { percent: 25 } }] })
  })

  it('bad input: exit 2', async () => {
    const r1 = await runCli(['quota', '--warn', '90', '--fail', '80'], { env: env() })
    expect(r1.code).toBe(2)
    expect(r1.stderr).toContain('--warn 90 is above --fail 80')
    const bad = join(work, 'bad.yaml')
    await writeFile(bad, 'quota:\n  limit: fifty\n')
    const r2 = await runCli(['quota', '--config', bad], { env: env() })
    expect(r2.code).toBe(2)
    expect(r2.stderr).toContain('quota.limit: expected a size such as 50G or 512M')
    expect((await runCli(['quota', '--limit', 'lots'], { env: env() })).code).toBe(2)
  })

  /**
   * The stand-in `quota`: refuses arguments other than `-v -s`, prints quota-tools' -vs layout for the
   * device df names for graphroot (wrapped, as for a long NFS name), exits 1 as quota does when over.
   */
  async function writeQuotaStandIn(grace: string): Promise<string> {
    const bin = join(work, `bin-${grace}`)
    await mkdir(bin, { recursive: true })
    const script = `#!/bin/sh
# Stand-in for quota-tools' quota (no quota-enabled filesystem can be mounted in the test container).
[ "$*" = "-v -s" ] || { echo "stand-in quota: unexpected arguments: $*" >&2; exit 2; }
dev=$(df -P "${graphroot}" | awk 'NR==2 {print $1}')
echo "Disk quotas for user root (uid 0): "
echo "     Filesystem   space   quota   limit   grace   files   quota   limit   grace"
echo "elsewhere.example.org:/export/other"
echo "                    10M    100M    200M              1k       0       0"
echo "$dev"
echo "                 9228M*  9000M  10240M   ${grace}    101k   4295m   4295m"
exit 1
`
    await writeFile(join(bin, 'quota'), script)
    await chmod(join(bin, 'quota'), 0o755)
    return bin
  }

  it("quota -vs: the entry for graphroot's device, over the soft limit within grace: warning", async () => {
    const bin = await writeQuotaStandIn('6days')
    const res = await runCli(['quota', '--json'], { env: { ...env(), PATH: `${bin}:${process.env.PATH}` } })
    expect(res.code, res.stderr).toBe(0)
    expect(json(res)).toMatchObject({
      status: 'warn',
      nodes: [
        {
          limit: {
            source: 'quota',
            used: 9228 * MiB,
            soft: 9000 * MiB,
            hard: 10240 * MiB,
            grace: '6days',
            overQuota: true,
          },
          assessment: {
            status: 'warn',
            basis: 'hard',
            percent: 90.1,
            reason: 'over the soft limit, grace 6days',
          },
          warnings: [],
        },
      ],
    })
  })

  it('quota -vs: grace expired: exit 4 and the numbers on the table', async () => {
    const bin = await writeQuotaStandIn('none')
    const res = await runCli(['quota'], { env: { ...env(), PATH: `${bin}:${process.env.PATH}` } })
    expect(res.code).toBe(4)
    expect(res.stdout).toMatch(/limit {3}10\.0 GiB hard, 8\.79 GiB soft, grace none \(quota on \S+\)/)
    expect(res.stderr).toContain('Error: local is at 90.1% (over the soft limit, grace expired)')
  })
})

describe("what was not measured, and df's percentage", () => {
  it('a node where `id -u` exits with 127: status unknown, exit 1 with --fail, 0 with a warning without', async () => {
    const bin = join(work, 'bin-id-127')
    await mkdir(bin, { recursive: true })
    await writeFile(join(bin, 'id'), '#!/bin/sh\nexit 127\n')
    await chmod(join(bin, 'id'), 0o755)
    const env = isolatedEnv({ PATH: bin })
    const plain = await runCli(['quota'], { env })
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stderr).toMatch(/^Warning: could not measure: local: id -u exited with 127\nHint: /)
    const failing = await runCli(['quota', '--fail', '95'], { env })
    expect(failing.code, failing.stderr).toBe(1)
    expect(failing.stderr).toMatch(/^Error: could not measure: local: id -u exited with 127\nHint: /)
    const j = await runCli(['quota', '--json', '--fail', '95'], { env })
    expect(j.code).toBe(1)
    expect(json(j)).toMatchObject({
      status: 'unknown',
      reason: 'could not measure: local: id -u exited with 127',
      exitCode: 1,
      nodes: [{ node: 'local', assessment: { status: 'unknown' } }],
    })
  })

  it("without a limit the percentage is df's Use%: reserved blocks are neither used nor available", async () => {
    const image = join(work, 'reserved.ext4')
    const mnt = join(work, 'reserved-mnt')
    await mkdir(mnt, { recursive: true })
    await execa('truncate', ['-s', '64M', image])
    await execa('mkfs.ext4', ['-q', '-F', '-m', '50', image])
    await execa('mount', ['-o', 'loop', image, mnt])
    try {
      const graphroot = join(mnt, 'storage')
      await mkdir(graphroot)
      await writeFile(join(graphroot, 'layer'), randomBytes(8 * MiB))
      await execa('sync')
      const df = (await execa('df', ['-B1', '-P', graphroot])).stdout.split('\n')[1].split(/\s+/)
      const [size, used, avail] = [Number(df[1]), Number(df[2]), Number(df[3])]
      const dfPercent = Number(df[4].replace('%', ''))
      const res = await runCli(['quota', '--json', '--root', graphroot], { env: isolatedEnv() })
      expect(res.code, res.stderr).toBe(0)
      const a = json<{ nodes: Array<{ assessment: { percent: number; basis: string; used: number } }> }>(res)
        .nodes[0].assessment
      expect(a.basis).toBe('filesystem')
      expect(a.used).toBe(used)
      expect(a.percent).toBe(Math.round((used / (used + avail)) * 1000) / 10)
      // The same fraction as df's Use%, which df rounds up to a whole percent.
      expect(Math.ceil((used / (used + avail)) * 100)).toBe(dfPercent)
      expect(Math.abs(a.percent - dfPercent)).toBeLessThanOrEqual(1)
      // Counting the reserved half as used would say more than 50 %.
      expect(((size - avail) / size) * 100).toBeGreaterThan(50)
      expect(a.percent).toBeLessThan(50)
    } finally {
      await execa('umount', [mnt])
    }
  })
})
