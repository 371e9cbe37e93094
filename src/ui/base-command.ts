/**
 * The base of every airlock command: `--json` and `--debug`, error rendering with exit codes
 * (src/lib/errors.ts; docs/architecture.md, the error model), and an AbortSignal that SIGINT/SIGTERM/SIGHUP
 * trigger so work stops cleanly (no tag is written after an interrupt).
 */
import { Command, Flags, type Interfaces } from '@oclif/core'
import { AirlockError, EXIT, toAirlockError } from '../lib/errors.js'
import { closeAgents } from '../lib/transports/registry/agent-pool.js'
import { observeRequests } from '../lib/transports/registry/client.js'
import { redact } from './redact.js'
import { isParseError, usageErrorText } from './usage-error.js'

type FlagOutput = Interfaces.OutputFlags<Interfaces.FlagInput>
type ArgOutput = Interfaces.OutputArgs<Interfaces.ArgInput>

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
      description:
        'Print each registry request (method, URL, status) on stderr, and stack traces of errors; also before the command (airlock --debug copy ...).',
      helpGroup: 'GLOBAL',
    }),
  }

  protected abortController = new AbortController()
  private stopObserving?: () => void
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
    if (this.debugMode) {
      this.stopObserving = observeRequests((r) =>
        process.stderr.write(redact(`debug: ${r.method} ${r.host}${r.path} ${r.status}\n`)),
      )
    }
  }

  /**
   * Arguments come from the command line only: oclif would otherwise fill a missing argument
   * from piped stdin (`echo host/x:2 | airlock copy SRC` copying to host/x:2, `airlock load <
   * image.tar` taking the archive's bytes as its path). Commands that read stdin say so (`-`,
   * --password-stdin, load without a file).
   */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const o = options ?? (this.ctor as unknown as Interfaces.Input<F, B, A>)
    const args = Object.fromEntries(
      Object.entries(o.args ?? {}).map(([k, a]) => [k, { ...a, ignoreStdin: true }]),
    )
    // Picked one by one: a command class's inherited statics (baseFlags) are not own properties.
    const input = {
      flags: o.flags,
      baseFlags: o.baseFlags,
      constraints: o.constraints,
      enableJsonFlag: o.enableJsonFlag,
      strict: o.strict,
      context: o.context,
      '--': o['--'],
      args,
    }
    return super.parse(input as Interfaces.Input<F, B, A>, argv)
  }

  override async finally(err: Error | undefined): Promise<void> {
    for (const sig of SIGNALS) process.off(sig, this.onSignal)
    this.stopObserving?.()
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
      if (isParseError(err)) {
        process.stderr.write(redact(usageErrorText(err, this.config.bin, this.ctor)))
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
