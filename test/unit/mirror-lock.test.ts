import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { acquireLock, defaultLockPath } from '../../src/lib/mirror/lock.js'
import { RateLimiter } from '../../src/lib/mirror/rate-limit.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-lock-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('mirror lock', () => {
  it('lets one run hold it; the next refuses naming the holder, or waits for it', async () => {
    const path = join(dir, 'a.lock')
    const first = await acquireLock(path, 'spec.yaml')
    const holder = JSON.parse(await readFile(path, 'utf8'))
    expect(holder).toMatchObject({ pid: process.pid, host: hostname() })
    let err: unknown
    try {
      await acquireLock(path, 'spec.yaml')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('LOCKED')
    expect((err as AirlockError).message).toContain(`PID ${process.pid}`)
    setTimeout(() => void first.release(), 300)
    const t = Date.now()
    const second = await acquireLock(path, 'spec.yaml', { waitSeconds: 5 })
    expect(Date.now() - t).toBeGreaterThanOrEqual(250)
    await second.release()
    await expect(readFile(path)).rejects.toThrow()
  })

  it('takes over a stale lock whose process is gone', async () => {
    const path = join(dir, 'b.lock')
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number
    const stale = { pid: dead, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z', spec: '/x' }
    await writeFile(path, JSON.stringify(stale))
    const lock = await acquireLock(path, 'spec.yaml')
    expect(lock.tookOverFrom).toEqual(stale)
    expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid)
    await lock.release()
  })

  it('takes over a lock from another host once its holder stopped touching it (a killed pod)', async () => {
    const path = join(dir, 'c.lock')
    const pod = {
      pid: 1,
      host: 'airlock-mirror-29034615-x7k2p',
      startedAt: '2026-01-01T02:15:00.000Z',
      spec: '/etc/airlock/mirror.yaml',
    }
    await writeFile(path, JSON.stringify(pod))
    // Touched just now: the pod may be running on another node, so the lock holds.
    const err = await acquireLock(path, 'spec.yaml').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('LOCKED')
    expect((err as AirlockError).message).toContain(pod.host)
    // Not touched for 6 minutes (the holder touches it every 30 s): the pod is gone.
    const old = new Date(Date.now() - 6 * 60_000)
    await utimes(path, old, old)
    const lock = await acquireLock(path, 'spec.yaml')
    expect(lock.tookOverFrom).toEqual(pod)
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ pid: process.pid, host: hostname() })
    await lock.release()
    await expect(readFile(path)).rejects.toThrow()
  })

  it('keeps its lock alive while it runs (mtime heartbeat), and stops touching it once released', async () => {
    const path = join(dir, 'd.lock')
    const idle = async () => Date.now() - (await stat(path)).mtimeMs
    const lock = await acquireLock(path, 'spec.yaml', { heartbeatSeconds: 0.05 })
    const old = new Date(Date.now() - 10 * 60_000)
    await utimes(path, old, old)
    await sleep(250)
    expect(await idle()).toBeLessThan(5_000)
    // So a run with a 1 s stale limit still finds it held.
    await expect(acquireLock(path, 'spec.yaml', { staleSeconds: 1 })).rejects.toMatchObject({
      code: 'LOCKED',
    })
    await lock.release()
    await writeFile(path, '{}')
    await utimes(path, old, old)
    await sleep(250)
    expect(await idle()).toBeGreaterThan(9 * 60_000)
    await unlink(path)
  })

  it('derives one default path per spec file', () => {
    expect(defaultLockPath('a/spec.yaml')).toBe(defaultLockPath(join(process.cwd(), 'a/spec.yaml')))
    expect(defaultLockPath('a/spec.yaml')).not.toBe(defaultLockPath('b/spec.yaml'))
  })
})

describe('per-registry limits', () => {
  it('caps requests in flight and spaces starts by rps', async () => {
    const limiter = new RateLimiter((host) =>
      host === 'slow' ? { concurrency: 2 } : host === 'rps' ? { rps: 20 } : undefined,
    )
    let active = 0
    let peak = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const release = await limiter.throttle('slow')
        active++
        peak = Math.max(peak, active)
        await new Promise((r) => setTimeout(r, 20))
        active--
        release()
      }),
    )
    expect(peak).toBe(2)
    const starts: number[] = []
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const release = await limiter.throttle('rps')
        starts.push(Date.now())
        release()
      }),
    )
    starts.sort((a, b) => a - b)
    // 5 starts at 20 per second: the last at least ~200 ms after the first.
    expect(starts[4] - starts[0]).toBeGreaterThanOrEqual(190)
    const free = await limiter.throttle('other')
    free()
  })
})
