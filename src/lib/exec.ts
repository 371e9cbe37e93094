/**
 * The one place that runs child processes (execa), with typed results and errors.
 */
import { AirlockError } from './errors.js'

export interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
  notFound: boolean
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
}

export async function run(program: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  // Loaded on first use: most commands never start a child process, and execa is slow to import.
  const { execa } = await import('execa')
  const res = await execa(program, args, {
    input: opts.input,
    env: opts.env,
    extendEnv: opts.env === undefined,
    cwd: opts.cwd,
    reject: false,
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    stripFinalNewline: false,
  })
  const notFound = (res as { code?: string }).code === 'ENOENT'
  const out: RunResult = {
    exitCode: res.exitCode ?? (notFound ? 127 : 1),
    stdout: String(res.stdout ?? ''),
    stderr: String(res.stderr ?? ''),
    notFound,
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
