/**
 * A `Runner` that runs commands on another node over ssh, for `airlock quota --node NAME`.
 *
 * ssh joins its command arguments with spaces and hands them to the remote user's shell, so every
 * argument is single-quoted here and the remote side sees exactly `argv`. BatchMode (never ask for a
 * password or a host key), a connect timeout and keepalives, and a timeout on the whole command:
 * a node that is down, refuses the key or hangs becomes an UNREACHABLE error naming the node and
 * ssh's own words, which the probe reports for that node without failing the others.
 *
 * Host keys: airlock does not change ssh's host-key policy unless asked (`strictHostKeyChecking`):
 * the user's ~/.ssh/config and the system known_hosts decide, and in BatchMode an unknown key fails
 * closed ("Host key verification failed"), with a hint.
 *
 * One connection per node: a probe runs about seven commands on a node, and each ssh connection
 * costs a TCP and key exchange and a login (and a line in the node's auth log). The runner shares one
 * connection between them with OpenSSH's connection multiplexing: the first command starts a master
 * (ControlMaster=auto) whose socket is in a private directory of this runner (mode 0700, in the temp
 * directory), kept ControlPersist seconds after its last command as a safety net; close() ends it
 * (`ssh -O exit`) and removes the directory.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AirlockError } from '../errors.js'
import { run } from '../exec.js'
import type { QuotaNode } from './report.js'
import type { Runner } from './types.js'

export interface SshRunnerOptions {
  /** `ssh -i FILE` (with IdentitiesOnly=yes, so agents' other keys are not tried first). */
  identityFile?: string
  /** `ssh -p PORT`; a `:PORT` in the host wins. */
  port?: number
  /** `ssh -l USER`; a `USER@` in the host wins. */
  user?: string
  /** Seconds to wait for the TCP connection (default 5). */
  connectTimeoutSec?: number
  /** Milliseconds a command may take, connection included, unless the call says (default 120 s). */
  timeoutMs?: number
  /** `ssh -F FILE`: an ssh config file instead of ~/.ssh/config. */
  configFile?: string
  /** `-o UserKnownHostsFile=FILE`. */
  knownHostsFile?: string
  /** `-o StrictHostKeyChecking=…`; default: whatever the ssh config says. */
  strictHostKeyChecking?: 'yes' | 'accept-new' | 'no'
  /** More ssh arguments, before the host: `['-o', 'ProxyJump=gateway']`. */
  extraArgs?: string[]
  /** The ssh program (default `ssh` on PATH). */
  program?: string
  /** Environment of the ssh process (default process.env). */
  env?: NodeJS.ProcessEnv
  /** One shared connection for all commands (OpenSSH ControlMaster; default true). Call close(). */
  share?: boolean
  /** Directory in which the private directory of the control socket is made (default: the temp dir). */
  controlDir?: string
  /** Seconds the shared connection outlives its last command if close() is never called (default 10). */
  controlPersistSec?: number
}

/** A Runner over ssh; close() ends the shared connection (call it when the node is done). */
export interface SshRunner extends Runner {
  close(): Promise<void>
}

/** The control socket of a shared connection and how long the master lingers. */
export interface SshControl {
  path: string
  persistSec: number
}

export interface SshTarget {
  /** Host name, address or ssh config alias. */
  host: string
  user?: string
  port?: number
}

/** `user@host:port`, `host`, `alias`, `[::1]:2222`, `user@[fe80::1]`: the parts ssh takes apart. */
export function parseSshTarget(spec: string): SshTarget {
  const s = spec.trim()
  const at = s.lastIndexOf('@')
  const user = at > 0 ? s.slice(0, at) : undefined
  let rest = at >= 0 ? s.slice(at + 1) : s
  let port: number | undefined
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest)
  if (bracket) {
    rest = bracket[1]!
    if (bracket[2]) port = Number(bracket[2])
  } else {
    const m = /^([^:]+):(\d+)$/.exec(rest)
    if (m) {
      rest = m[1]!
      port = Number(m[2])
    }
  }
  if (
    !rest ||
    /\s/.test(rest) ||
    rest.startsWith('-') ||
    (port !== undefined && (port < 1 || port > 65535))
  ) {
    throw new AirlockError('INVALID_INPUT', `"${spec}" is not a node airlock can reach over ssh`, {
      hint: 'name a node as an ssh config alias, HOST, USER@HOST or USER@HOST:PORT',
    })
  }
  return { host: rest, ...(user ? { user } : {}), ...(port ? { port } : {}) }
}

