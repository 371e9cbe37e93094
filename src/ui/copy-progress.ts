/**
 * Copy progress: on a TTY, a listr2 task with one line per image (bytes done of bytes to send);
 * otherwise plain log lines on stderr, one per blob and manifest, fit for cron mail and CI logs.
 */
import type { CopyEvent, CopyEventHandler } from '../lib/copy/events.js'
import { formatBytes, shortDigest } from './format.js'

export interface ProgressOptions {
  title: string
  quiet?: boolean
  tty?: boolean
}

interface ImageLine {
  platform: string
  total: number
  done: number
  present: boolean
}

export async function withCopyProgress<T>(
  opts: ProgressOptions,
  work: (onEvent: CopyEventHandler) => Promise<T>,
): Promise<T> {
  if (opts.quiet) return work(() => undefined)
  // A terminal too narrow to draw on (or of unknown width, as under `script`) gets plain lines.
  const tty = opts.tty ?? (Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) >= 40)
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
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2')
  const images = new Map<string, ImageLine>()
  const owner = new Map<string, string>()
  let note = ''
  const onEvent: CopyEventHandler = (e) => {
    if (e.type === 'image') {
      const label = e.platform === 'unknown' ? `image ${shortDigest(e.digest)}` : e.platform
      const line: ImageLine = { platform: label, total: 0, done: 0, present: e.present }
      images.set(e.digest, line)
      for (const b of e.blobs) if (!owner.has(b)) owner.set(b, e.digest)
    } else if (e.type === 'blob-start') {
      const img = images.get(owner.get(e.digest) ?? '')
      if (img) img.total += e.size
    } else if (e.type === 'blob-progress') {
      const img = images.get(owner.get(e.digest) ?? '')
      if (img) img.done += e.delta
    } else if (e.type === 'up-to-date') note = 'already up to date'
    else if (e.type === 'commit') note = `tagged ${shortDigest(e.digest)}`
  }
  const render = () =>
    [
      ...[...images.values()].map((i) =>
        i.present
          ? `${i.platform.padEnd(20)} already present`
          : `${i.platform.padEnd(20)} ${bar(i.done, i.total)} ${formatBytes(i.done)} / ${formatBytes(i.total)}`,
      ),
      note,
    ]
      .filter(Boolean)
      .join('\n')
  let result: T | undefined
  const list = new Listr(
    [
      {
        title,
        task: async (_ctx, task) => {
          const timer = setInterval(() => {
            task.output = render()
          }, 100)
          try {
            result = await work(onEvent)
          } finally {
            clearInterval(timer)
            task.output = render()
          }
        },
        // outputBar true keeps only the latest output entry: the whole multi-line table.
        rendererOptions: { outputBar: true, persistentOutput: true },
      },
    ],
    {
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: {
        logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }),
      },
    },
  )
  await list.run()
  return result as T
}

function bar(done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1
  const n = Math.round(f * width)
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}]`
}
