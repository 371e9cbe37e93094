/**
 * Commands other than `sif build` interrupted half way through the built CLI (sif-interrupt.test.ts
 * has that one): `copy` into docker-archive: and oci-archive:, and `pull` into podman (vfs storage in
 * temporary roots), from a real registry behind a proxy that stalls the big layer's download, so the
 * interrupt always lands mid-copy with the archive's .tmp file or the staging directory there. The
 * signal is a Ctrl-C typed into a pseudo-terminal (util-linux `script`), or SIGINT/SIGTERM/SIGHUP sent
 * to the process group without a terminal. Each time: exit 1, "interrupted" said, nothing left next
 * to the output nor in the private TMPDIR, the cursor shown again if it was hidden, no child left.
 * Also `download` from Ceph RGW (test/helpers/s3.ts) through a pass-through that slows it down (no
 * partial file, no .part file next to the output), `bundle push` into a registry whose blob uploads
 * never get an answer (no tag at the target) and `bundle load` into podman (no image named).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { writeLegacyDockerArchive } from '../helpers/archives.js'
import { BIN, isolatedEnv } from '../helpers/cli.js'
import { type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { registryRequest, startRegistry, type TestRegistry } from '../helpers/registry.js'
import { startS3, type TestS3 } from '../helpers/s3.js'

/** The built CLI; AIRLOCK_TEST_BIN runs another build (e.g. one before a change, to see a test fail). */
const CLI = process.env.AIRLOCK_TEST_BIN ?? BIN

type Sig = 'SIGINT' | 'SIGTERM' | 'SIGHUP'

let dir: string
let reg: TestRegistry
let proxy: TestProxy
let podman: Podman
let image: GeneratedImage
let s3: TestS3
let slowS3: { endpoint: string; close(): void }
const started: ChildProcess[] = []
/** When the proxy left a blob upload of `bundle push` hanging. */
const hung: number[] = []
const BUCKET = 'airlock-interrupt'
/** Bundles of one image each with a 40 MB layer: `bundle load` cases (one image each), `bundle push`. */
const BUNDLED = ['bload-SIGTERM', 'bload-tty']
const bundleOf = (name: string) => join(dir, `${name}.tar`)

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-cli-interrupt-'))
  ;[reg, podman, s3] = await Promise.all([startRegistry(), makePodman(), startS3()])
  // For `download`: 48 MiB behind a TCP pass-through that sends RGW's answers at 4 MB/s.
  await s3.createBucket(BUCKET)
  const big = randomBytes(48 * 1024 * 1024)
  const sha256 = createHash('sha256').update(big).digest('hex')
  await s3
    .client()
    .send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big.bin', Body: big, Metadata: { sha256 } }))
  slowS3 = await slowDownloads(s3.endpoint, 4_000_000)
  // A small layer that arrives and a big one whose download stalls after its first KiB.
  image = await makeImage({ layerSizes: [200_000, 8_000_000], seed: 1616 })
  await pushRaw(reg, 'big/app', '1', image)
  // In podman for `save`: a 120 MB layer that `podman push --compress` takes seconds to write out.
  await pushRaw(
    reg,
    'big/save',
    '1',
    await makeImage({ layerSizes: [120_000_000], compress: false, seed: 1617 }),
  )
  await podman.run(['pull', '-q', '--tls-verify=false', `${reg.host}/big/save:1`])
  // For `load` of a docker-archive, interrupted while podman reads the staged image in.
  const archived = await makeImage({ layerSizes: [40_000_000], compress: false, seed: 1630 })
  await writeLegacyDockerArchive(join(dir, 'archive.tar'), [{ image: archived, repoTags: ['archived:1'] }])
  // For `pull` interrupted while podman itself reads the staged image in: one image per case.
  for (const [i, name] of ['load-SIGINT', 'load-SIGTERM', 'load-tty'].entries())
    await pushRaw(
      reg,
      `big/${name.toLowerCase()}`,
      '1',
      await makeImage({ layerSizes: [40_000_000], compress: false, seed: 1620 + i }),
    )
  // For `bundle load` and `bundle push`: bundles written from the registry directly.
  for (const [i, name] of BUNDLED.entries()) {
    await pushRaw(
      reg,
      `big/${name.toLowerCase()}`,
      '1',
      await makeImage({ layerSizes: [40_000_000], compress: false, seed: 1640 + i }),
    )
    execFileSync(
      process.execPath,
      [
        CLI,
        'bundle',
        'create',
        '-q',
        '--tls-verify=false',
        '-o',
        bundleOf(name),
        `${reg.host}/big/${name.toLowerCase()}:1`,
      ],
      { env: isolatedEnv({}), stdio: 'pipe' },
    )
  }
  const stalled = image.layers[1].digest
  proxy = await startProxy(reg.host, (req) => {
    if (req.method === 'GET' && req.url?.includes(stalled)) return { action: 'stall' }
    // `bundle push` into pushed/...: an upload of a blob's bytes never gets an answer.
    const length = Number(req.headers['content-length'] ?? Number.POSITIVE_INFINITY)
    if (req.url?.startsWith('/v2/pushed/') && req.url.includes('/blobs/uploads/') && length > 100_000) {
      if (req.method === 'PATCH' || req.method === 'PUT' || req.method === 'POST') {
        hung.push(Date.now())
        return { action: 'hang' }
      }
    }
    return undefined
  })
}, 240_000)

