/**
 * The one place that runs child processes (execa), with typed results and errors.
 */
import type { Readable } from 'node:stream'
import { AirlockError } from './errors.js'

export interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
  notFound: boolean
  /** The signal that killed the program, if one did. */
  signal?: string
}

export interface RunOptions {
  input?: string
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Throw EXEC_FAILED on a non-zero exit (default true). */
  reject?: boolean
  timeoutMs?: number
  signal?: AbortSignal
  /** Names the command in error messages (default: the program and its first argument). */
  label?: string
  /**
   * Run the program in a session and process group of its own (execa `detached`), so that a signal
   * sent to airlock's process group (a terminal's Ctrl-C or hangup, a batch system's time limit) does
   * not kill it under airlock: airlock stops it itself, through `signal`, and then cleans up. It is
   * killed if airlock exits while it still runs.
   */
  ownProcessGroup?: boolean
}

export async function run(program: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  // Loaded on first use: most commands never start a child process, and execa is slow to import.
  const { execa } = await import('execa')
  const sub = execa(program, args, { ...execaOptions(opts), input: opts.input })
  // execa's own kill-on-exit leaves detached programs alone.
  const killOnExit = () => sub.kill('SIGKILL')
  if (opts.ownProcessGroup) process.on('exit', killOnExit)
  const res = await sub.finally(() => process.off('exit', killOnExit))
  return settle(program, args, res, opts)
}

/** What run and runWithInput ask of execa: never reject (settle decides), keep output as printed. */
function execaOptions(opts: Omit<RunOptions, 'input'>) {
  return {
    env: opts.env,
    extendEnv: opts.env === undefined,
    cwd: opts.cwd,
    reject: false,
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    stripFinalNewline: false,
    detached: opts.ownProcessGroup ?? false,
  } as const
}

export interface InputRunOptions extends Omit<RunOptions, 'input'> {
  /** Called with the size of every chunk handed to the program's stdin. */
  onInputBytes?: (n: number) => void
}

/**
 * Runs a program with `input` streamed into its stdin, with backpressure. When `input` fails, the
 * program is killed and the input's error is thrown (the program never sees a short stream as a
 * complete one). When the program exits early, `input` is destroyed and the exit status decides.
 */
export async function runWithInput(
  program: string,
  args: string[],
  input: Readable,
  opts: InputRunOptions = {},
): Promise<RunResult> {
  const { execa } = await import('execa')
  const sub = execa(program, args, { ...execaOptions(opts), stdin: 'pipe', maxBuffer: 16 * 1024 * 1024 })
  // execa's own kill-on-exit leaves detached programs alone.
  const killOnExit = () => sub.kill('SIGKILL')
  if (opts.ownProcessGroup) process.on('exit', killOnExit)
  let inputError: unknown
  const stdin = sub.stdin
  // EPIPE when the program exits before reading everything: its exit status says why.
  stdin.on('error', () => undefined)
  const feed = (async () => {
    try {
      for await (const chunk of input) {
        if (stdin.destroyed) break
        opts.onInputBytes?.((chunk as Buffer).length)
        if (!stdin.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              stdin.off('drain', done)
              stdin.off('close', done)
              resolve()
            }
            stdin.on('drain', done)
            stdin.on('close', done)
          })
        }
      }
    } catch (err) {
      inputError = err
      sub.kill()
      stdin.destroy()
      return
    }
    if (stdin.destroyed) input.destroy()
    else stdin.end()
  })()
  const res = await sub.finally(() => process.off('exit', killOnExit))
  await feed
  if (inputError !== undefined) throw inputError
  if (res.isCanceled) {
    throw new AirlockError('INTERRUPTED', `${opts.label ?? program} was interrupted`, {
      cause: opts.signal?.reason,
    })
  }
  return settle(program, args, res, opts)
}

/** The RunResult of a finished execa child; EXEC_FAILED for a non-zero exit unless reject is false. */
function settle(
  program: string,
  args: string[],
  res: { exitCode?: number; stdout?: unknown; stderr?: unknown; signal?: string },
  opts: { reject?: boolean; label?: string },
): RunResult {
  const notFound = (res as { code?: string }).code === 'ENOENT'
  const out: RunResult = {
    exitCode: res.exitCode ?? (notFound ? 127 : 1),
    stdout: String(res.stdout ?? ''),
    stderr: String(res.stderr ?? ''),
    notFound,
    ...(res.signal ? { signal: res.signal } : {}),
  }
  if ((opts.reject ?? true) && (out.exitCode !== 0 || notFound)) {
    throw new AirlockError(
      'EXEC_FAILED',
      notFound
        ? `${program} is not installed or not on PATH`
        : `${opts.label ?? `${program} ${args[0] ?? ''}`} exited with ${out.exitCode}: ${out.stderr.trim().split('\n').slice(-3).join(' ')}`,
      { hint: notFound ? `install ${program}` : undefined },
    )
  }
  return out
}
