/**
 * Runs the built CLI (`bin/run.js`, after `npm run build`) as a user would, in an isolated HOME so
 * no auth file of the machine is read; and any other program the tests drive (runProcess).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface ProcessResult extends CliResult {
  /** stdout and stderr as they arrived, interleaved. */
  output: string
  /** Killed (SIGKILL) because it ran longer than timeoutMs. */
  timedOut: boolean
}

export interface ProcessOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** The process's stdin; without it, stdin is /dev/null. */
  input?: string
  /** Kill it (SIGKILL) after this long (default 30 s). */
  timeoutMs?: number
  /** Called with each stderr line as it arrives (e.g. to kill the process half way). */
  onStderrLine?: (line: string, child: ReturnType<typeof spawn>) => void
}

export type CliOptions = ProcessOptions

/** HOMEs made by isolatedEnv; test/setup.ts removes them after each test file. */
const homes: string[] = []

export function removeIsolatedHomes(): void {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true })
}

/** A fresh HOME with no auth files; XDG_RUNTIME_DIR and REGISTRY_AUTH_FILE unset. Removed after the file. */
export function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(path.join(tmpdir(), 'airlock-home-'))
  homes.push(home)
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') }
  delete env.XDG_RUNTIME_DIR
  delete env.REGISTRY_AUTH_FILE
  delete env.DOCKER_CONFIG
  return { ...env, ...extra }
}

/** Runs any program to its end, collecting what it prints. */
export function runProcess(cmd: string, args: string[], opts: ProcessOptions = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let output = ''
    let partial = ''
    let timedOut = false
    child.stdout!.on('data', (d) => {
      stdout += d
      output += d
    })
    child.stderr!.on('data', (d) => {
      stderr += d
      output += d
      if (opts.onStderrLine) {
        partial += d
        const lines = partial.split('\n')
        partial = lines.pop() ?? ''
        for (const l of lines) opts.onStderrLine(l, child)
      }
    })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, opts.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, output, timedOut })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** The built CLI with `args`, in an isolated HOME unless `env` is given; stdin is `input` or empty. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], {
    ...opts,
    env: opts.env ?? isolatedEnv(),
    input: opts.input ?? '',
    timeoutMs: opts.timeoutMs ?? 60_000,
  })
}

/** `r` when it exited 0; else an error with its exit status and everything it printed. */
export function ok<T extends { code: number | null; stdout: string; stderr: string }>(r: T, what: string): T {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`)
  return r
}

export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`)
  }
}