/** A TCP pass-through to S3 that sends the server's bytes at `bytesPerSecond` (SigV4 keeps its Host). */
async function slowDownloads(endpoint: string, bytesPerSecond: number) {
  const target = new URL(endpoint)
  const sockets = new Set<Socket>()
  const server: Server = createServer((down) => {
    const up = connect(Number(target.port), target.hostname)
    sockets.add(down).add(up)
    down.pipe(up)
    up.on('data', (chunk: Buffer) => {
      down.write(chunk)
      up.pause()
      setTimeout(() => up.resume(), (chunk.length / bytesPerSecond) * 1000)
    })
    const end = () => {
      down.destroy()
      up.destroy()
    }
    down.on('error', end).on('close', end)
    up.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

afterAll(async () => {
  slowS3?.close()
  await Promise.all([proxy?.stop(), reg?.stop(), podman?.cleanup(), s3?.stop()])
  await rm(dir, { recursive: true, force: true })
})

interface Case {
  outDir: string
  tmp: string
  before: string[]
}

/** An output directory holding one file of the user's (and a mirror spec), and an empty private TMPDIR. */
async function fresh(name: string): Promise<Case> {
  const outDir = join(dir, name, 'out')
  const tmp = join(dir, name, 'tmp')
  await mkdir(outDir, { recursive: true })
  await mkdir(tmp, { recursive: true })
  await writeFile(join(outDir, 'notes.txt'), 'keep me\n')
  const spec = `defaults:\n  target: ${reg.host}\n  project: mirror\nimages:\n  - source: ${proxy.host}/big/app\n    tags: ['1']\n`
  await writeFile(join(outDir, 'mirror.yaml'), spec)
  return { outDir, tmp, before: await readdir(outDir) }
}

/**
 * Resolves once the copy is half way: the stalled layer's download has begun, or (save) podman is
 * writing the image out into the private TMPDIR.
 */
async function underWay(what: Command, c: Case, child: ChildProcess, since: number, output: () => string) {
  const stalled = image.layers[1].digest
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`airlock ended before the interrupt: ${output()}`)
    if (what === 'download') {
      if ((await readdir(c.outDir)).some((n) => n.endsWith('.part'))) {
        await sleep(500)
        return
      }
    } else if (what === 'bundle-push') {
      if (hung.some((at) => at >= since)) {
        await sleep(500)
        return
      }
    } else if (what === 'load' || what === 'load-archive' || what === 'bundle-load') {
      if (processesOf(c).some((l) => / pull --quiet dir:/.test(l))) {
        await sleep(200)
        return
      }
    } else if (what === 'save') {
      // Interrupt soon after podman starts writing: on an idle machine the whole save takes ~1 s.
      if ((await readdir(c.tmp)).some((n) => n.startsWith('airlock-podman-export-'))) {
        await sleep(100)
        return
      }
    } else if (proxy.hits.some((h) => h.at >= since && h.method === 'GET' && h.url.includes(stalled))) {
      await sleep(300) // the small layer is written by now
      return
    }
    await sleep(50)
  }
  throw new Error('the copy did not reach the stalled layer within 30 s')
}

/** Processes whose arguments mention the case's directory, airlock and its children (ps, every user). */
function processesOf(c: Case): string[] {
  const ps = execFileSync('ps', ['-ww', '-eo', 'pid,args'], { encoding: 'utf8' })
  return ps.split('\n').filter((l) => l.includes(c.tmp) || l.includes(c.outDir))
}

interface Ended {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, detached: boolean) {
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached })
  started.push(child)
  let output = ''
  child.stdout?.on('data', (d) => {
    output += d
  })
  child.stderr?.on('data', (d) => {
    output += d
  })
  const end = new Promise<Ended>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, output })
    })
  })
  return { child, end, output: () => output }
}

