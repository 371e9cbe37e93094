/**
 * Which local engine to use: the one asked for, else the one found, podman first (podman on PATH),
 * then Docker (DOCKER_HOST set, or a socket at /var/run/docker.sock that answers /_ping).
 */
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { delimiter, isAbsolute, join } from 'node:path'
import { AirlockError } from '../errors.js'
import type { EngineOptions } from '../transports/transport.js'
import { DEFAULT_DOCKER_SOCKET, dockerEndpoint, pingDocker, unreachableHint } from './docker-api.js'
import type { EngineName } from './local-image.js'
import { podmanProgram } from './podman-cli.js'

export type DetectOptions = EngineOptions & { engine?: EngineName }

/** The executable `program` names (a path, or a name looked up on PATH), undefined when absent. */
export async function findExecutable(
  program: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const candidates = program.includes('/')
    ? [program]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter((d) => d && isAbsolute(d))
        .map((d) => join(d, program))
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK)
      if ((await stat(c)).isFile()) return c
    } catch {
      // not this one
    }
  }
  return undefined
}

export async function detectEngine(opts: DetectOptions = {}): Promise<EngineName> {
  const env = opts.env ?? process.env
  const podman = podmanProgram(opts)
  if (opts.engine === 'podman') {
    if (await findExecutable(podman, env)) return 'podman'
    throw new AirlockError('NOT_FOUND', `podman was asked for, but ${podman} is not on PATH`, {
      hint: 'install podman (apt-get install podman), or use the Docker engine',
    })
  }
  if (opts.engine === 'docker') {
    await pingDocker(opts)
    return 'docker'
  }
  if (await findExecutable(podman, env)) return 'podman'
  if (opts.dockerHost || env.DOCKER_HOST) return 'docker'
  const ep = dockerEndpoint(opts)
  if (await stat(DEFAULT_DOCKER_SOCKET).catch(() => undefined)) {
    try {
      await pingDocker(opts)
      return 'docker'
    } catch (err) {
      throw new AirlockError(
        'NOT_FOUND',
        `no container engine found: podman is not on PATH and ${ep.display} does not answer`,
        {
          cause: err,
          hint: `install podman, or start the Docker daemon; ${unreachableHint(ep)}`,
        },
      )
    }
  }
  throw new AirlockError(
    'NOT_FOUND',
    `no container engine found: podman is not on PATH, DOCKER_HOST is not set and ${DEFAULT_DOCKER_SOCKET} does not exist`,
    {
      hint: 'install podman (apt-get install podman), or set DOCKER_HOST to a Docker Engine API (unix:///path/to/docker.sock or tcp://host:2375)',
    },
  )
}
