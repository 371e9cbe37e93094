/**
 * One mirror run at a time per spec: a lock file holding the holder's PID, host and start time,
 * created exclusively (O_EXCL). The holder touches the file's mtime every `heartbeatSeconds` (30 s)
 * while it runs. A lock is stale, and taken over, when its holder is gone: its mtime is older than
 * `staleSeconds` (5 min) whatever host holds it (a killed Kubernetes pod's host name never comes
 * back), or its holder ran on this host and its PID is not running. A live holder makes the next
 * run wait (`waitSeconds`) or refuse.
 */
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AirlockError } from '../errors.js'
import { specKey } from './state.js'

export interface LockHolder {
  pid: number
  host: string
  startedAt: string
  spec: string
}

export interface MirrorLock {
  path: string
  /** Set when a stale lock (a dead process, or no heartbeat for staleSeconds) was taken over. */
  tookOverFrom?: LockHolder
  /** Stops the heartbeat and removes the lock file (when it is still this run's). */
  release(): Promise<void>
}

export interface LockOptions {
  /** Seconds to wait for a live holder to finish (default 0: refuse at once). */
  waitSeconds?: number
  signal?: AbortSignal
  /** How often the holder touches the lock file (default 30 s). */
  heartbeatSeconds?: number
  /** A lock not touched for this long is stale, whatever host holds it (default 300 s). */
  staleSeconds?: number
}

export const LOCK_HEARTBEAT_SECONDS = 30
export const LOCK_STALE_SECONDS = 300

/** The default lock file of a spec: in the temp dir, named by a hash of the spec's absolute path. */
export function defaultLockPath(specFile: string): string {
  return join(tmpdir(), `airlock-mirror-${specKey(specFile)}.lock`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder
  } catch {
    return undefined
  }
}

/** Milliseconds since the lock file was last touched; undefined when it is gone. */
async function idleMs(path: string): Promise<number | undefined> {
  try {
    return Date.now() - (await stat(path)).mtimeMs
  } catch {
    return undefined
  }
}

const sameHolder = (a: LockHolder | undefined, b: LockHolder | undefined): boolean =>
  a?.pid === b?.pid && a?.host === b?.host && a?.startedAt === b?.startedAt

function ago(ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`
}

/**
 * Moves a stale lock aside atomically (of several contenders only one rename succeeds) and deletes
 * it. When what was moved is not the lock judged stale (another contender took over in between and
 * wrote a fresh one), it is put back. True when the stale lock is gone.
 */
async function removeStale(path: string, stale: LockHolder | undefined, staleMs: number): Promise<boolean> {
  const aside = `${path}.stale-${process.pid}`
  try {
    await rename(path, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false // another run was quicker
    throw new AirlockError('LOCKED', `cannot take over the stale lock ${path}: ${(err as Error).message}`, {
      hint: 'remove the lock file by hand if no mirror run is going on, or give a writable --lock path',
    })
  }
  const holder = await readHolder(aside)
  const idle = await idleMs(aside)
  const same = stale ? sameHolder(holder, stale) : holder === undefined && (idle ?? 0) > staleMs
  if (!same) {
    // A fresh lock: back where it was, unless yet another run has made one since (then that one holds).
    await link(aside, path).catch(() => undefined)
    await unlink(aside).catch(() => undefined)
    return false
  }
  await unlink(aside).catch(() => undefined)
  return true
}

export async function acquireLock(
  path: string,
  specFile: string,
  opts: LockOptions = {},
): Promise<MirrorLock> {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    spec: resolve(specFile),
  }
  const deadline = Date.now() + (opts.waitSeconds ?? 0) * 1000
  const staleMs = (opts.staleSeconds ?? LOCK_STALE_SECONDS) * 1000
  const heartbeatMs = (opts.heartbeatSeconds ?? LOCK_HEARTBEAT_SECONDS) * 1000
  let tookOverFrom: LockHolder | undefined
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o644)
      await fh.writeFile(`${JSON.stringify(me)}\n`)
      await fh.close()
      // The heartbeat: a touch of the mtime, so that other hosts can tell a live holder from a dead one.
      const heartbeat = setInterval(() => {
        const now = new Date()
        utimes(path, now, now).catch(() => undefined)
      }, heartbeatMs)
      heartbeat.unref()
      return {
        path,
        tookOverFrom,
        release: async () => {
          clearInterval(heartbeat)
          const holder = await readHolder(path)
          if (sameHolder(holder, me)) await unlink(path).catch(() => undefined)
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new AirlockError(
          'INVALID_INPUT',
          `cannot create the lock file ${path}: ${(err as Error).message}`,
          {
            hint: 'give a writable --lock path',
          },
        )
      }
    }
    const holder = await readHolder(path)
    const idle = await idleMs(path)
    if (idle === undefined) continue // released this instant: try again
    const deadHere = holder !== undefined && holder.host === me.host && !alive(holder.pid)
    if (deadHere || idle > staleMs) {
      if (await removeStale(path, holder, staleMs)) tookOverFrom = holder
      continue
    }
    if (holder === undefined) {
      // Being written by its creator this instant, or unreadable: look again shortly.
      await sleep(50, undefined, { signal: opts.signal })
      if (!(await readHolder(path)) && Date.now() > deadline + 1000) {
        throw new AirlockError('LOCKED', `lock file ${path} exists but cannot be read`, {
          hint: 'remove it if no mirror run is going on',
        })
      }
      continue
    }
    if (Date.now() >= deadline) {
      throw new AirlockError(
        'LOCKED',
        `another mirror run holds ${path}: PID ${holder.pid} on ${holder.host}, started ${holder.startedAt}, last alive ${ago(idle)} ago`,
        {
          hint:
            holder.host === me.host
              ? 'wait for it to finish, or pass --lock-wait SECONDS to wait'
              : `the lock is held from another host (a shared filesystem): wait for it, or pass --lock-wait SECONDS; a holder that stopped touching the lock for ${ago(staleMs)} is taken for dead and its lock taken over`,
        },
      )
    }
    await sleep(Math.min(500, Math.max(50, deadline - Date.now())), undefined, { signal: opts.signal })
  }
}