type Command =
  | 'docker-archive'
  | 'oci-archive'
  | 'oci'
  | 'pull'
  | 'save'
  | 'load'
  | 'bundle'
  | 'mirror'
  | 'load-archive'
  | 'download'
  | 'bundle-push'
  | 'bundle-load'

function argsOf(what: Command, c: Case, name = ''): string[] {
  if (what === 'load') return ['pull', '--engine', 'podman', `${reg.host}/big/${name.toLowerCase()}:1`]
  const src = `docker://${proxy.host}/big/app:1`
  if (what === 'download')
    return [
      'download',
      `s3://${BUCKET}/big.bin`,
      join(c.outDir, 'big.bin'),
      '--endpoint-url',
      slowS3.endpoint,
    ]
  if (what === 'bundle-load') return ['bundle', 'load', '--engine', 'podman', bundleOf(name)]
  if (what === 'bundle-push')
    return ['bundle', 'push', bundleOf(BUNDLED[0]!), '--to', `${proxy.host}/pushed`, '--tls-verify=false']
  if (what === 'load-archive') return ['load', '--engine', 'podman', join(dir, 'archive.tar')]
  if (what === 'oci')
    return [
      'copy',
      '--src-tls-verify=false',
      `docker://${proxy.host}/big/app:1`,
      `oci:${join(c.outDir, 'layout')}:1`,
    ]
  if (what === 'mirror')
    return [
      'mirror',
      join(c.outDir, 'mirror.yaml'),
      '--lock',
      join(c.outDir, 'mirror.lock'),
      '--state',
      join(c.outDir, 'state.json'),
    ]
  if (what === 'bundle')
    return [
      'bundle',
      'create',
      '--tls-verify=false',
      '-o',
      join(c.outDir, 'images.tar'),
      `${proxy.host}/big/app:1`,
    ]
  if (what === 'save')
    return ['save', '--engine', 'podman', `${reg.host}/big/save:1`, '-o', join(c.outDir, 'save.tar')]
  if (what === 'pull') return ['pull', '--engine', 'podman', '--tls-verify=false', `${proxy.host}/big/app:1`]
  return ['copy', '--src-tls-verify=false', src, `${what}:${join(c.outDir, 'app.tar')}`]
}

function envOf(c: Case): NodeJS.ProcessEnv {
  return isolatedEnv({ ...podman.env, ...s3.env, AWS_EC2_METADATA_DISABLED: 'true', TMPDIR: c.tmp })
}

async function expectNothingLeft(what: Command, c: Case, r: Ended): Promise<void> {
  expect(r.signal, r.output).toBeNull()
  expect(r.code, r.output).toBe(1)
  // `download` says what the interrupt left: "download of s3://… was interrupted; nothing was written".
  expect(r.output).toMatch(
    what === 'download' ? /was interrupted; nothing was written/ : /interrupted by SIG(INT|TERM|HUP)/,
  )
  // The mirror's state file records the run (docs/mirror.md); an OCI layout keeps the blobs that
  // arrived whole (content-addressed, reused by the next copy) but no partial blob and no tag.
  const kept = what === 'mirror' ? ['state.json'] : what === 'oci' ? ['layout'] : []
  expect(await readdir(c.outDir), r.output).toEqual([...c.before, ...kept].sort())
  const files = (await readdir(c.outDir, { recursive: true })).map(String)
  expect(
    files.filter((f) => /\.(partial|tmp)$/.test(f)),
    r.output,
  ).toEqual([])
  if (what === 'oci') {
    const index = JSON.parse(await readFile(join(c.outDir, 'layout', 'index.json'), 'utf8').catch(() => '{}'))
    expect(index.manifests ?? [], r.output).toEqual([])
  }
  expect(await readdir(c.tmp), r.output).toEqual([])
  expect(processesOf(c)).toEqual([])
  if (what === 'bundle-push') expect(await pushedTags(), r.output).toEqual([])
}

