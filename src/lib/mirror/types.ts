/**
 * The shapes shared by the mirror: the spec as parsed (spec.ts validates YAML into these), the plan
 * (which source tag goes to which target reference), and the report of a run.
 */

/** Where a credential comes from: an env variable pair, an auth file, or the usual auth files. */
export interface CredentialRef {
  username?: string
  /** Name of an environment variable holding the password or token (never the secret itself). */
  passwordEnv?: string
  /** Auth file (containers auth.json / docker config.json) to read for this registry. */
  authfile?: string
}

export interface RegistrySettings {
  credentials?: CredentialRef
  tlsVerify?: boolean
  /** Directory of *.crt / *.cert / *.key for this registry instead of the certs.d search (as `--cert-dir`). */
  certDir?: string
  /** Requests in flight at once to this registry (default 4). */
  concurrency?: number
  /** Requests started per second to this registry (default unlimited). */
  rps?: number
}

export type Naming =
  | { kind: 'keep-path' } // docker.io/library/alpine → <target>/<project>/library/alpine
  | { kind: 'flatten' } // docker.io/library/alpine → <target>/<project>/alpine
  | { kind: 'template'; template: string } // "{project}/{registry}/{path}" with {name} {path} {registry} {project}

export type LatestBy = 'semver' | 'created'

/** How tags of a source repository are chosen. All given filters apply together (AND). */
export interface TagSelection {
  /** Exact tags. */
  tags?: string[]
  /** Every tag (then include/exclude/semver/latest narrow it). */
  all?: boolean
  include?: string[]
  exclude?: string[]
  /** A semver range (node-semver syntax, e.g. ">=1.2 <2"); tags that are not versions drop out. */
  semver?: string
  /** Keep only the newest N after the other filters. */
  latest?: { count: number; by: LatestBy }
}

export interface SourceSpec {
  /** Repository, e.g. docker.io/library/alpine (normalized by the parser). */
  source: string
  selection: TagSelection
  platforms?: string[]
  /** Target repository override (relative to target registry), else the naming rule. */
  target?: string
  naming?: Naming
  referrers?: boolean
  immutable?: string[]
}

export interface HarborSettings {
  /** Harbor's URL (https://harbor.example.org); its API is at /api/v2.0. */
  url: string
  createProject?: boolean
  /** Storage limit in bytes for a project created by the mirror (-1 unlimited). */
  storageLimit?: number
  credentials?: CredentialRef
}

export interface MirrorDefaults {
  /** Target registry host[:port]. */
  target: string
  /** Harbor project (or any path prefix) under the target registry. */
  project?: string
  harbor?: HarborSettings
  platforms?: string[]
  tlsVerify?: boolean
  /** Images copied at once (default 4). */
  concurrency: number
  naming: Naming
  referrers: boolean
  /** Tag patterns (regex) that never change: when present at the target they are not asked for. */
  immutable: string[]
  /** Attempts after the first for a failed image (default 2). */
  retries: number
}

export interface MirrorSpec {
  file: string
  defaults: MirrorDefaults
  /** Per-registry settings by host (docker.io, quay.io, the target, …). */
  registries: Record<string, RegistrySettings>
  images: SourceSpec[]
}

/** One tag to mirror: the unit of work, of sharding and of the report. */
export interface PlannedImage {
  /** docker://… reference of the source tag. */
  source: string
  /** docker://… reference of the target tag. */
  target: string
  /** Index of the SourceSpec in spec.images. */
  specIndex: number
  tag: string
  platforms?: string[]
  referrers: boolean
  /** The tag matches an immutable pattern. */
  immutable: boolean
}

export type ImageAction = 'copied' | 'skipped' | 'failed' | 'planned'

export interface ImageReport {
  source: string
  target: string
  action: ImageAction
  /** Why skipped / planned / failed, in words. */
  reason?: string
  sourceDigest?: string
  targetDigest?: string
  bytes: number
  seconds: number
  attempts: number
  error?: { code: string; message: string }
  /** Signatures/attestations/referrers copied with the image. */
  referrers?: string[]
}

export interface MirrorReport {
  spec: string
  startedAt: string
  finishedAt: string
  seconds: number
  dryRun: boolean
  shard?: { index: number; count: number }
  images: ImageReport[]
  totals: { images: number; copied: number; skipped: number; failed: number; bytes: number }
  /** Requests made per registry host, and the last RateLimit-Remaining seen (Docker Hub). */
  registries: Record<string, { requests: number; rateLimitRemaining?: string }>
  /** 0 all done, 3 some failed, 1 interrupted (SIGINT/SIGTERM). */
  exitCode: number
  /** Source repositories whose tags could not be listed (also counted as failures). */
  errors: Array<{ source: string; code: string; message: string }>
}
