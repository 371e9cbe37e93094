/**
 * Copy progress: on a TTY, a listr2 task with one line per image and a total line (bytes done of
 * bytes to send or check, speed, time left, the phase); otherwise plain log lines, one per blob and
 * manifest, fit for cron mail and CI logs. Both go to stderr only (listr-stderr.ts): stdout holds
 * the result.
 */
import type { CopyEvent, CopyEventHandler } from '../lib/copy/events.js'
import { progressTty } from './byte-progress.js'
import { formatBytes, shortDigest } from './format.js'
import { formatEta, Rate, stderrListrOptions } from './listr-stderr.js'

export interface ProgressOptions {
  title: string
  quiet?: boolean
  tty?: boolean
}

interface ImageLine {
  label: string
  total: number
  done: number
  present: boolean
}

export type CopyPhase =
  | 'resolving'
  | 'planning'
  | 'copying blobs'
  | 'writing manifests'
  | 'done'
  | 'up to date'

/**
 * What the bar shows, from the copy engine's events. Totals are known before any blob starts: the
 * engine's 'image' event names every blob of an image and their bytes (copy-image.ts), so a total
 * never grows or shrinks while blobs move. A blob found at the destination or mounted counts as done
 * (it was checked); a retried blob's bytes are taken back (copy-blob.ts sends a negative delta).
 */
export class CopyProgressModel {
  phase: CopyPhase = 'resolving'
  readonly images = new Map<string, ImageLine>()
  /** Which images hold a blob, and how many times (a layer may repeat in one manifest). */
  private holders = new Map<string, Map<ImageLine, number>>()
  /** Size of every distinct blob to send or check. */
  private sizes = new Map<string, number>()
  private blobDone = 0
  readonly rate = new Rate()

  readonly onEvent: CopyEventHandler = (e: CopyEvent) => {
    switch (e.type) {
      case 'resolved':
        this.phase = 'planning'
        break
      case 'up-to-date':
        this.phase = 'up to date'
        break
      case 'image': {
        const label = e.platform === 'unknown' ? `image ${shortDigest(e.digest)}` : e.platform
        const line: ImageLine = { label, total: e.bytes, done: 0, present: e.present }
        this.images.set(e.digest, line)
        e.blobs.forEach((b, i) => {
          if (!this.sizes.has(b)) this.sizes.set(b, e.sizes[i] ?? 0)
          const h = this.holders.get(b) ?? new Map<ImageLine, number>()
          h.set(line, (h.get(line) ?? 0) + 1)
          this.holders.set(b, h)
        })
        this.phase = 'copying blobs'
        break
      }
      case 'blob-progress':
        this.credit(e.digest, e.delta)
        this.blobDone += e.delta
        break
      case 'blob-done':
        if (e.action !== 'copied') this.credit(e.digest, e.size)
        if (e.action !== 'copied') this.blobDone += e.size
        break
      case 'manifest':
        this.phase = 'writing manifests'
        break
      case 'commit':
        this.phase = 'done'
        break
    }
  }

  /** Bytes of every distinct blob to send or check (known before the first blob starts), and how many are done. */
  get total(): number {
    let n = 0
    for (const size of this.sizes.values()) n += size
    return n
  }
  get done(): number {
    return this.blobDone
  }

  private credit(digest: string, bytes: number): void {
    for (const [line, times] of this.holders.get(digest) ?? []) line.done += bytes * times
  }

  /** The lines to draw now. */
  lines(now = Date.now()): string[] {
    this.rate.add(this.done, now)
    const out: string[] = []
    for (const i of this.images.values()) {
      if (i.present) out.push(`${i.label.padEnd(20)} already present`)
      else if (i.total > 0)
        out.push(
          `${i.label.padEnd(20)} ${bar(i.done, i.total)} ${formatBytes(i.done)} / ${formatBytes(i.total)}`,
        )
    }
    const speed = this.rate.perSecond()
    let status: string = this.phase
    if (this.phase === 'copying blobs' && this.total > 0) {
      status += `: ${formatBytes(Math.max(0, this.done))} of ${formatBytes(this.total)}`
      if (speed !== undefined) {
        status += `, ${formatBytes(speed)}/s`
        if (speed > 0) status += `, ${formatEta((this.total - this.done) / speed)} left`
      }
    } else if (this.phase === 'done')
      status = this.total > 0 ? `done: ${formatBytes(this.total)} sent or checked` : 'done: nothing to send'
    out.push(status)
    return out
  }
}

export async function withCopyProgress<T>(
  opts: ProgressOptions,
  work: (onEvent: CopyEventHandler) => Promise<T>,
): Promise<T> {
  if (opts.quiet) return work(() => undefined)
  // A terminal too narrow to draw on (or of unknown width, as under `script`) gets plain lines.
  const tty = opts.tty ?? progressTty()
  return tty ? runTty(opts.title, work) : work(plainLogger())
}

export function plainLogger(
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): CopyEventHandler {
  return (e: CopyEvent) => {
    switch (e.type) {
      case 'resolved':
        write(`copying ${e.source} (${shortDigest(e.digest)}) to ${e.destination}`)
        break
      case 'up-to-date':
        write(`destination already has ${e.digest}: nothing to copy`)
        break
      case 'image':
        if (e.present) write(`image ${e.platform} ${shortDigest(e.digest)} already present`)
        break
      case 'blob-done':
        write(
          e.action === 'copied'
            ? `blob ${e.digest} copied (${formatBytes(e.size)})`
            : `blob ${e.digest} ${e.action === 'mounted' ? 'mounted' : 'already present'}`,
        )
        break
      case 'blob-retry':
        write(`blob ${e.digest} attempt ${e.attempt} failed (${e.error}); retrying`)
        break
      case 'manifest':
        write(`manifest ${e.digest} written`)
        break
      case 'commit':
        write(`${e.destination} now points at ${e.digest}`)
        break
    }
  }
}

async function runTty<T>(title: string, work: (onEvent: CopyEventHandler) => Promise<T>): Promise<T> {
  // Loaded only for terminals: cron and CI runs never pay for it.
  const { Listr } = await import('listr2')
  const model = new CopyProgressModel()
  const render = () => model.lines().join('\n')
  let result: T | undefined
  const list = new Listr(
    [
      {
        title,
        task: async (_ctx, task) => {
          // Drawn at once: the phase shows before the first manifest arrives.
          task.output = render()
          const timer = setInterval(() => {
            task.output = render()
          }, 100)
          try {
            result = await work(model.onEvent)
          } finally {
            clearInterval(timer)
            task.output = render()
          }
        },
        // outputBar true keeps only the latest output entry: the whole multi-line table.
        rendererOptions: { outputBar: true, persistentOutput: true },
      },
    ],
    await stderrListrOptions(),
  )
  await list.run()
  return result as T
}

function bar(done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1
  const n = Math.round(f * width)
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}]`
}