/** Tags in the registry's pushed/... repositories (the target of `bundle push`). */
async function pushedTags(): Promise<string[]> {
  const catalog = JSON.parse((await registryRequest(reg, '/v2/_catalog')).body.toString()) as {
    repositories?: string[]
  }
  const tags: string[] = []
  for (const repo of (catalog.repositories ?? []).filter((r) => r.startsWith('pushed/'))) {
    const r = await registryRequest(reg, `/v2/${repo}/tags/list`)
    if (r.status === 200) for (const t of JSON.parse(r.body.toString()).tags ?? []) tags.push(`${repo}:${t}`)
  }
  return tags
}

describe('interrupted without a terminal (signal to the process group)', () => {
  const cases: Array<[Command, Sig]> = [
    ['docker-archive', 'SIGINT'],
    ['docker-archive', 'SIGTERM'],
    ['docker-archive', 'SIGHUP'],
    ['oci-archive', 'SIGTERM'],
    ['oci', 'SIGINT'],
    ['pull', 'SIGINT'],
    ['pull', 'SIGTERM'],
    ['pull', 'SIGHUP'],
    ['save', 'SIGINT'],
    ['save', 'SIGTERM'],
    ['load', 'SIGINT'],
    ['load', 'SIGTERM'],
    ['bundle', 'SIGINT'],
    ['bundle', 'SIGHUP'],
    ['mirror', 'SIGTERM'],
    ['load-archive', 'SIGINT'],
    ['download', 'SIGINT'],
    ['download', 'SIGTERM'],
    ['download', 'SIGHUP'],
    ['bundle-push', 'SIGINT'],
    ['bundle-push', 'SIGHUP'],
    ['bundle-load', 'SIGTERM'],
  ]
  it.each(cases)('%s, by %s: exit 1, "interrupted", nothing left', async (what, sig) => {
    const c = await fresh(`${what}-${sig}`)
    const since = Date.now()
    const { child, end, output } = run(
      process.execPath,
      [CLI, ...argsOf(what, c, what === 'bundle-load' ? `bload-${sig}` : `load-${sig}`)],
      envOf(c),
      true,
    )
    await underWay(what, c, child, since, output)
    process.kill(-(child.pid as number), sig)
    const r = await end
    await expectNothingLeft(what, c, r)
    if (what !== 'download') expect(r.output).toContain(`interrupted by ${sig}`)
    if (what === 'load')
      expect(await podman.inspect(`${reg.host}/big/load-${sig.toLowerCase()}:1`)).toBeUndefined()
    if (what === 'bundle-load')
      expect(await podman.inspect(`${reg.host}/big/bload-${sig.toLowerCase()}:1`)).toBeUndefined()
  })
})

describe('under a terminal: Ctrl-C typed into it (util-linux script)', () => {
  it.each<Command>([
    'docker-archive',
    'pull',
    'save',
    'load',
    'bundle',
    'mirror',
    'download',
    'bundle-push',
    'bundle-load',
  ])('%s: exit 1, "interrupted", cursor shown, nothing left', async (what) => {
    const c = await fresh(`tty-${what}`)
    const quoted = argsOf(what, c, what === 'bundle-load' ? 'bload-tty' : 'load-tty').map((a) => `'${a}'`)
    const command = ['stty cols 120;', 'exec', process.execPath, CLI, ...quoted].join(' ')
    const since = Date.now()
    const { child, end, output } = run('script', ['-qefc', command, '/dev/null'], envOf(c), false)
    await underWay(what, c, child, since, output)
    child.stdin?.write('\x03') // the terminal sends SIGINT to its foreground process group
    const r = await end
    expect(r.output).toContain('^C')
    await expectNothingLeft(what, c, r)
    if (what !== 'download') expect(r.output).toContain('interrupted by SIGINT')
    if (what === 'bundle-load') expect(await podman.inspect(`${reg.host}/big/bload-tty:1`)).toBeUndefined()
    const hidden = r.output.lastIndexOf('\x1b[?25l')
    if (hidden >= 0)
      expect(r.output.indexOf('\x1b[?25h', hidden), JSON.stringify(r.output)).toBeGreaterThan(hidden)
  })
})
