/**
 * Options shared by the engine workflows (pull, push, tag, save, load): which engine, how to reach
 * it, the registry side, and the Harbor namespace.
 */
import type { CopyEventHandler } from '../copy/events.js'
import type { EngineName } from '../engine/index.js'
import type { Platform } from '../manifest.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import type { EngineOptions } from '../transports/transport.js'

export type { EngineName }

export interface EngineFlowOptions {
  /** The engine to use; default: the engine found, podman first. */
  engine?: EngineName
  engineOptions?: EngineOptions
  registry?: RegistryOptions
  /** Harbor host and project (group) that bare destinations go into. */
  harbor?: { host?: string; project?: string }
  platforms?: Platform[]
  jobs?: number
  signal?: AbortSignal
  onEvent?: CopyEventHandler
}

/** Something the user should read: a project name lowercased, digests that changed. */
export interface Notice {
  code: 'PROJECT_LOWERCASED' | 'DIGESTS_CHANGED' | 'UNNAMED_IMAGE'
  message: string
}
