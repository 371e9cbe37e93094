/**
 * The base of every airlock command: `--json` and `--debug`, error rendering with exit codes
 * (src/lib/errors.ts; docs/architecture.md, the error model), and an AbortSignal that SIGINT/SIGTERM/SIGHUP
 * trigger so work stops cleanly (no tag is written after an interrupt).
 */
import { Command, Flags } from '@oclif/core'
import { AirlockError, EXIT, toAirlockError } from '../lib/errors.js'
import { closeAgents } from '../lib/transports/registry/agent-pool.js'
import { redact } from './redact.js'

/** Ctrl-C, kill and Slurm's time limit (SIGTERM), a closed terminal or ssh session (SIGHUP). */
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

export const EXIT_CODES_HELP = `EXIT CODES
  0 ok
  1 failed (also when every image of a mirror, bundle or push failed; a disk or permission error)
  2 bad input or usage (also a file or directory given that does not exist)
  3 partly failed (some images failed, others were done)
  4 over quota, 5 verification failed`

export abstract class AirlockCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({
      description: 'Print one JSON document on stdout (errors too).',
      helpGroup: 'GLOBAL',
    }),
    debug: Flags.boolean({
      description: 'Show stack traces and HTTP details of errors.',
      helpGroup: 'GLOBAL',
    }),
  }

  protected abortController = new AbortController()
  private onSignal = (sig: NodeJS.Signals) => {
    if (this.abortController.signal.aborted) process.exit(130)
    this.abortController.abort(new AirlockError('INTERRUPTED', `interrupted by ${sig}; nothing was tagged`))
  }

  get jsonMode(): boolean {
    return this.argv.includes('--json')
  }

  get debugMode(): boolean {
    return this.argv.includes('--debug')
  }

  override async init(): Promise<void> {
    await super.init()
    // `on`, not `once`: execa loads signal-exit, which re-raises a signal (killing the process before
    // any cleanup) when it finds itself the only listener left, as it would after a `once` fired.
    for (const sig of SIGNALS) process.on(sig, this.onSignal)
  }

  override async finally(err: Error | undefined): Promise<void> {
    for (const sig of SIGNALS) process.off(sig, this.onSignal)
    await closeAgents()
    return super.finally(err)
  }

  protected printJson(doc: unknown): void {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`)
  }

  override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own exits (help, --version) and its usage errors.
    if (err.oclif?.exit !== undefined && !(err instanceof AirlockError)) {
      if (err.message.startsWith('EEXIT')) throw err
      if (this.jsonMode) {
        this.printJson({ error: { code: 'INVALID_INPUT', message: redact(err.message) } })
        this.exit(EXIT.USAGE)
      }
      throw err
    }
    // After SIGINT/SIGTERM an error is reported as the interrupt, unless the library already said
    // what the interrupt left behind (its own INTERRUPTED error, e.g. "no file was written").
    const reason = this.abortController.signal.reason
    const explained = err instanceof AirlockError && err.code === 'INTERRUPTED'
    const e =
      !explained && this.abortController.signal.aborted && reason instanceof AirlockError
        ? reason
        : toAirlockError(err)
    if (this.jsonMode) {
      this.printJson({
        error: { code: e.code, message: redact(e.message), ...(e.hint ? { hint: redact(e.hint) } : {}) },
      })
    } else {
      process.stderr.write(`Error: ${redact(e.message)}\n`)
      if (e.hint) process.stderr.write(`Hint: ${redact(e.hint)}\n`)
      if (this.debugMode) process.stderr.write(`${redact(String((e.cause as Error)?.stack ?? e.stack))}\n`)
    }
    this.exit(e.exitCode)
  }
}