/** One argument for a POSIX shell: single-quoted unless it is plainly safe. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replace(/'/g, `'\\''`)}'`
}

/** The ssh arguments that run `argv` on `spec`'s node (without the program name). */
export function sshArgv(
  spec: string,
  argv: string[],
  opts: SshRunnerOptions = {},
  control?: SshControl,
): string[] {
  const target = parseSshTarget(spec)
  const args = sshOptions(target, opts)
  if (control) {
    // After the caller's own options: `-o ControlMaster=no` in them turns sharing off (first one wins).
    args.push(
      '-o',
      'ControlMaster=auto',
      '-o',
      `ControlPath=${control.path.replace(/%/g, '%%')}`,
      '-o',
      `ControlPersist=${Math.max(1, Math.round(control.persistSec))}s`,
    )
  }
  // `--` ends ssh's options; the command is one string, as the remote shell will parse it.
  args.push('--', target.host, argv.map(shellQuote).join(' '))
  return args
}

/** Every ssh option for the node (config file, batch mode, timeouts, key, port, user, extra). */
function sshOptions(target: SshTarget, opts: SshRunnerOptions): string[] {
  const args: string[] = []
  if (opts.configFile) args.push('-F', opts.configFile)
  args.push(
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${Math.max(1, Math.round(opts.connectTimeoutSec ?? 5))}`,
    '-o',
    'ServerAliveInterval=5',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'LogLevel=ERROR',
  )
  if (opts.strictHostKeyChecking) args.push('-o', `StrictHostKeyChecking=${opts.strictHostKeyChecking}`)
  if (opts.knownHostsFile) args.push('-o', `UserKnownHostsFile=${opts.knownHostsFile}`)
  if (opts.identityFile) args.push('-i', opts.identityFile, '-o', 'IdentitiesOnly=yes')
  const port = target.port ?? opts.port
  if (port) args.push('-p', String(port))
  const user = target.user ?? opts.user
  if (user) args.push('-l', user)
  args.push(...(opts.extraArgs ?? []))
  return args
}

/**
 * The parent of the control socket's private directory: the temp dir, unless its path is too long for
 * a Unix socket (about 100 bytes with ssh's temporary suffix) or holds characters ssh's option parser
 * would split on; then /tmp.
 */
function controlBase(opts: SshRunnerOptions): string {
  const base = opts.controlDir ?? tmpdir()
  return base.length <= 60 && /^[A-Za-z0-9_./-]+$/.test(base) ? base : '/tmp'
}

/** ssh's exit status for its own failures (connection, authentication, host key). */
const SSH_FAILED = 255

/** The last meaningful line ssh wrote about a failure, without the noise. */
function sshReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Warning: Permanently added/.test(l))
  return lines.at(-1) ?? 'ssh failed without a message'
}

function unreachableHint(reason: string, node: string): string {
  if (
    /Host key verification failed|No .* host key is known|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(
      reason,
    )
  )
    return `ssh does not know ${node}'s host key: connect once with \`ssh ${node}\` and check the key, or set StrictHostKeyChecking accept-new for it in ~/.ssh/config`
  if (/Permission denied/i.test(reason))
    return `ssh to ${node} needs a key that works without a password (BatchMode): check ssh-agent or IdentityFile for it in ~/.ssh/config`
  if (/Could not resolve hostname/i.test(reason))
    return `check the node name, or add a Host entry for it in ~/.ssh/config`
  return `check that ${node} is up and that \`ssh ${node} true\` works without a prompt`
}

/**
 * A Runner for `spec` (`user@host[:port]` or an ssh config alias). A remote command's own exit status
 * is returned as it is (127 = not installed there, marked notFound); a failure of ssh itself (exit
 * 255 with an ssh message, or the timeout) throws UNREACHABLE naming the node.
 */
export function sshRunner(spec: string, opts: SshRunnerOptions = {}): SshRunner {
  const node = spec.trim()
  const target = parseSshTarget(node) // refuse a bad name before the first command
  const program = opts.program ?? 'ssh'
  const persistSec = opts.controlPersistSec ?? 10
  // The private directory of the control socket, made by the first command (0700, as mkdtemp makes it).
  let controlDir: Promise<string> | undefined
  const control = async (): Promise<SshControl | undefined> => {
    if (opts.share === false) return undefined
    controlDir ??= mkdtemp(join(controlBase(opts), 'airlock-ssh-'))
    return { path: join(await controlDir, 'ctl'), persistSec }
  }
  const runner = async (argv: string[], callOpts: { timeoutMs?: number; input?: string } = {}) => {
    const timeoutMs = callOpts.timeoutMs ?? opts.timeoutMs ?? 120_000
    const timer = AbortSignal.timeout(timeoutMs)
    const res = await run(program, sshArgv(node, argv, opts, await control()), {
      input: callOpts.input ?? '',
      env: opts.env,
      reject: false,
      signal: timer,
    })
    if (res.notFound) {
      throw new AirlockError(
        'NOT_FOUND',
        `cannot reach ${node}: ${program} is not installed or not on PATH`,
        {
          hint: 'install the OpenSSH client (openssh-client)',
        },
      )
    }
    if (timer.aborted && res.exitCode !== 0) {
      throw new AirlockError(
        'UNREACHABLE',
        `${node}: no answer within ${Math.round(timeoutMs / 1000)} s to ${argv[0] ?? 'a command'} over ssh`,
        {
          hint: `check that ${node} is up and not hanging (a stuck filesystem, a full login node)`,
          retryable: true,
        },
      )
    }
    if (res.exitCode === SSH_FAILED && looksLikeSshFailure(res.stderr)) {
      const reason = sshReason(res.stderr)
      throw new AirlockError('UNREACHABLE', `${node}: ${reason}`, {
        hint: unreachableHint(reason, node),
        retryable: /timed out|refused|unreachable/i.test(reason),
      })
    }
    return { exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr, notFound: res.exitCode === 127 }
  }
  const close = async (): Promise<void> => {
    const made = controlDir
    if (!made) return
    controlDir = undefined
    const dir = await made.catch(() => undefined)
    if (!dir) return
    const path = join(dir, 'ctl')
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    ) {
      // The master ends its connection and removes its socket; the directory goes with it.
      await run(
        program,
        [
          ...sshOptions(target, opts),
          '-o',
          `ControlPath=${path.replace(/%/g, '%%')}`,
          '-O',
          'exit',
          '--',
          target.host,
        ],
        { input: '', env: opts.env, reject: false, signal: AbortSignal.timeout(10_000) },
      ).catch(() => undefined)
    }
    await rm(dir, { recursive: true, force: true })
  }
  return Object.assign(runner, { close })
}

/** Whether ssh, rather than the remote command, wrote this (a remote command may also exit 255). */
function looksLikeSshFailure(stderr: string): boolean {
  return /^(ssh:|kex_exchange_identification|Connection (closed|reset|timed out)|Host key verification failed|Permission denied|.*port \d+: )|Could not resolve|No route to host|Connection refused|ssh_exchange_identification|banner exchange/im.test(
    stderr,
  )
}

/** `--node NAME` (repeatable) or the config's `quota.nodes`, as nodes for quotaReport: probed over ssh, in parallel. */
export function sshQuotaNodes(names: string[], opts: SshRunnerOptions = {}): QuotaNode[] {
  return [...new Set(names.map((n) => n.trim()).filter(Boolean))].map((name) => {
    const run = sshRunner(name, opts)
    return { name, run, close: run.close }
  })
}
