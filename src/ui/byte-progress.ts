/**
 * Progress of one long stream of bytes (the SIF converter, uploads, downloads, bundles): a listr2
 * line with a bar on a TTY, a plain line every 10 seconds otherwise (cron, CI, batch jobs).
 */
import { formatBytes } from './format.js'

export type ByteProgress = (done: number, total: number) => void

/** Whether progress is drawn as a live bar (stderr is a terminal wide enough) rather than plain lines. */
export function progressTty(): boolean {
  return Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) >= 40
}

export async function withByteProgress<T>(
  title: string,
  opts: {
    quiet?: boolean
    tty?: boolean
    /** What the bytes are, after the count: default "of the root filesystem" (the SIF converter). */
    what?: string
    /** Plain-line wording, default `what`, else "(compressed) through the converter". */
    plainWhat?: string
  },
  work: (onBytes: ByteProgress) => Promise<T>,
): Promise<T> {
  if (opts.quiet) return work(() => undefined)
  const tty = opts.tty ?? progressTty()
  if (!tty) {
    process.stderr.write(`${title}\n`)
    let last = Date.now()
    return work((done, total) => {
      if (Date.now() - last < 10_000) return
      last = Date.now()
      process.stderr.write(
        `  ${formatBytes(done)} of about ${formatBytes(total)} ${opts.plainWhat ?? opts.what ?? '(compressed) through the converter'}\n`,
      )
    })
  }
  const { Listr, ListrLogger, ProcessOutput } = await import('listr2')
  let done = 0
  let total = 0
  let result: T | undefined
  await new Listr(
    [
      {
        title,
        task: async (_ctx, task) => {
          const timer = setInterval(() => {
            const f = total > 0 ? Math.min(1, done / total) : 0
            const n = Math.round(f * 24)
            task.output = `[${'#'.repeat(n)}${'-'.repeat(24 - n)}] ${formatBytes(done)} ${opts.what ?? 'of the root filesystem'}`
          }, 100)
          try {
            result = await work((d, t) => {
              done = d
              total = t
            })
          } finally {
            clearInterval(timer)
          }
        },
        rendererOptions: { outputBar: true },
      },
    ],
    {
      exitOnError: true,
      registerSignalListeners: false,
      rendererOptions: {
        logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }),
      },
    },
  ).run()
  return result as T
}
