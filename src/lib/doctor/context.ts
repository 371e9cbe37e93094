/**
 * What every doctor check shares: the environment, the config file merged under the options (flags
 * win, as in the commands), and probes that several checks ask for (a tool's path and version, the
 * Docker Engine API), each run once however many checks await it.
 */
import { type AirlockConfig, loadConfig } from '../config/config.js'
import { dockerClient, dockerEndpoint, pingDocker } from '../engine/docker-api.js'
import { findExecutable } from '../engine/index.js'
import { type AirlockError, toAirlockError } from '../errors.js'
import { run } from '../exec.js'
import type { EngineOptions } from '../transports/transport.js'
import type { CheckStatus, DoctorCheck, DoctorOptions } from './types.js'

export const DEFAULT_TIMEOUT_MS = 1500

export interface ToolProbe {
  name: string
  /** The executable found on PATH; undefined when there is none. */
  path?: string
  /** The first version number the tool printed (`4.5.1`); undefined when it printed none in time. */
  version?: string
  /** The first line it printed for its version. */
  versionLine?: string
}

export interface DockerProbe {
  /** `unix:///path` or `tcp://host:port`; undefined when the address itself is not usable. */
  address?: string
  /** Where the address came from: `--docker-host`, `dockerHost in FILE`, `DOCKER_HOST`, `default`. */
  source: string
  reachable: boolean
  /** Why it is not reachable (ENOENT, ECONNREFUSED, a bad DOCKER_HOST...). */
  error?: AirlockError
  /** `API 1.41, Podman Engine 4.3.1` when it answered /version. */
  version?: string
}

export interface DoctorContext {
  env: NodeJS.ProcessEnv
  timeoutMs: number
  /** The config in effect; `{}` when there is none or it is broken (see configError). */
  config: AirlockConfig
  configError?: AirlockError
  /** The options as the commands would see them, config values filled in under the flags. */
  engine?: 'podman' | 'docker'
  /** Where `engine` came from: `--engine` or `engine in FILE`. */
  engineSource?: string
  engineOptions: EngineOptions
  /** Where podman's storage root came from when set: `--root` or `podman.root in FILE`. */
  rootSource?: string
  authfile?: string
  s3: NonNullable<DoctorOptions['s3']>
  /** The tool `name` on PATH, with its version (`versionArgs`, default `--version`); memoized. */
  tool(name: string, versionArgs?: string[]): Promise<ToolProbe>
  /** The Docker Engine API the engine commands would talk to; memoized. */
  docker(): Promise<DockerProbe>
}

const VERSION = /\d+\.\d+(?:\.\d+)?(?:[-+~][\w.]*[\w])?/

/** A tool's version from its `--version` output: the first dotted number. */
export function parseVersion(text: string): string | undefined {
  return VERSION.exec(text)?.[0]
}

export async function makeContext(opts: DoctorOptions): Promise<DoctorContext> {
  const env = opts.env ?? process.env
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  let config: AirlockConfig = {}
  let configError: AirlockError | undefined
  try {
    config = await loadConfig(opts.configFile, env)
  } catch (err) {
    configError = toAirlockError(err)
  }
  const inFile = (key: string) => `${key} in ${config.file}`
  const dockerHost = opts.dockerHost ?? config.dockerHost
  const dockerSource = opts.dockerHost
    ? '--docker-host'
    : config.dockerHost
      ? inFile('dockerHost')
      : env.DOCKER_HOST
        ? 'DOCKER_HOST'
        : 'default'
  const root = opts.podman?.root ?? config.podman?.root
  const engineOptions: EngineOptions = {
    podman: {
      root,
      runroot: opts.podman?.runroot ?? config.podman?.runroot,
      storageDriver: opts.podman?.storageDriver ?? config.podman?.storageDriver,
    },
    ...(dockerHost ? { dockerHost } : {}),
    env,
  }

  const tools = new Map<string, Promise<ToolProbe>>()
  const tool = (name: string, versionArgs = ['--version']): Promise<ToolProbe> => {
    let p = tools.get(name)
    if (!p) {
      p = probeTool(name, versionArgs, env, timeoutMs)
      tools.set(name, p)
    }
    return p
  }
  let dockerProbe: Promise<DockerProbe> | undefined
  return {
    env,
    timeoutMs,
    config,
    configError,
    engine: opts.engine ?? config.engine,
    engineSource: opts.engine ? '--engine' : config.engine ? inFile('engine') : undefined,
    engineOptions,
    rootSource: opts.podman?.root ? '--root' : root ? inFile('podman.root') : undefined,
    authfile: opts.authfile,
    s3: opts.s3 ?? {},
    tool,
    docker: () => {
      dockerProbe ??= probeDocker(engineOptions, dockerSource, timeoutMs)
      return dockerProbe
    },
  }
}

async function probeTool(
  name: string,
  versionArgs: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<ToolProbe> {
  const path = await findExecutable(name, env)
  if (!path) return { name }
  if (!versionArgs.length) return { name, path }
  try {
    const r = await run(path, versionArgs, { env, reject: false, timeoutMs })
    const line = `${r.stdout}\n${r.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean)
    const version = line ? parseVersion(line) : undefined
    return { name, path, ...(version ? { version } : {}), ...(line ? { versionLine: line } : {}) }
  } catch {
    return { name, path }
  }
}

async function probeDocker(opts: EngineOptions, source: string, timeoutMs: number): Promise<DockerProbe> {
  let address: string
  try {
    address = dockerEndpoint(opts).display
  } catch (err) {
    return { source, reachable: false, error: toAirlockError(err) }
  }
  try {
    await pingDocker(opts, timeoutMs)
  } catch (err) {
    return { address, source, reachable: false, error: toAirlockError(err) }
  }
  try {
    const docker = await dockerClient(opts, timeoutMs)
    const v = (await docker.version()) as {
      Version?: string
      ApiVersion?: string
      Components?: Array<{ Name?: string; Version?: string }>
    }
    const engine = v.Components?.find((c) => /engine/i.test(c.Name ?? '')) ?? { Version: v.Version }
    const version = [
      v.ApiVersion ? `API ${v.ApiVersion}` : undefined,
      engine.Version ? `${engine.Name ?? 'Engine'} ${engine.Version}` : undefined,
    ]
      .filter(Boolean)
      .join(', ')
    return { address, source, reachable: true, ...(version ? { version } : {}) }
  } catch {
    return { address, source, reachable: true }
  }
}

/** Why the Docker Engine API did not answer, without repeating its address. */
export function dockerTrouble(probe: DockerProbe): string {
  if (!probe.error) return 'no answer'
  const msg = probe.error.message
  return probe.address ? msg.replace(` at ${probe.address}`, '') : msg
}

/** A check's failure as text for a report (the message, never a stack). */
export function reason(err: unknown): string {
  return toAirlockError(err).message
}

/**
 * The check of a tool the capability works without: ok with its path and version when it is on PATH,
 * else `missingStatus` (default missing) with why and, when given, the fix.
 */
export function optionalToolCheck(
  t: ToolProbe,
  opts: { name?: string; detail: string; missing: string; fix?: string; missingStatus?: CheckStatus },
): DoctorCheck {
  const name = opts.name ?? t.name
  return t.path
    ? {
        name,
        status: 'ok',
        optional: true,
        found: t.path,
        ...(t.version ? { version: t.version } : {}),
        detail: opts.detail,
      }
    : {
        name,
        status: opts.missingStatus ?? 'missing',
        optional: true,
        detail: opts.missing,
        ...(opts.fix ? { fix: opts.fix } : {}),
      }
}
