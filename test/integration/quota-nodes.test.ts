/**
 * `airlock quota` over several nodes: real `sshd` instances on 127.0.0.1 (test/helpers/sshd.ts), each
 * with its own environment (CONTAINERS_STORAGE_CONF naming its own graphroot, its own PATH), plus one
 * node that is down. Node a has a `quota` on PATH that prints `quota -vs` output for the filesystem
 * its graphroot is on; node b has none, so airlock's config limit applies. Harbor's project quota
 * comes from the Harbor stand-in (test/helpers/harbor.ts: Harbor cannot run here).
 * The CLI runs dist/ (`npm run build` first).
 */
import { chmod, mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises'
import { createServer, connect as tcpConnect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { harborQuotaSection } from '../../src/lib/quota/harbor-quota.js'
import { quotaReport } from '../../src/lib/quota/report.js'
import { sshQuotaNodes, sshRunner } from '../../src/lib/quota/ssh-runner.js'
import { closeAgents } from '../../src/lib/transports/registry/agent-pool.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { type HarborStandIn, startHarborStandIn } from '../helpers/harbor.js'
import { makeImage, pushRaw } from '../helpers/images.js'
import { type SshCluster, startSshCluster } from '../helpers/sshd.js'

const MiB = 1024 * 1024
const ADMIN = { username: 'admin', password: 'Harbor12345' }

let cluster: SshCluster
let harbor: HarborStandIn
let device: string
let localConf: string

interface NodeJson {
  node: string
  reachable: boolean
  error?: string
  storage?: { graphroot: string; driver: string; source: string }
  usage?: number
  limit?: { source: string; hard?: number; used?: number; filesystem?: string }
  free?: number
  assessment: { status: string; percent?: number; basis: string }
}

/** A node's graphroot with `bytes` of file data, and the storage.conf naming it. */
async function nodeStorage(dir: string, bytes: number): Promise<{ conf: string; graphroot: string }> {
  const graphroot = join(dir, 'graphroot')
  await mkdir(join(graphroot, 'vfs', 'dir', 'layer1'), { recursive: true })
  await writeFile(join(graphroot, 'vfs', 'dir', 'layer1', 'data.bin'), Buffer.alloc(bytes, 7))
  const conf = join(dir, 'storage.conf')
  await writeFile(
    conf,
    `[storage]\ndriver = "vfs"\ngraphroot = "${graphroot}"\nrunroot = "${join(dir, 'run')}"\n`,
  )
  return { conf, graphroot }
}

function quotaScript(fs: string): string {
  return [
    '#!/bin/sh',
    "cat <<'EOF'",
    'Disk quotas for user root (uid 0):',
    '     Filesystem   space   quota   limit   grace   files   quota   limit   grace',
    fs,
    '                  9228M  51200M  51200M            101k   4295m   4295m',
    'EOF',
    '',
  ].join('\n')
}

beforeAll(async () => {
  const df = await execa('df', ['-P', '/tmp'])
  device = df.stdout.trim().split('\n')[1]!.split(/\s+/)[0]!
  cluster = await startSshCluster([
    {
      name: 'login-a',
      setup: async (dir) => {
        const s = await nodeStorage(dir, 3 * MiB)
        // A quota tool on PATH printing a wrapped `quota -vs` line for graphroot's filesystem.
        const bin = join(dir, 'bin')
        await mkdir(bin, { recursive: true })
        await writeFile(join(bin, 'quota'), quotaScript(device))
        await chmod(join(bin, 'quota'), 0o755)
        return { CONTAINERS_STORAGE_CONF: s.conf, PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` }
      },
    },
    {
      name: 'login-b',
      setup: async (dir) => {
        const s = await nodeStorage(dir, 1 * MiB)
        return { CONTAINERS_STORAGE_CONF: s.conf, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }
      },
    },
    { name: 'login-down', down: true },
  ])

  localConf = (await nodeStorage(await mkdtemp(join(cluster.dir, 'local-')), 4096)).conf
  harbor = await startHarborStandIn({
    users: { admin: ADMIN.password },
    projects: [{ name: 'chem', storageLimit: 10 * MiB }],
  })
  const img = await makeImage({ layerSizes: [300_000], seed: 701 })
  await pushRaw(harbor.asRegistry(), 'chem/tool', '1', img)
}, 120_000)

afterAll(async () => {
  await closeAgents()
  await cluster?.stop()
  await harbor?.stop()
})

/** The CLI's own (local) node gets a small storage of its own, should the command probe it too. */
function localEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return isolatedEnv({ CONTAINERS_STORAGE_CONF: localConf, ...extra })
}

const sshOpts = () => ({ configFile: cluster.configFile, connectTimeoutSec: 3 })

/**
 * A TCP proxy on 127.0.0.1 in front of a node's sshd, counting connections; ssh reaches the node
 * through it (its host key checked under the node's real name, HostKeyAlias).
 */
async function countingProxy(port: number) {
  const stats = { opened: 0, open: 0 }
  const server = createServer((client) => {
    stats.opened++
    stats.open++
    const upstream = tcpConnect(port, '127.0.0.1')
    client.pipe(upstream).pipe(client)
    const done = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', done).on('close', done)
    upstream.on('error', done).on('close', done)
    client.once('close', () => stats.open--)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    stats,
    node: `root@127.0.0.1:${(server.address() as { port: number }).port}`,
    sshOptions: {
      identityFile: cluster.identityFile,
      knownHostsFile: cluster.knownHostsFile,
      strictHostKeyChecking: 'yes' as const,
      extraArgs: [
        '-F',
        '/dev/null',
        '-o',
        'GlobalKnownHostsFile=/dev/null',
        '-o',
        `HostKeyAlias=[127.0.0.1]:${port}`,
      ],
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await sleep(50))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
}

describe('nodes over ssh (library)', () => {
  it('runs argv on a node exactly, quoting included', async () => {
    const controlDir = await mkdtemp(join(cluster.dir, 'ctl-'))
    const run = sshRunner('login-a', { ...sshOpts(), controlDir })
    const r = await run([
      'sh',
      '-c',
      'printf "%s|" "$0" "$1" "$CONTAINERS_STORAGE_CONF"',
      "it's",
      'a b;$HOME',
    ])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toBe(`it's|a b;$HOME|${join(cluster.nodes.get('login-a')!.dir, 'storage.conf')}|`)
    const missing = await run(['no-such-tool-here'])
    expect(missing.exitCode).toBe(127)
    expect(missing.notFound).toBe(true)
    // The shared connection's socket is in a private directory of the runner, gone once closed.
    const [own] = await readdir(controlDir)
    expect(((await stat(join(controlDir, own!))).mode & 0o777).toString(8)).toBe('700')
    expect((await stat(join(controlDir, own!, 'ctl'))).isSocket()).toBe(true)
    await run.close()
    expect(await readdir(controlDir)).toEqual([])
  })

  it('one ssh connection serves every command of a node; none is left open or behind', async () => {
    const proxy = await countingProxy(cluster.nodes.get('login-a')!.port)
    const controlDir = await mkdtemp(join(cluster.dir, 'ctl-'))
    try {
      const report = await quotaReport({
        nodes: sshQuotaNodes([proxy.node], { ...proxy.sshOptions, controlDir }),
        configLimit: 2 * MiB,
      })
      const [a] = report.nodes
      expect(a?.error).toBeUndefined()
      expect(a?.storage?.graphroot).toBe(join(cluster.nodes.get('login-a')!.dir, 'graphroot'))
      expect(a?.limit).toMatchObject({ source: 'quota', hard: 51200 * MiB })
      expect(a?.usage).toBeGreaterThanOrEqual(3 * MiB)
      // id, env, storage.conf, du, df, quota …: one connection (one login) for all of them.
      expect(proxy.stats.opened).toBe(1)
      // The master was told to exit when the node was done: its connection is closed, its socket gone.
      await until('the shared connection to close', () => proxy.stats.open === 0)
      expect(await readdir(controlDir)).toEqual([])
    } finally {
      await proxy.close()
    }
  })

  it('a node that is down is an UNREACHABLE error naming it, quickly', async () => {
    const controlDir = await mkdtemp(join(cluster.dir, 'ctl-'))
    const run = sshRunner('login-down', { ...sshOpts(), controlDir })
    const started = Date.now()
    await expect(run(['id', '-u'])).rejects.toMatchObject({
      code: 'UNREACHABLE',
      message: /login-down: .*refused/i,
    })
    expect(Date.now() - started).toBeLessThan(10_000)
    await run.close()
    expect(await readdir(controlDir)).toEqual([])
  })

  it('an unknown host key fails closed in BatchMode, with a hint', async () => {
    const a = cluster.nodes.get('login-a')!
    const run = sshRunner(`root@127.0.0.1:${a.port}`, {
      identityFile: cluster.identityFile,
      knownHostsFile: join(cluster.dir, 'empty_known_hosts'),
      strictHostKeyChecking: 'yes',
      extraArgs: ['-o', 'GlobalKnownHostsFile=/dev/null', '-F', '/dev/null'],
    })
    await expect(run(['true'])).rejects.toMatchObject({
      code: 'UNREACHABLE',
      message: /Host key verification failed/,
      hint: /host key/,
    })
    await run.close()
  })

  it('quotaReport probes every node in parallel; the down one is reported, not fatal', async () => {
    const report = await quotaReport({
      nodes: sshQuotaNodes(['login-a', 'login-b', 'login-down'], sshOpts()),
      configLimit: 2 * MiB,
    })
    const [a, b, down] = report.nodes
    expect(a?.reachable).toBe(true)
    expect(a?.storage?.graphroot).toBe(join(cluster.nodes.get('login-a')!.dir, 'graphroot'))
    expect(a?.limit).toMatchObject({ source: 'quota', hard: 51200 * MiB, used: 9228 * MiB })
    expect(a?.assessment.percent).toBeCloseTo(18, 0)
    expect(b?.limit).toMatchObject({ source: 'config', hard: 2 * MiB })
    expect(b?.usage).toBeGreaterThanOrEqual(1 * MiB)
    expect(b?.assessment.percent).toBeGreaterThanOrEqual(50)
    expect(b?.assessment.percent).toBeLessThan(60)
    expect(down).toMatchObject({ node: 'login-down', reachable: false })
    expect(down?.error).toMatch(/refused/i)
    expect(report.exitCode).toBe(0)
  })
})

describe('airlock quota --node (CLI)', () => {
  const config = async (extra = '') => {
    const file = join(cluster.dir, `airlock-${Math.random().toString(36).slice(2)}.yaml`)
    await writeFile(file, `quota:\n  limit: 2M\n  ssh:\n    configFile: ${cluster.configFile}\n${extra}`)
    return file
  }
  const airlock = (args: string[]) => runCli(args, { env: localEnv(), timeoutMs: 90_000 })
  const airlockIn = (tmp: string, args: string[]) =>
    runCli(args, { env: localEnv({ TMPDIR: tmp }), timeoutMs: 90_000 })

  it('shows each node: usage, limit, percent; the down node does not fail the run', async () => {
    const tmp = await mkdtemp(join(cluster.dir, 'tmp-'))
    const r = await airlockIn(tmp, [
      'quota',
      '--config',
      await config(),
      '--node',
      'login-a',
      '--node',
      'login-b',
      '--node',
      'login-down',
      '--json',
    ])
    expect(r.code, r.stderr).toBe(0)
    const nodes = json<{ nodes: NodeJson[] }>(r).nodes
    const byName = new Map(nodes.map((n) => [n.node, n]))
    expect(byName.get('login-a')?.limit).toMatchObject({ source: 'quota', hard: 51200 * MiB })
    expect(byName.get('login-a')?.assessment.percent).toBeCloseTo(18, 0)
    expect(byName.get('login-b')?.limit).toMatchObject({ source: 'config', hard: 2 * MiB })
    expect(byName.get('login-b')?.usage).toBeGreaterThanOrEqual(1 * MiB)
    expect(byName.get('login-down')).toMatchObject({
      reachable: false,
      error: expect.stringMatching(/refused/i),
    })
    // No control socket (nor its directory) is left in TMPDIR.
    expect(await readdir(tmp)).toEqual([])
  })

  it('--fail below a node’s percent exits 4; nodes can come from the config file', async () => {
    const r = await airlock([
      'quota',
      '--config',
      await config('  nodes: [login-a, login-b, login-down]\n'),
      '--fail',
      '40',
      '--warn',
      '30',
      '--json',
    ])
    expect(r.code, r.stderr).toBe(4)
    const nodes = json<{ nodes: NodeJson[] }>(r).nodes
    expect(nodes.find((n) => n.node === 'login-b')?.assessment.status).toBe('fail')
    expect(nodes.find((n) => n.node === 'login-a')?.assessment.status).toBe('ok')
  })
})

describe('Harbor project quota (stand-in)', () => {
  it('harborQuotaSection reads hard and used from the project summary', async () => {
    const s = await harborQuotaSection({ url: harbor.url, project: 'chem', credentials: ADMIN })
    expect(s.hard).toBe(10 * MiB)
    expect(s.used).toBeGreaterThan(300_000)
    const missing = await harborQuotaSection({ url: harbor.url, project: 'nope', credentials: ADMIN })
    expect(missing.error).toMatch(/nope/)
  })

  const authFile = async () => {
    const auth = join(cluster.dir, 'auth.json')
    const token = Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')
    await writeFile(auth, JSON.stringify({ auths: { [harbor.host]: { auth: token } } }))
    return auth
  }

  it('airlock quota --harbor URL --project P --json shows hard and used', async () => {
    const auth = await authFile()
    const r = await runCli(['quota', '--harbor', harbor.url, '--project', 'chem', '--json'], {
      env: localEnv({ REGISTRY_AUTH_FILE: auth }),
      timeoutMs: 60_000,
    })
    expect(r.code, r.stderr).toBe(0)
    const h = json<{ harbor: { project: string; hard: number; used: number } }>(r).harbor
    expect(h).toMatchObject({ project: 'chem', hard: 10 * MiB })
    expect(h.used).toBeGreaterThan(300_000)
  })

  it('names a group written with capitals as Harbor does (--project Chem is project chem)', async () => {
    const s = await harborQuotaSection({ url: harbor.url, project: 'Chem', credentials: ADMIN })
    expect(s).toMatchObject({ project: 'chem', hard: 10 * MiB })
    const r = await runCli(['quota', '--harbor', harbor.url, '--project', 'Chem'], {
      env: localEnv({ REGISTRY_AUTH_FILE: await authFile() }),
      timeoutMs: 60_000,
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`harbor ${harbor.url} project chem:`)
    expect(r.stdout).not.toContain('project Chem')
  })
})
