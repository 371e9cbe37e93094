/**
 * The capabilities that need nothing from the machine: airlock's config file (found and valid, or
 * absent), the built-in copy engine (registries, OCI layouts and archives, docker-archive files), and
 * mirroring (the copy engine plus a lock file and a state file).
 */
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { configCandidates } from '../config/config.js'
import { defaultLockPath } from '../mirror/lock.js'
import { defaultStatePath } from '../mirror/state.js'
import { type DoctorContext, dockerTrouble, optionalToolCheck } from './context.js'
import type { CapabilityReport, DoctorCheck } from './types.js'

const CONFIG_KEYS = [
  ['harbor', 'host'],
  ['harbor', 'project'],
  ['engine'],
  ['podman', 'root'],
  ['podman', 'runroot'],
  ['podman', 'storageDriver'],
  ['dockerHost'],
  ['quota', 'limit'],
  ['quota', 'nodes'],
  ['quota', 'ssh'],
  ['quota', 'warn'],
  ['quota', 'fail'],
] as const

export async function checkConfig(ctx: DoctorContext): Promise<CapabilityReport> {
  const base = { name: 'config' as const, commands: 'site defaults for every command' }
  const explicit = ctx.env.AIRLOCK_CONFIG ? 'AIRLOCK_CONFIG' : undefined
  if (ctx.configError) {
    const check: DoctorCheck = {
      name: 'config file',
      status: 'missing',
      detail: ctx.configError.message,
      fix: ctx.configError.hint ?? 'fix the file (docs/engines.md lists its keys), or move it away',
    }
    return {
      ...base,
      usable: false,
      summary: 'the config file cannot be used: commands that read it stop with this error',
      checks: [check],
    }
  }
  const file = ctx.config.file
  if (!file) {
    const looked = configCandidates(ctx.env).join(', ')
    return {
      ...base,
      usable: true,
      summary: 'no config file: flags and built-in defaults apply',
      checks: [
        {
          name: 'config file',
          status: 'missing',
          optional: true,
          detail: `none at ${looked}`,
          fix: 'optional: put site defaults (harbor.host, engine, quota.limit...) in ~/.config/airlock/config.yaml',
        },
      ],
    }
  }
  const cfg = ctx.config as Record<string, unknown>
  const set = CONFIG_KEYS.filter(([a, b]) => {
    const v = cfg[a]
    return b === undefined ? v !== undefined : (v as Record<string, unknown> | undefined)?.[b] !== undefined
  }).map((k) => k.join('.'))
  return {
    ...base,
    usable: true,
    summary: `${file}${explicit ? ` (from ${explicit})` : ''}`,
    checks: [
      {
        name: 'config file',
        status: 'ok',
        found: file,
        detail: set.length ? `sets ${set.join(', ')}` : 'valid, sets nothing',
      },
    ],
  }
}

export async function checkCopy(ctx: DoctorContext): Promise<CapabilityReport> {
  const [podman, docker] = await Promise.all([ctx.tool(podmanName(ctx)), ctx.docker()])
  return {
    name: 'copy',
    commands: 'copy, inspect, tags, tag, login',
    usable: true,
    summary: 'built in: registries, OCI layouts and archives, docker-archive files',
    checks: [
      {
        name: 'copy engine',
        status: 'ok',
        found: `built in (Node.js ${process.versions.node})`,
        detail: 'docker://, oci:, oci-archive:, docker-archive: need no other program',
      },
      optionalToolCheck(podman, {
        name: 'containers-storage:',
        detail: "podman's storage, through podman",
        missing: `${podmanName(ctx)} is not on PATH`,
        fix: 'apt-get install podman',
      }),
      docker.reachable
        ? {
            name: 'docker-daemon:',
            status: 'ok',
            optional: true,
            found: docker.address,
            ...(docker.version ? { version: docker.version } : {}),
            detail: `the Docker Engine API (${docker.source})`,
          }
        : {
            name: 'docker-daemon:',
            status: 'missing',
            optional: true,
            ...(docker.address ? { found: docker.address } : {}),
            detail: dockerTrouble(docker),
            fix: 'see the engine checks',
          },
    ],
  }
}

export function podmanName(ctx: DoctorContext): string {
  return ctx.engineOptions.podman?.path ?? 'podman'
}

/** The nearest existing directory at or above `dir`, and whether this user may create files in it. */
async function writableDir(dir: string): Promise<{ existing: string; writable: boolean }> {
  let d = dir
  for (;;) {
    const s = await stat(d).catch(() => undefined)
    if (s?.isDirectory()) {
      const writable = await access(d, constants.W_OK | constants.X_OK).then(
        () => true,
        () => false,
      )
      return { existing: d, writable }
    }
    const up = dirname(d)
    if (up === d) return { existing: d, writable: false }
    d = up
  }
}

export async function checkMirror(ctx: DoctorContext): Promise<CapabilityReport> {
  // The directories of the default lock and state files (they are named by a hash of the spec path).
  const lockDir = dirname(defaultLockPath('mirror.yaml'))
  const stateDir = dirname(defaultStatePath('mirror.yaml', ctx.env))
  const [lock, state] = await Promise.all([writableDir(lockDir), writableDir(stateDir)])
  const lockCheck: DoctorCheck = lock.writable
    ? { name: 'lock directory', status: 'ok', found: lockDir, detail: 'one lock file per spec' }
    : {
        name: 'lock directory',
        status: 'missing',
        found: lockDir,
        detail: `cannot create files in ${lock.existing}: a run without --lock stops`,
        fix: 'pass --lock FILE in a writable directory, or set TMPDIR to one',
      }
  const stateCheck: DoctorCheck = state.writable
    ? {
        name: 'state directory',
        status: 'ok',
        found: stateDir,
        detail: `what earlier runs copied${state.existing === stateDir ? '' : ` (created on the first run under ${state.existing})`}`,
      }
    : {
        name: 'state directory',
        status: 'warn',
        found: stateDir,
        detail: `cannot create files in ${state.existing}: runs work, but re-check every image's manifest`,
        fix: 'pass --state FILE in a writable directory, or set XDG_STATE_HOME to one',
      }
  return {
    name: 'mirror',
    commands: 'mirror',
    usable: lock.writable,
    summary: lock.writable
      ? 'built in (the copy engine; skopeo is not needed)'
      : 'no lock file can be created: pass --lock',
    checks: [
      {
        name: 'copy engine',
        status: 'ok',
        found: 'built in',
        detail: 'registry to registry; credentials as in the auth checks',
      },
      lockCheck,
      stateCheck,
    ],
  }
}

/** Bundles are built in; only `bundle load` needs a local engine (podman, or the Docker API). */
export async function checkBundle(ctx: DoctorContext): Promise<CapabilityReport> {
  const [podman, docker] = await Promise.all([ctx.tool(podmanName(ctx)), ctx.docker()])
  const engine = podman.path ? `podman (${podman.path})` : docker.reachable ? 'the Docker API' : undefined
  return {
    name: 'bundle',
    commands: 'bundle create, verify, list, push, load',
    usable: true,
    summary: 'built in (create, verify, list and push need no other program)',
    checks: [
      {
        name: 'bundle writer and reader',
        status: 'ok',
        found: 'built in',
        detail: 'one OCI-layout tar (or split parts); skopeo is not needed',
      },
      engine
        ? { name: 'engine for bundle load', status: 'ok', optional: true, found: engine }
        : {
            name: 'engine for bundle load',
            status: 'missing',
            optional: true,
            detail: 'bundle load puts images into podman or docker; push works without them',
            fix: 'apt-get install podman (or give --docker-host for a Docker API)',
          },
    ],
  }
}
