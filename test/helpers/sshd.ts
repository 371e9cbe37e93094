/**
 * Real OpenSSH servers (Debian `openssh-server`) on 127.0.0.1 as test "nodes" for `airlock quota
 * --node`: each node is its own `sshd -D -e` with its own host key, config and PID file in a
 * temporary directory, and its own environment (sshd's `SetEnv`: HOME, PATH, …), so each node sees
 * its own ~/.config/containers/storage.conf, graphroot and quota tools. One client key logs in to all
 * of them; an ssh config file names every node as a Host alias with that key and a known_hosts file
 * holding each node's real host key (StrictHostKeyChecking yes). A node made `down` is an alias
 * pointing at a free port where nothing listens.
 *
 * Tests run as root: PermitRootLogin yes, UsePAM no, StrictModes no (temp files are not root-only).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { freePort } from './ports.js'

export const SSHD = '/usr/sbin/sshd'

export interface SshNodeSpec {
  name: string
  /** Environment of the node's sessions (sshd SetEnv); HOME defaults to the node's own home dir. */
  env?: Record<string, string>
  /** Prepares the node's directory before its sshd starts (storage.conf, tools); returns more env. */
  setup?: (dir: string) => Promise<Record<string, string> | undefined>
  /** Nothing listens: the alias points at a free port. */
  down?: boolean
}

export interface SshNode {
  name: string
  port: number
  /** The node's own directory (home/, sshd_config, host key). */
  dir: string
  /** Its HOME in ssh sessions. */
  home: string
  down: boolean
  /** Stops this node's sshd (by its PID). */
  stop(): Promise<void>
}

export interface SshCluster {
  dir: string
  /** ssh config file naming every node as `Host <name>` (ssh -F). */
  configFile: string
  identityFile: string
  knownHostsFile: string
  nodes: Map<string, SshNode>
  stop(): Promise<void>
}

async function keygen(file: string): Promise<string> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'airlock-test', '-f', file])
  return (await readFile(`${file}.pub`, 'utf8')).trim()
}

function sshdConfig(dir: string, port: number, env: Record<string, string>): string {
  const setEnv = Object.entries(env)
    .map(([k, v]) => `${k}=${/\s/.test(v) ? `"${v}"` : v}`)
    .join(' ')
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PrintMotd no',
    'PrintLastLog no',
    'Subsystem sftp internal-sftp',
    ...(setEnv ? [`SetEnv ${setEnv}`] : []),
    '',
  ].join('\n')
}

/** Starts sshd and waits until it listens; rejects with its stderr if it exits first. */
function startSshd(config: string): Promise<ChildProcess> {
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`sshd did not start within 10 s: ${stderr}`))
    }, 10_000)
    child.stderr?.on('data', (d) => {
      stderr += d
      if (/Server listening on/.test(stderr)) {
        clearTimeout(timer)
        resolve(child)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`sshd exited (${code}) before listening: ${stderr}`))
    })
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  process.kill(child.pid, 'SIGTERM')
  const t = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}

export async function startSshCluster(specs: SshNodeSpec[]): Promise<SshCluster> {
  // sshd refuses to start as root without its privilege-separation directory (Debian's service makes it).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 })
  const dir = await mkdtemp(join(tmpdir(), 'airlock-sshd-'))
  const identityFile = join(dir, 'client_ed25519')
  const clientKey = await keygen(identityFile)
  const knownHostsFile = join(dir, 'known_hosts')
  const configFile = join(dir, 'ssh_config')
  const nodes = new Map<string, SshNode>()
  const known: string[] = []
  const hosts: string[] = []
  try {
    for (const spec of specs) {
      const nodeDir = join(dir, spec.name)
      const home = join(nodeDir, 'home')
      await mkdir(home, { recursive: true })
      let port = await freePort()
      let child: ChildProcess | undefined
      if (!spec.down) {
        const hostKey = await keygen(join(nodeDir, 'host_ed25519'))
        await writeFile(join(nodeDir, 'authorized_keys'), `${clientKey}\n`)
        const env = { HOME: home, ...spec.env, ...(await spec.setup?.(nodeDir)) }
        for (let attempt = 0; !child; attempt++) {
          const config = join(nodeDir, 'sshd_config')
          await writeFile(config, sshdConfig(nodeDir, port, env))
          try {
            child = await startSshd(config)
          } catch (err) {
            if (attempt >= 3 || !/Address already in use|Bind to port/i.test(String(err))) throw err
            port = await freePort()
          }
        }
        known.push(`[127.0.0.1]:${port} ${hostKey.split(' ').slice(0, 2).join(' ')}`)
      }
      hosts.push(
        [
          `Host ${spec.name}`,
          '  HostName 127.0.0.1',
          `  Port ${port}`,
          '  User root',
          `  IdentityFile ${identityFile}`,
          '  IdentitiesOnly yes',
          `  UserKnownHostsFile ${knownHostsFile}`,
          '  GlobalKnownHostsFile /dev/null',
          '  StrictHostKeyChecking yes',
          '',
        ].join('\n'),
      )
      const started = child
      nodes.set(spec.name, {
        name: spec.name,
        port,
        dir: nodeDir,
        home,
        down: !started,
        stop: () => (started ? stopChild(started) : Promise.resolve()),
      })
    }
    await writeFile(knownHostsFile, `${known.join('\n')}\n`)
    await writeFile(configFile, hosts.join('\n'))
  } catch (err) {
    for (const n of nodes.values()) await n.stop()
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return {
    dir,
    configFile,
    identityFile,
    knownHostsFile,
    nodes,
    async stop() {
      for (const n of nodes.values()) await n.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
