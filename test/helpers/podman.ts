/**
 * Real podman for tests: vfs storage in temporary roots (no overlay, no root filesystem changes),
 * and the Docker Engine API of `podman system service` on a temporary unix socket.
 *
 * Every podman call gets `--root/--runroot/--storage-driver vfs` and a storage.conf written for the
 * same roots (CONTAINERS_STORAGE_CONF), so code under test that honours either finds the same store.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { execa } from 'execa'

/** What `podman image inspect --format json` says of an image (the fields tests check). */
export interface PodmanImage {
  Id: string
  RepoTags?: string[]
  RootFS: { Layers: string[] }
}

export interface Podman {
  dir: string
  root: string
  runroot: string
  /** storage.conf naming root, runroot and the vfs driver. */
  storageConf: string
  /** Global flags: --root, --runroot, --storage-driver vfs (and a private registries.conf). */
  flags: string[]
  /** Environment for podman and for airlock: CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF, CONTAINERS_CONF. */
  env: NodeJS.ProcessEnv
  /** Runs podman with the flags; throws with stderr on a non-zero exit unless reject is false. */
  run(
    args: string[],
    opts?: { reject?: boolean; input?: string },
  ): Promise<{ stdout: string; stderr: string; exitCode: number }>
  /** `podman images --format json` parsed. */
  images(): Promise<Array<{ Id: string; Names?: string[]; Digest?: string; RepoDigests?: string[] }>>
  /** `podman image inspect --format json NAME` parsed; undefined when podman has no such image. */
  inspect(name: string): Promise<PodmanImage | undefined>
  cleanup(): Promise<void>
}

export async function makePodman(): Promise<Podman> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-podman-'))
  const root = join(dir, 'root')
  const runroot = join(dir, 'runroot')
  const storageConf = join(dir, 'storage.conf')
  const registriesConf = join(dir, 'registries.conf')
  // libpod's own runtime directory (default /run/libpod) is shared by every podman on the machine,
  // and `podman system reset` removes it: one per instance, or parallel test files break each other.
  const containersConf = join(dir, 'containers.conf')
  await writeFile(containersConf, `[engine]\ntmp_dir = "${join(dir, 'libpod-tmp')}"\n`)
  await writeFile(storageConf, `[storage]\ndriver = "vfs"\ngraphroot = "${root}"\nrunroot = "${runroot}"\n`)
  // No search registries: tests always use fully qualified names and never reach the internet.
  await writeFile(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_STORAGE_CONF: storageConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    CONTAINERS_CONF: containersConf,
  }
  const flags = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs']
  const p: Podman = {
    dir,
    root,
    runroot,
    storageConf,
    flags,
    env,
    async run(args, opts = {}) {
      const r = await execa('podman', [...flags, ...args], { env, reject: false, input: opts.input })
      const out = { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 1 }
      if ((opts.reject ?? true) && out.exitCode !== 0) {
        throw new Error(`podman ${args.join(' ')} exited ${out.exitCode}: ${out.stderr}`)
      }
      return out
    },
    async images() {
      return JSON.parse((await p.run(['images', '--format', 'json'])).stdout || '[]')
    },
    async inspect(name) {
      const r = await p.run(['image', 'inspect', '--format', 'json', name], { reject: false })
      return r.exitCode === 0 ? (JSON.parse(r.stdout) as PodmanImage[])[0] : undefined
    },
    async cleanup() {
      // vfs layers can hold read-only directories; podman removes its own store first.
      await execa('podman', [...flags, 'system', 'reset', '--force'], { env, reject: false })
      await rm(dir, { recursive: true, force: true })
    },
  }
  return p
}

export interface PodmanService {
  socket: string
  /** `unix:///…/docker.sock`, for DOCKER_HOST. */
  dockerHost: string
  stop(): Promise<void>
}

/** `podman system service` on a socket in the podman dir: the Docker Engine API dockerode talks to. */
export async function startPodmanService(p: Podman): Promise<PodmanService> {
  const socket = join(p.dir, 'docker.sock')
  const child: ChildProcess = spawn(
    'podman',
    [...p.flags, 'system', 'service', '--time=0', `unix://${socket}`],
    {
      env: p.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr?.on('data', (d) => {
    stderr = (stderr + d).slice(-8192)
  })
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`podman system service exited: ${stderr}`)
    if (await stat(socket).catch(() => undefined)) break
    await sleep(50)
  }
  if (!(await stat(socket).catch(() => undefined))) {
    child.kill('SIGKILL')
    throw new Error(`podman system service did not create ${socket}: ${stderr}`)
  }
  return {
    socket,
    dockerHost: `unix://${socket}`,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(5000)])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}
