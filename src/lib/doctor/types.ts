/**
 * The shapes of `airlock doctor`: for each capability (a family of commands), whether this machine can
 * do it, and the checks that say why, each with what was found and what to do about what was not.
 *
 * Nothing in a report is a secret: credentials are reported by where they come from (an environment
 * variable's name, a file's path, a profile's name, a registry's host), never by value.
 */

/** The capabilities doctor knows, in the order it reports them. */
export const CAPABILITIES = [
  'config',
  'copy',
  'mirror',
  'bundle',
  'engine',
  'sif',
  'upload',
  'prominence',
  'quota',
  'auth',
] as const

export type CapabilityName = (typeof CAPABILITIES)[number]

export function isCapabilityName(name: string): name is CapabilityName {
  return (CAPABILITIES as readonly string[]).includes(name)
}

/**
 * ok: there and working. warn: there, but something is off (too old, unreadable, a missing helper).
 * missing: not there or not working; with `optional` the capability works without it.
 */
export type CheckStatus = 'ok' | 'warn' | 'missing'

export interface DoctorCheck {
  /** What was checked: a tool (`tar2sqfs`), a setting (`S3 credentials`), a file (`auth file`). */
  name: string
  status: CheckStatus
  /** The capability works without this (an alternative, or an extra). */
  optional?: boolean
  /** Where it was found: an executable's path, a file, an address (never with credentials). */
  found?: string
  /** The tool's version as it prints it (`4.5.1`). */
  version?: string
  /** What it means for airlock, or why it is not usable. */
  detail?: string
  /** What to do: a Debian package to install, a variable to set, a flag to pass. Absent when ok. */
  fix?: string
}

export interface CapabilityReport {
  name: CapabilityName
  /** The commands it covers, for people. */
  commands: string
  /** True when the commands of this capability can work here as things are. */
  usable: boolean
  /** One line: what airlock would use, or what is missing. */
  summary: string
  checks: DoctorCheck[]
}

export interface DoctorReport {
  /** The capabilities asked about (`--for`); empty when all were checked just to report. */
  asked: CapabilityName[]
  /** Asked capabilities that are not usable. */
  missing: CapabilityName[]
  /** 0 when every asked capability is usable (always without `asked`), else 1 (EXIT.FAILED). */
  exitCode: number
  capabilities: CapabilityReport[]
  seconds: number
}

export interface DoctorOptions {
  /**
   * Check only these (default: all), and fail (exitCode 1) when one of them is not usable. Names as
   * in CAPABILITIES, or comma lists of them; an unknown name is INVALID_INPUT.
   */
  capabilities?: readonly string[]
  /** Environment to resolve everything with (default process.env): PATH, HOME, DOCKER_HOST, AWS_*... */
  env?: NodeJS.ProcessEnv
  /** airlock config file (`--config`; default AIRLOCK_CONFIG, then the usual places). */
  configFile?: string
  /** As `--engine`: the engine the engine commands must use. */
  engine?: 'podman' | 'docker'
  /** As `--root`, `--runroot`, `--storage-driver`. */
  podman?: { root?: string; runroot?: string; storageDriver?: string }
  /** As `--docker-host`. */
  dockerHost?: string
  /** As `--authfile`. */
  authfile?: string
  /** As upload's `--endpoint`, `--region`, `--profile`, `--path-style`. */
  s3?: { endpoint?: string; region?: string; profile?: string; pathStyle?: boolean }
  /** Longest wait for one tool's `--version`, a socket or a credential lookup (default 1500 ms). */
  timeoutMs?: number
}
