/**
 * How many bytes a graphroot holds, counting each hard-linked file once (overlay and vfs layers share
 * files by hard links; a naive sum counts them twice).
 *
 * - `measureUsage(dir)`: a concurrent walk in Node for the local node (worker threads): allocated bytes
 *   (st_blocks × 512, what quotas charge), one (dev, ino) pair counted once, not crossing into other
 *   filesystems (du -x). The root is followed when it is a symlink (du -D).
 * - `duUsage(run, dir)`: `du -s -B1 -x -D DIR` through a Runner for remote nodes (du counts hard links
 *   once within one invocation; `-D` follows a graphroot that is itself a symlink, as podman's
 *   EvalSymlinks does).
 */
import type { BigIntStats } from 'node:fs'
import { lstat, readdir, stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { Runner } from './types.js'

export interface UsageResult {
  /** Allocated bytes, hard links once; undefined when the directory could not be measured. */
  bytes?: number
  /** Files and directories seen. */
  entries: number
  /** Entries that could not be read (permission denied, vanished mid-walk): counted as 0. */
  unreadable: number
  /** True when the directory does not exist (a fresh user: nothing pulled yet). */
  missing?: boolean
  warnings: string[]
}

/**
 * Walks `dir` with up to `threads` worker threads, each reading whole subtrees with synchronous
 * readdir/lstat (one syscall per entry, as du does, but several at once: on NFS and Lustre homes each
 * lstat is a round trip). Hard-linked files are reported by (dev, ino) and counted once here. Falls back
 * to an in-process async walk when worker threads are not available. Never throws for unreadable entries.
 */
export async function measureUsage(
  dir: string,
  opts: { threads?: number /** Walk on the main thread (the fallback). */; inProcess?: boolean } = {},
): Promise<UsageResult> {
  let root: BigIntStats
  try {
    root = await stat(dir, { bigint: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return { bytes: 0, entries: 0, unreadable: 0, missing: true, warnings: [] }
    return { entries: 0, unreadable: 1, warnings: [`cannot read ${dir}: ${(err as Error).message}`] }
  }
  const fresh = (): Tally => ({
    bytes: root.blocks * 512n,
    entries: 1,
    unreadable: 0,
    errors: [],
    seen: new Set(),
  })
  let tally = fresh()
  if (root.isDirectory()) {
    // At least 4: on network homes (NFS, Lustre) each lstat waits on the server, not the CPU.
    const threads = Math.max(1, opts.threads ?? Math.min(8, Math.max(4, availableParallelism())))
    const workers = opts.inProcess ? Promise.reject() : walkInWorkers(dir, root.dev, threads, tally)
    await workers.catch(async () => {
      tally = fresh() // nothing counted twice when workers fail half way
      await walkInProcess(dir, root.dev, tally)
    })
  }
  const warnings = tally.unreadable
    ? [
        `${tally.unreadable} entries under ${dir} could not be read and count as 0 (${tally.errors.join(', ')})`,
      ]
    : []
  return { bytes: Number(tally.bytes), entries: tally.entries, unreadable: tally.unreadable, warnings }
}

interface Tally {
  bytes: bigint
  entries: number
  unreadable: number
  /** The first few unreadable paths, for the warning. */
  errors: string[]
  /** `dev:ino` of hard-linked files already counted. */
  seen: Set<string>
}

interface WorkerReply {
  /** Directories not walked yet (the budget ran out): handed to any worker. */
  rest: string[]
  /** Bytes of entries with one link. */
  bytes: bigint
  /** `dev:ino`, bytes, `dev:ino`, bytes, ... of entries with several links. */
  links: Array<string | bigint>
  entries: number
  errors: string[]
}

/** Entries a worker reads before it hands its remaining directories back to be shared out. */
const BUDGET = 2000

/** The worker (CommonJS, evaluated): walks the directories it is given, depth first, until the budget. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { readdirSync, lstatSync } = require('node:fs')
parentPort.on('message', ({ dirs, dev, budget }) => {
  const stack = dirs
  const reply = { rest: [], bytes: 0n, links: [], entries: 0, errors: [] }
  let done = 0
  while (stack.length && done < budget) {
    const d = stack.pop()
    let names
    try { names = readdirSync(d) } catch (e) { if (e.code !== 'ENOENT') reply.errors.push(d + ': ' + e.code); continue }
    for (const name of names) {
      const p = d.endsWith('/') ? d + name : d + '/' + name
      let st
      try { st = lstatSync(p, { bigint: true, throwIfNoEntry: false }) } catch (e) { reply.errors.push(p + ': ' + e.code); continue }
      done++
      if (!st || st.dev !== dev) continue
      reply.entries++
      const dirent = st.isDirectory()
      if (st.nlink > 1n && !dirent) reply.links.push(st.dev + ':' + st.ino, st.blocks * 512n)
      else reply.bytes += st.blocks * 512n
      if (dirent) stack.push(p)
    }
  }
  reply.rest = stack
  parentPort.postMessage(reply)
})
`

function add(t: Tally, r: WorkerReply): void {
  t.bytes += r.bytes
  t.entries += r.entries
  for (let i = 0; i < r.links.length; i += 2) {
    const key = r.links[i] as string
    if (t.seen.has(key)) continue
    t.seen.add(key)
    t.bytes += r.links[i + 1] as bigint
  }
  t.unreadable += r.errors.length
  for (const e of r.errors) if (t.errors.length < 3) t.errors.push(e)
}

async function walkInWorkers(dir: string, dev: bigint, threads: number, t: Tally): Promise<void> {
  const { Worker } = await import('node:worker_threads')
  const workers: InstanceType<typeof Worker>[] = []
  const idle: InstanceType<typeof Worker>[] = []
  const queue: string[] = [dir]
  let busy = 0
  try {
    await new Promise<void>((resolve, reject) => {
      const dispatch = () => {
        while (queue.length) {
          let w = idle.pop()
          if (!w && workers.length < threads) {
            w = new Worker(WORKER_SOURCE, { eval: true })
            workers.push(w)
            const worker = w
            w.on('message', (r: WorkerReply) => {
              busy--
              add(t, r)
              queue.push(...r.rest)
              idle.push(worker)
              dispatch()
            })
            w.on('error', reject)
          }
          if (!w) break
          // Share the queue out: each worker takes a slice, at least one directory.
          const take = Math.max(1, Math.floor(queue.length / threads))
          busy++
          w.postMessage({ dirs: queue.splice(queue.length - take, take), dev, budget: BUDGET })
        }
        if (!queue.length && busy === 0) resolve()
      }
      dispatch()
    })
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

/** The fallback: an async walk on the main thread (libuv's pool does the lstats). */
async function walkInProcess(dir: string, dev: bigint, t: Tally): Promise<void> {
  const stack = [dir]
  while (stack.length) {
    const d = stack.pop() as string
    let names: string[]
    try {
      names = await readdir(d)
    } catch (err) {
      add(t, {
        rest: [],
        bytes: 0n,
        links: [],
        entries: 0,
        errors: [`${d}: ${(err as NodeJS.ErrnoException).code}`],
      })
      continue
    }
    const reply: WorkerReply = { rest: [], bytes: 0n, links: [], entries: 0, errors: [] }
    await Promise.all(
      names.map(async (name) => {
        const p = join(d, name)
        const st = await lstat(p, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') reply.errors.push(`${p}: ${err.code}`)
          return undefined
        })
        if (!st || st.dev !== dev) return
        reply.entries++
        if (st.nlink > 1n && !st.isDirectory()) reply.links.push(`${st.dev}:${st.ino}`, st.blocks * 512n)
        else reply.bytes += st.blocks * 512n
        if (st.isDirectory()) stack.push(p)
      }),
    )
    add(t, reply)
  }
}

/** Parses `du -s -B1 DIR`: `BYTES<TAB>DIR`. */
export function parseDu(stdout: string): number | undefined {
  const line = stdout.split('\n').find((l) => l.trim() !== '')
  const m = line ? /^(\d+)\s/.exec(line) : null
  return m ? Number(m[1]) : undefined
}

/** `du` through a Runner: for nodes reached over ssh. */
export async function duUsage(run: Runner, dir: string): Promise<UsageResult> {
  const r = await run(['du', '-s', '-B1', '-x', '-D', dir], { timeoutMs: 10 * 60_000 })
  if (r.notFound) return { entries: 0, unreadable: 0, warnings: ['du is not installed on this node'] }
  const bytes = parseDu(r.stdout)
  if (bytes === undefined) {
    if (/No such file or directory/.test(r.stderr) && !r.stdout.trim()) {
      return { bytes: 0, entries: 0, unreadable: 0, missing: true, warnings: [] }
    }
    return {
      entries: 0,
      unreadable: 0,
      warnings: [`du ${dir}: ${r.stderr.trim().split('\n')[0] || `unexpected output: ${r.stdout.trim()}`}`],
    }
  }
  // du exits 1 and still prints the total when some entries were unreadable.
  const denied = r.stderr.split('\n').filter((l) => l.trim()).length
  return {
    bytes,
    entries: 0,
    unreadable: denied,
    warnings: denied ? [`du could not read ${denied} entries under ${dir}; they count as 0`] : [],
  }
}
