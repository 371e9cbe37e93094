/**
 * podman through its command line (src/lib/exec.ts), reading its JSON output only
 * (`--format json`), never its tables.
 *
 * Storage: EngineOptions.podman root/runroot/storageDriver become podman's global
 * `--root/--runroot/--storage-driver`; anything unset comes from storage.conf as podman resolves it
 * (CONTAINERS_STORAGE_CONF, ~/.config/containers/storage.conf, /etc/containers/storage.conf), so
 * the environment is passed through unchanged.
 */
import { AirlockError } from '../errors.js'
import { type RunResult, run } from '../exec.js'
import type { EngineOptions } from '../transports/transport.js'
import { type LocalImage, listedImage, mergeLocalImages } from './local-image.js'

export function podmanProgram(opts: EngineOptions = {}): string {
  return opts.podman?.path ?? 'podman'
}

/** podman's global storage flags for these options (empty when storage.conf decides). */
export function podmanGlobalFlags(opts: EngineOptions = {}): string[] {
  const p = opts.podman ?? {}
  return [
    ...(p.root ? ['--root', p.root] : []),
    ...(p.runroot ? ['--runroot', p.runroot] : []),
    ...(p.storageDriver ? ['--storage-driver', p.storageDriver] : []),
  ]
}

export interface PodmanRunOptions {
  signal?: AbortSignal
  reject?: boolean
  /**
   * podman's TMPDIR (it keeps big temporary files there, and leaves them when it is killed): a
   * directory inside airlock's own temporary directory, so that removing that removes them too.
   */
  tmpDir?: string
}

/**
 * Runs `podman <global flags> <args>`; a failure is EXEC_FAILED carrying podman's own stderr, and a
 * missing podman says how to get it.
 */
export async function runPodman(
  args: string[],
  opts: EngineOptions = {},
  runOpts: PodmanRunOptions = {},
): Promise<RunResult> {
  const program = podmanProgram(opts)
  const label = `${program} ${args.slice(0, args[0] === 'image' ? 2 : 1).join(' ')}`
  const env = runOpts.tmpDir ? { ...process.env, ...opts.env, TMPDIR: runOpts.tmpDir } : opts.env
  // In a process group of its own: a Ctrl-C or hangup of the terminal reaches airlock only, which
  // stops podman through the signal and waits for it before removing what it wrote.
  const res = await run(program, [...podmanGlobalFlags(opts), ...args], {
    env,
    signal: runOpts.signal,
    reject: false,
    label,
    ownProcessGroup: true,
  })
  // An interrupt is said as such, not as podman's exit status (reject: false callers look themselves).
  if ((runOpts.reject ?? true) && runOpts.signal?.aborted) throw runOpts.signal.reason
  if (res.notFound) {
    throw new AirlockError('EXEC_FAILED', `${program} is not installed or not on PATH`, {
      hint: 'install podman (apt-get install podman), or use docker-daemon: with a Docker Engine API',
    })
  }
  if (res.exitCode !== 0 && (runOpts.reject ?? true)) {
    throw new AirlockError('EXEC_FAILED', `${label} exited with ${res.exitCode}: ${lastLines(res.stderr)}`, {
      hint: storageHint(opts),
    })
  }
  return res
}

/** The last lines of podman's stderr, without its progress chatter. */
export function lastLines(stderr: string, n = 3): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) =>
        l &&
        !/^(Getting image source signatures|Copying (blob|config)|Writing manifest|Storing signatures)/.test(
          l,
        ),
    )
  return lines.slice(-n).join(' ') || '(no error output)'
}

function storageHint(opts: EngineOptions): string {
  const flags = podmanGlobalFlags(opts)
  return flags.length
    ? `podman ran with ${flags.join(' ')}; check that this storage is the one you mean`
    : 'podman uses the storage of storage.conf (CONTAINERS_STORAGE_CONF, ~/.config/containers/storage.conf, /etc/containers/storage.conf); set root/runroot/driver to pick another'
}

/** One entry of `podman images --format json`. */
interface PodmanListEntry {
  Id: string
  Names?: string[] | null
  RepoDigests?: string[] | null
  Size?: number
  Created?: number
  Digest?: string
}

/** Every image of the store, intermediate ones included (`podman images --all --format json`). */
export async function podmanListImages(opts: EngineOptions = {}): Promise<LocalImage[]> {
  const res = await runPodman(['images', '--all', '--format', 'json'], opts)
  let list: PodmanListEntry[]
  try {
    list = JSON.parse(res.stdout.trim() || '[]') as PodmanListEntry[]
  } catch {
    throw new AirlockError('EXEC_FAILED', 'podman images --format json did not print JSON', {
      hint: 'check that `podman images --format json` works on its own',
    })
  }
  return mergeLocalImages(list.map((e) => listedImage(e, e.Names)))
}
