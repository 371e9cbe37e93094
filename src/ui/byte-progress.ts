/**
 * Progress of one long stream of bytes (the SIF converter, uploads, downloads, bundles): a listr2
 * line on a TTY (a bar when the total is known, bytes, speed, time left, the phase), a plain line
 * every 10 seconds otherwise (cron, CI, batch jobs). Both on stderr only (listr-stderr.ts).
 */
import { formatBytes } from './format.js'
import { formatEta, Rate, stderrListrOptions } from './listr-stderr.js'

/** Bytes done of total (0 when not known); `phase` names the step under way when it changes. */
export type ByteProgress = (done: number, total: number, phase?: string) => void

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
    /** Plain-line wording, default `what`, else "of the root filesystem through the converter". */
    plainWhat?: string
    /**
     * False when the total is only a guess of another measure (the SIF converter counts the
     * uncompressed root filesystem; the total it knows is the compressed layers): no bar, no time left.
     */
    totalKnown?: boolean
    /** The phase shown before the first count arrives (default none: "starting…"). */
    phase?: string
  },
  work: (onBytes: ByteProgress) => Promise<T>,
): Promise<T> {
  if (opts.quiet) return work(() => undefined)
  const tty = opts.tty ?? progressTty()
  const what = opts.what ?? 'of the root filesystem'
  const totalKnown = opts.totalKnown ?? true
  if (!tty) {
    process.stderr.write(`${title}\n`)
    let last = Date.now()
    let lastPhase = opts.phase
    return work((done, total, phase) => {
      if (phase && phase !== lastPhase) {
        lastPhase = phase
        process.stderr.write(`  ${phase}\n`)
      }
      if (Date.now() - last < 10_000) return
      last = Date.now()
      const of = totalKnown && total > 0 ? ` of ${formatBytes(total)}` : ''
      process.stderr.write(
        `  ${formatBytes(done)}${of} ${opts.plainWhat ?? (opts.what ? what : 'of the root filesystem through the converter')}\n`,
      )
    })
  }
  const { Listr } = await import('listr2')
  const state: { done: number; total: number; phase?: string } = { done: 0, total: 0, phase: opts.phase }
  const rate = new Rate()
  let result: T | undefined
  await new Listr(
    [
      {
        title,
        task: async (_ctx, task) => {
          const draw = () => {
            task.output = byteLine(state, rate.perSecond(), what, totalKnown)
          }
          draw()
          const timer = setInterval(() => {
            rate.add(state.done)
            draw()
          }, 100)
          try {
            result = await work((d, t, phase) => {
              state.done = d
              state.total = t
              if (phase) state.phase = phase
            })
          } finally {
            clearInterval(timer)
          }
        },
        rendererOptions: { outputBar: true },
      },
    ],
    await stderrListrOptions(),
  ).run()
  return result as T
}

/** One progress line: the phase, then (once bytes move) a bar when the total is known, bytes, speed, time left. */
export function byteLine(
  s: { done: number; total: number; phase?: string },
  speed: number | undefined,
  what: string,
  totalKnown: boolean,
): string {
  // Never "0 B / 0 B": until bytes move, the phase alone.
  if (s.done <= 0) return `${s.phase ?? 'starting'}…`
  const known = totalKnown && s.total > 0
  let line = s.phase ? `${s.phase}: ` : ''
  if (known) {
    const f = Math.min(1, s.done / s.total)
    const n = Math.round(f * 24)
    line += `[${'#'.repeat(n)}${'-'.repeat(24 - n)}] ${formatBytes(s.done)} / ${formatBytes(s.total)} ${what}`
  } else line += `${formatBytes(s.done)} ${what}`
  if (speed !== undefined) {
    line += `, ${formatBytes(speed)}/s`
    if (known && speed > 0 && s.done < s.total) line += `, ${formatEta((s.total - s.done) / speed)} left`
  }
  return line
}
