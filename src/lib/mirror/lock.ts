/**
 * One mirror run at a time per spec: a lock file holding the holder's PID, host and start time,
 * created exclusively (O_EXCL). A lock whose holder process is gone (same host, PID not running) is
 * stale and taken over; a live holder makes the next run wait (`waitSeconds`) or refuse.
 */
import { createHash } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AirlockError } from '../errors.js'

export interface LockHolder {
  pid: number
  host: string
  startedAt: string
  spec: string
}

export interface MirrorLock {
  path: string
  /** Set when a stale lock of a dead process was taken over. */
  tookOverFrom?: LockHolder
  release(): Promise<void>
}

/** The default lock file of a spec: in the temp dir, named by a hash of the spec's absolute path. */
export function defaultLockPath(specFile: string): string {
  const hash = createHash('sha256').update(resolve(specFile)).digest('hex').slice(0, 16)
  return join(tmpdir(), `airlock-mirror-${hash}.lock`)
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

export async function acquireLock(
  path: string,
  specFile: string,
  opts: { waitSeconds?: number; signal?: AbortSignal } = {},
): Promise<MirrorLock> {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    spec: resolve(specFile),
  }
  const deadline = Date.now() + (opts.waitSeconds ?? 0) * 1000
  let tookOverFrom: LockHolder | undefined
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o644)
      await fh.writeFile(`${JSON.stringify(me)}\n`)
      await fh.close()
      return {
        path,
        tookOverFrom,
        release: async () => {
          const holder = await readHolder(path)
          if (holder?.pid === me.pid && holder.startedAt === me.startedAt)
            await unlink(path).catch(() => undefined)
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
    if (holder && holder.host === me.host && !alive(holder.pid)) {
      // Stale: move it aside atomically (only one contender's rename succeeds), then try again.
      const aside = `${path}.stale-${process.pid}`
      if (
        await rename(path, aside).then(
          () => true,
          () => false,
        )
      ) {
        await unlink(aside).catch(() => undefined)
        tookOverFrom = holder
      }
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
        `another mirror run holds ${path}: PID ${holder.pid} on ${holder.host}, started ${holder.startedAt}`,
        {
          hint:
            holder.host === me.host
              ? 'wait for it to finish, or pass --lock-wait SECONDS to wait'
              : 'the lock is held from another host (shared filesystem): wait, or use a lock path per host',
        },
      )
    }
    await sleep(Math.min(500, Math.max(50, deadline - Date.now())), undefined, { signal: opts.signal })
  }
}
