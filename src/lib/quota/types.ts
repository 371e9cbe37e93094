/**
 * The shapes of a storage-quota probe: what one node says about podman's image storage (where it is,
 * how much it holds), the limit on that storage (from whichever quota tool the node has, or airlock's
 * config), and the free space of its filesystem.
 *
 * Every probe goes through a `Runner`, so the same code reads a local node (execa) and a remote one
 * (ssh): nothing here touches the local filesystem except `measureUsage` (usage.ts), which the
 * caller picks only for the local node.
 */

/** Runs a command on a node: locally (execa) or over ssh; never throws for a non-zero exit. */
export type Runner = (
  argv: string[],
  opts?: { timeoutMs?: number; input?: string },
) => Promise<{ exitCode: number; stdout: string; stderr: string; notFound?: boolean }>

export interface StorageInfo {
  /** Storage driver (overlay, vfs, btrfs, ...); '' when neither the file nor defaults name one. */
  driver: string
  graphroot: string
  runroot?: string
  /** True when podman runs as a user (uid ≠ 0): the rootless defaults and `rootless_storage_path` apply. */
  rootless: boolean
  /** Which storage.conf was read, or 'defaults'. */
  source: string
}

export type LimitSource = 'quota' | 'lfs' | 'mmlsquota' | 'xfs_quota' | 'config' | 'none'

export interface LimitInfo {
  source: LimitSource
  /** The filesystem (device or mount) the limit belongs to, as the tool names it. */
  filesystem?: string
  /** Bytes in use as the quota tool counts them (may differ from the graphroot walk). */
  used?: number
  /** Bytes; undefined = no soft limit. */
  soft?: number
  /** Bytes; undefined = unlimited. */
  hard?: number
  /** Grace as the tool prints it (`6days`, `23:59`, `none` = expired, `1w2d3h4m5s`, ...). */
  grace?: string
  /** True when the tool marks the usage as over a limit (`*`), or used ≥ a limit. */
  overQuota?: boolean
  /** The line(s) the numbers came from. */
  raw?: string
}

export interface NodeReport {
  /** 'local' or the ssh name. */
  node: string
  reachable: boolean
  error?: string
  storage?: StorageInfo
  /** Bytes under graphroot, hard links once. */
  usage?: number
  limit?: LimitInfo
  /** Bytes free on graphroot's filesystem (for unprivileged users: `df` Available). */
  free?: number
  /** Bytes: size of graphroot's filesystem. */
  fsSize?: number
  /** Bytes used on graphroot's filesystem as df counts them (size − free blocks; reserved blocks are not used). */
  fsUsed?: number
  /** graphroot's filesystem as df names it. */
  fs?: { device: string; type?: string; mountpoint: string }
  /** e.g. a parser met output it does not understand: the line. */
  warnings: string[]
}

/**
 * What a quota-tool parser returns: one entry per filesystem it understood, and a warning per line it
 * did not (with the line). A parser never guesses a number.
 */
export interface ParsedQuota {
  entries: QuotaEntry[]
  warnings: string[]
}

export interface QuotaEntry {
  /** The filesystem as the tool names it (device, mount point, GPFS device name). */
  filesystem: string
  /** GPFS: USR, GRP or FILESET; Lustre/quota: 'usr' unless the header says otherwise. */
  kind?: string
  used: number
  /** Bytes; undefined = no limit (0 in the tool's output). */
  soft?: number
  hard?: number
  grace?: string
  overQuota: boolean
  raw: string
}
