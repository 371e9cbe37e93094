/**
 * The Docker Engine API through dockerode: where it is (EngineOptions.dockerHost, else DOCKER_HOST,
 * else /var/run/docker.sock), and its failures as AirlockErrors. Works with Docker and with the
 * Docker-compatible API of `podman system service`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type Dockerode from 'dockerode'
import { AirlockError } from '../errors.js'
import type { EngineOptions } from '../transports/transport.js'
import { type LocalImage, listedImage, mergeLocalImages } from './local-image.js'

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

export interface DockerEndpoint {
  /** For messages: `unix:///path` or `tcp://host:port`, never with credentials. */
  display: string
  /** Where the address came from, for hints. */
  from: 'option' | 'DOCKER_HOST' | 'default'
  socketPath?: string
  host?: string
  port?: number
  protocol?: 'http' | 'https'
}

/** The Docker Engine API address these options name. */
export function dockerEndpoint(opts: EngineOptions = {}): DockerEndpoint {
  const env = opts.env ?? process.env
  const from = opts.dockerHost ? 'option' : env.DOCKER_HOST ? 'DOCKER_HOST' : 'default'
  const text = opts.dockerHost || env.DOCKER_HOST || `unix://${DEFAULT_DOCKER_SOCKET}`
  if (text.startsWith('unix://') || text.startsWith('/')) {
    const socketPath = text.startsWith('/') ? text : text.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET
    return { display: `unix://${socketPath}`, from, socketPath }
  }
  let url: URL
  try {
    url = new URL(text.includes('://') ? text : `tcp://${text}`)
  } catch {
    throw badHost(text, from)
  }
  if (!['tcp:', 'http:', 'https:'].includes(url.protocol) || !url.hostname) throw badHost(text, from)
  const tls = url.protocol === 'https:' || env.DOCKER_TLS_VERIFY === '1' || url.port === '2376'
  const port = Number(url.port || (tls ? 2376 : 2375))
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  return { display: `tcp://${url.host}`, from, host, port, protocol: tls ? 'https' : 'http' }
}

function badHost(text: string, from: DockerEndpoint['from']): AirlockError {
  const shown = text.replace(/\/\/[^@/]*@/, '//')
  return new AirlockError('INVALID_INPUT', `Docker host "${shown}" is not an address airlock can use`, {
    hint: `${from === 'DOCKER_HOST' ? 'DOCKER_HOST' : 'the Docker host'} must be unix:///path/to/docker.sock or tcp://HOST:PORT (ssh:// and npipe:// are not supported)`,
  })
}

/** A dockerode client for these options. `timeoutMs` limits every request (use for probes only). */
export async function dockerClient(opts: EngineOptions = {}, timeoutMs?: number): Promise<Dockerode> {
  const ep = dockerEndpoint(opts)
  const env = opts.env ?? process.env
  // dockerode is loaded on first use: most commands never talk to an engine.
  const { default: Docker } = await import('dockerode')
  let tlsFiles: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {}
  if (ep.protocol === 'https' && env.DOCKER_CERT_PATH) {
    const dir = env.DOCKER_CERT_PATH
    try {
      tlsFiles = {
        ca: readFileSync(join(dir, 'ca.pem')),
        cert: readFileSync(join(dir, 'cert.pem')),
        key: readFileSync(join(dir, 'key.pem')),
      }
    } catch (err) {
      throw new AirlockError('INVALID_INPUT', `cannot read the Docker TLS files in ${dir}`, {
        cause: err,
        hint: 'DOCKER_CERT_PATH must hold ca.pem, cert.pem and key.pem',
      })
    }
  }
  // Every key is given, undefined included: dockerode merges its own reading of process.env
  // (DOCKER_HOST, DOCKER_CERT_PATH) under these options, and ours must win.
  const options: Dockerode.DockerOptions = {
    socketPath: ep.socketPath,
    host: ep.host,
    port: ep.port,
    protocol: ep.protocol,
    ca: tlsFiles.ca,
    cert: tlsFiles.cert,
    key: tlsFiles.key,
    timeout: timeoutMs,
  }
  try {
    return new Docker(options)
  } catch (err) {
    throw new AirlockError('INVALID_INPUT', `cannot set up a Docker Engine API client for ${ep.display}`, {
      cause: err,
      hint: 'check DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH',
    })
  }
}

/** Hint naming where airlock looked for the Docker Engine API. */
export function unreachableHint(ep: DockerEndpoint): string {
  const where =
    ep.from === 'default'
      ? `DOCKER_HOST is not set, so airlock used the socket ${ep.socketPath}`
      : ep.socketPath
        ? `${ep.from === 'DOCKER_HOST' ? 'DOCKER_HOST' : 'the Docker host'} is ${ep.display} (socket ${ep.socketPath})`
        : `${ep.from === 'DOCKER_HOST' ? 'DOCKER_HOST' : 'the Docker host'} is ${ep.display}`
  return `${where}; start the Docker daemon (or \`podman system service\`) there, or set DOCKER_HOST to the right address, e.g. unix:///run/user/$UID/podman/podman.sock`
}

const UNREACHABLE_CODES = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOTSOCK',
])

/** A dockerode failure as an AirlockError; `what` says what was being done. */
export function dockerError(err: unknown, what: string, opts: EngineOptions = {}): AirlockError {
  if (err instanceof AirlockError) return err
  const ep = dockerEndpoint(opts)
  const e = err as { code?: string; statusCode?: number; json?: { message?: string }; message?: string }
  if (e?.code && UNREACHABLE_CODES.has(e.code)) {
    return new AirlockError(
      'UNREACHABLE',
      `cannot reach the Docker Engine API at ${ep.display} (${e.code})`,
      {
        cause: err,
        hint: unreachableHint(ep),
        retryable: e.code !== 'ENOENT',
      },
    )
  }
  if (e?.code === 'EACCES' || e?.code === 'EPERM') {
    return new AirlockError('DENIED', `no permission to use the Docker Engine API at ${ep.display}`, {
      cause: err,
      hint: 'add your user to the docker group, or use a rootless daemon socket through DOCKER_HOST',
    })
  }
  const detail = (e?.json?.message ?? e?.message ?? String(err)).trim()
  if (e?.statusCode === 404) {
    return new AirlockError('NOT_FOUND', `${what}: ${detail}`, {
      cause: err,
      status: 404,
      hint: `list the images with \`docker images\` (engine at ${ep.display})`,
    })
  }
  return new AirlockError('EXEC_FAILED', `${what} failed at ${ep.display}: ${detail}`, {
    cause: err,
    ...(e?.statusCode ? { status: e.statusCode } : {}),
  })
}

/** Resolves when the Docker Engine API answers /_ping within `timeoutMs`; UNREACHABLE otherwise. */
export async function pingDocker(opts: EngineOptions = {}, timeoutMs = 3000): Promise<void> {
  const docker = await dockerClient(opts, timeoutMs)
  try {
    await docker.ping()
  } catch (err) {
    throw dockerError(err, 'ping', opts)
  }
}

/** Every image the daemon has (GET /images/json?all=1). */
export async function dockerListImages(opts: EngineOptions = {}): Promise<LocalImage[]> {
  const docker = await dockerClient(opts)
  let list: Dockerode.ImageInfo[]
  try {
    list = await docker.listImages({ all: true })
  } catch (err) {
    throw dockerError(err, 'listing images', opts)
  }
  return mergeLocalImages(list.map((i) => listedImage(i, i.RepoTags)))
}
