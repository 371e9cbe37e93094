/**
 * Flags of the engine commands (pull, push, tag, save, load), named as podman and docker users know
 * them, merged with the config file (flags win).
 */
import { Flags } from '@oclif/core'
import { loadConfig } from '../lib/config/config.js'
import type { EngineFlowOptions } from '../lib/engine-flows/options.js'
import { registryOptions } from './flags.js'

export const engineFlags = {
  engine: Flags.string({
    options: ['podman', 'docker'],
    description: 'Local engine to use (default: the one found, podman first).',
  }),
  root: Flags.string({ description: "podman's storage root (podman --root)." }),
  runroot: Flags.string({ description: "podman's run root (podman --runroot)." }),
  'storage-driver': Flags.string({ description: "podman's storage driver (podman --storage-driver)." }),
  'docker-host': Flags.string({
    description: 'Docker Engine API address (default: DOCKER_HOST, else unix:///var/run/docker.sock).',
    helpValue: 'unix:///PATH|tcp://HOST:PORT',
  }),
  config: Flags.string({
    description:
      'airlock config file (default: AIRLOCK_CONFIG, ~/.config/airlock/config.yaml, /etc/airlock/config.yaml).',
  }),
  tmpdir: Flags.string({ description: 'Directory for temporary files (default: TMPDIR).' }),
}

export const harborFlags = {
  harbor: Flags.string({
    description: 'Harbor host that bare names go to (config: harbor.host).',
    helpValue: 'HOST',
  }),
  project: Flags.string({
    description: 'Harbor project (your group); capitals are lowercased (config: harbor.project).',
    helpValue: 'GROUP',
  }),
}

interface EngineFlagValues {
  engine?: string
  root?: string
  runroot?: string
  'storage-driver'?: string
  'docker-host'?: string
  config?: string
  tmpdir?: string
  harbor?: string
  project?: string
  creds?: string
  authfile?: string
  'tls-verify'?: boolean
}

/** Flags over the config file, as options for the engine workflows. */
export async function engineFlowOptions(
  flags: EngineFlagValues,
  signal: AbortSignal,
): Promise<EngineFlowOptions> {
  const cfg = await loadConfig(flags.config)
  const podman = {
    root: flags.root ?? cfg.podman?.root,
    runroot: flags.runroot ?? cfg.podman?.runroot,
    storageDriver: flags['storage-driver'] ?? cfg.podman?.storageDriver,
  }
  const harborHost = flags.harbor ?? cfg.harbor?.host
  const project = flags.project ?? cfg.harbor?.project
  return {
    engine: (flags.engine ?? cfg.engine) as EngineFlowOptions['engine'],
    engineOptions: {
      podman,
      dockerHost: flags['docker-host'] ?? cfg.dockerHost,
      tmpDir: flags.tmpdir,
    },
    registry: registryOptions(flags),
    harbor: harborHost || project ? { host: harborHost, project } : undefined,
    signal,
  }
}
