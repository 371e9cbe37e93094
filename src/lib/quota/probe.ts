/**
 * One node's storage picture: podman's storage settings, the bytes under graphroot, the free space of
 * its filesystem, and the limit on it. Everything goes through a Runner, so the same probe works on the
 * local node (`localRunner`) and over ssh (a Runner that wraps ssh); only the usage walk differs
 * (`localWalk`: a Node walk instead of `du`).
 *
 * A probe never throws: an unreachable node is `reachable: false` with the error, and whatever a tool
 * could not tell becomes a warning.
 */
import { readFile } from 'node:fs/promises'
import { run as exec } from '../exec.js'
import { probeDf } from './df.js'
import { probeLimit } from './limits.js'
import { resolveStorage } from './storage-conf.js'
import type { NodeReport, Runner } from './types.js'
import { duUsage, measureUsage, type UsageResult } from './usage.js'

/**
 * Runs commands on this machine (execa via lib/exec.ts), with `env` as their whole environment.
 * `cat -- FILE` (how storage.conf is read) is read by Node instead, so finding the file does not
 * depend on what `env`'s PATH holds (`airlock doctor` with a narrowed PATH).
 */
export function localRunner(env?: NodeJS.ProcessEnv): Runner {
  return async (argv, opts = {}) => {
    const [program, ...args] = argv
    if (program === 'cat' && args.length === 2 && args[0] === '--') return readLocal(args[1])
    const r = await exec(program, args, {
      env,
      reject: false,
      timeoutMs: opts.timeoutMs,
      input: opts.input,
    })
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, notFound: r.notFound }
  }
}

async function readLocal(file: string): Promise<Awaited<ReturnType<Runner>>> {
  try {
    return { exitCode: 0, stdout: await readFile(file, 'utf8'), stderr: '' }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = e.code === 'ENOENT' ? 'No such file or directory' : e.message
    return { exitCode: 1, stdout: '', stderr: `cat: ${file}: ${why}\n` }
  }
}

/** The environment variables storage resolution reads. */
export const STORAGE_ENV_KEYS = [
  'HOME',
  'USER',
  'XDG_CONFIG_HOME',
  'XDG_DATA_HOME',
  'XDG_RUNTIME_DIR',
  'CONTAINERS_STORAGE_CONF',
  'STORAGE_DRIVER',
] as const

export interface ProbeOptions {
  /** HOME, XDG_*, CONTAINERS_STORAGE_CONF as seen on that node; read with `env` through run when absent. */
  env?: Record<string, string>
  /** Limit (bytes) from airlock's config, used when no quota tool gives one. */
  configLimit?: number
  /** Whose storage: defaults to the uid `id -u` prints on the node. */
  uid?: number
  /** Measure usage with the concurrent Node walk (local node only) instead of `du` through run. */
  localWalk?: boolean
  /**
   * Where airlock itself puts images when that is not podman's default (`--root`, config `podman.root`):
   * replaces the resolved graphroot (and runroot/driver when given); `source` says where it came from.
   */
  storage?: { graphroot?: string; runroot?: string; driver?: string; source: string }
}

/** Parses `env` output (NAME=value lines) into the keys storage resolution reads. */
export function parseEnv(stdout: string): Record<string, string> {
  const out: Record<string, string> = {}
  const wanted = new Set<string>(STORAGE_ENV_KEYS)
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0 && wanted.has(line.slice(0, i))) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? ''
}

export async function probeNode(node: string, run: Runner, opts: ProbeOptions = {}): Promise<NodeReport> {
  const warnings: string[] = []
  // The first command also says whether the node answers at all.
  let self: number
  try {
    const id = await run(['id', '-u'], { timeoutMs: 30_000 })
    const n = Number(id.stdout.trim())
    if (id.exitCode !== 0 || !/^\d+$/.test(id.stdout.trim())) {
      return {
        node,
        reachable: false,
        error: lastLine(id.stderr) || `id -u exited with ${id.exitCode}`,
        warnings,
      }
    }
    self = n
  } catch (err) {
    return { node, reachable: false, error: (err as Error).message, warnings }
  }
  const uid = opts.uid ?? self

  try {
    let env = opts.env
    if (!env) {
      const r = await run(['env'], { timeoutMs: 30_000 })
      env = parseEnv(r.stdout)
      if (r.exitCode !== 0) warnings.push(`env exited with ${r.exitCode}: ${lastLine(r.stderr)}`)
    }
    const resolved = await resolveStorage(run, env, uid)
    warnings.push(...resolved.warnings)
    const o = opts.storage
    const storage =
      o?.graphroot || o?.runroot || o?.driver
        ? {
            ...resolved.storage,
            ...(o.graphroot ? { graphroot: o.graphroot } : {}),
            ...(o.runroot ? { runroot: o.runroot } : {}),
            ...(o.driver ? { driver: o.driver } : {}),
            source: o.source,
          }
        : resolved.storage
    if (!storage.graphroot.startsWith('/')) {
      warnings.push(`graphroot ${storage.graphroot} is not absolute (HOME unknown on this node?)`)
    }

    const [usage, df] = await Promise.all([
      opts.localWalk ? measureUsage(storage.graphroot) : duUsage(run, storage.graphroot),
      probeDf(run, storage.graphroot),
    ])
    warnings.push(...usage.warnings, ...df.warnings)
    const lim = await probeLimit(run, {
      df: df.info,
      uid,
      self: uid === self,
      configLimit: opts.configLimit,
      usage: usage.bytes,
    })
    warnings.push(...lim.warnings)
    return {
      node,
      reachable: true,
      storage,
      ...usageField(usage),
      limit: lim.limit,
      ...(df.info
        ? {
            free: df.info.available,
            fsSize: df.info.size,
            fsUsed: df.info.used,
            fs: {
              device: df.info.filesystem,
              ...(df.info.type ? { type: df.info.type } : {}),
              mountpoint: df.info.mountpoint,
            },
          }
        : {}),
      warnings,
    }
  } catch (err) {
    return { node, reachable: true, error: (err as Error).message, warnings }
  }
}

function usageField(u: UsageResult): { usage?: number } {
  return u.bytes === undefined ? {} : { usage: u.bytes }
}
