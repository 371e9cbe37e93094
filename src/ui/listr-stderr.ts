/**
 * listr2 options that keep every byte of progress on stderr, so stdout holds only the command's
 * result (one JSON document with --json) even when stdout is a pipe or a file and stderr a terminal.
 *
 * listr2 picks its renderer by `process.stdout.isTTY` and falls back to its simple renderer, whose
 * default logger writes to stdout, when stdout is not a terminal, unless the renderer class says it
 * does not need one (`static nonTTY`; node_modules/listr2/dist/index.js, isRendererSupported). We
 * decide ourselves (stderr a terminal: see progressTty) and so use the default renderer, flagged
 * nonTTY, with a logger whose "stdout" is process.stderr too
 * (https://listr2.kilic.dev/renderer/process-output.html).
 */
import type { ListrBaseClassOptions } from 'listr2'

export async function stderrListrOptions(): Promise<ListrBaseClassOptions> {
  const { DefaultRenderer, ListrLogger, ProcessOutput } = await import('listr2')
  class StderrRenderer extends DefaultRenderer {
    static override nonTTY = true
  }
  return {
    exitOnError: true,
    registerSignalListeners: false,
    renderer: StderrRenderer,
    rendererOptions: {
      logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }),
    },
    // The class is the default renderer with one static more: typed as the default renderer.
  } as unknown as ListrBaseClassOptions
}

/** A rate from samples of (time in ms, bytes done), over the last few seconds. */
export class Rate {
  private samples: Array<[number, number]> = []
  constructor(private windowMs = 5000) {}
  add(done: number, now = Date.now()): void {
    this.samples.push([now, done])
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift()
  }
  /** Bytes per second, or undefined before there is half a second of samples. */
  perSecond(): number | undefined {
    if (this.samples.length < 2) return undefined
    const [t0, d0] = this.samples[0]
    const [t1, d1] = this.samples[this.samples.length - 1]
    if (t1 - t0 < 500) return undefined
    return Math.max(0, ((d1 - d0) * 1000) / (t1 - t0))
  }
}

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  const s = Math.ceil(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}
