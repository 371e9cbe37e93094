/**
 * A squashfs image from a rootfs tar stream, by tar2sqfs (squashfs-tools-ng) or mksquashfs -tar
 * (squashfs-tools >= 4.5), the tar fed to the tool's stdin with backpressure.
 *
 * Ownership, modes, times and xattrs come from the tar headers with both tools (never -all-root), so
 * a build as an ordinary user keeps root-owned files root-owned. What differs (measured with
 * squashfs-tools-ng 1.2.0 and squashfs-tools 4.5.1):
 * - root directory: tar2sqfs gives it the --defaults (uid=0,gid=0,mode=0755,mtime); mksquashfs -tar
 *   gives it the CALLING user's uid/gid and the current time (-root-uid/-root-gid/-root-time and
 *   pseudo files are ignored or refused with -tar); only -root-mode works, so 0755 is passed;
 * - hard links: tar2sqfs resolves a link to a target further on; mksquashfs drops such a link with a
 *   warning and exit 0, so its stderr is checked (flatten.ts always writes targets first);
 * - times: tar2sqfs is deterministic (superblock time = --defaults mtime, default 0, same output for
 *   any -j); mksquashfs stamps the superblock and root with the current time unless SOURCE_DATE_EPOCH
 *   is set, which also clamps later file times to it (as apptainer --reproducible does);
 * - offset: only mksquashfs can write at an offset (-offset), and with -noappend it TRUNCATES the
 *   file and zero-fills the bytes before the offset: write anything that goes there afterwards.
 * - owner names: mksquashfs -tar maps uname/gname through the HOST's user and group database when
 *   present (uid 1000 named "daemon" becomes 1 here); tar2sqfs uses the numbers. flattenLayers
 *   writes numeric owners only, by default;
 * - duplicate names: tar2sqfs fails ("File exists"), mksquashfs keeps the first (flatten.ts writes
 *   each path once).
 * - times out of range: an inode's mtime is an unsigned 32-bit number of seconds (squashfs format,
 *   struct squashfs_base_inode in the Linux kernel's fs/squashfs/squashfs_fs.h). tar2sqfs clamps a
 *   tar time to 0 .. 2^32-1; mksquashfs refuses a negative one ("Failed to parse pax header") and
 *   keeps the low 32 bits of a larger one (2110 becomes 1973). flatten-tar-out.ts therefore clamps
 *   every time as tar2sqfs does, so both tools give the same tree. --defaults mtime (tar2sqfs) takes
 *   0 .. 2^31-1 only and SOURCE_DATE_EPOCH (mksquashfs) no negative value: rootTime() clamps those.
 * - failures: tar2sqfs reports a full disk as "I/O error" and deletes its output, so makeSquashfs
 *   holds the output file open while the tool runs and looks at the filesystem when it failed.
 *
 * The tool runs in a process group of its own: a Ctrl-C or a batch system's signal to airlock's group
 * does not kill it under airlock; the AbortSignal stops it, and the caller's cleanup runs.
 */

import { type FileHandle, open, stat, statfs, unlink } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import type { Readable } from 'node:stream'
import { findExecutable } from '../engine/detect-engine.js'
import { AirlockError, isAirlockError } from '../errors.js'
import { runWithInput } from '../exec.js'

export type SquashfsTool = 'tar2sqfs' | 'mksquashfs'

export interface SquashfsTarget {
  file: string
  /** Byte offset to write the image at (mksquashfs only); the file's bytes before it end up zero. */
  offset?: number
}

export interface SquashfsOptions {
  /** Default auto: tar2sqfs when installed, else mksquashfs; mksquashfs when an offset is asked. */
  tool?: 'auto' | SquashfsTool
  /** Byte-identical output for the same input (needs `mtime` with mksquashfs). */
  reproducible?: boolean
  /** Time of the root directory and superblock (tar2sqfs), SOURCE_DATE_EPOCH (mksquashfs, reproducible). */
  mtime?: Date
  signal?: AbortSignal
  /** Bytes of tar handed to the tool so far, chunk by chunk. */
  onBytes?: (n: number) => void
  /** Compressor threads (default: the CPUs available). */
  jobs?: number
  env?: NodeJS.ProcessEnv
}

export interface SquashfsResult {
  tool: SquashfsTool
  /** Size of the squashfs image (without the offset). */
  size: number
}

/** gzip: what apptainer uses, and what every squashfs driver reads. */
const COMPRESSOR = 'gzip'

const INSTALL: Record<SquashfsTool, string> = {
  tar2sqfs: 'apt-get install squashfs-tools-ng (dnf install squashfs-tools-ng)',
  mksquashfs: 'apt-get install squashfs-tools (dnf install squashfs-tools), version 4.5 or later for -tar',
}

/** Writes the squashfs image of the tar stream `tar` to `out.file`; removes the file on any failure. */
export async function makeSquashfs(
  tar: Readable,
  out: SquashfsTarget,
  opts: SquashfsOptions = {},
): Promise<SquashfsResult> {
  const offset = out.offset ?? 0
  let tool: SquashfsTool
  try {
    tool = await chooseTool(opts.tool ?? 'auto', offset, opts.env)
  } catch (err) {
    tar.destroy()
    throw err
  }
  const mtime = rootTime(opts.mtime)
  if (opts.reproducible && tool === 'mksquashfs' && !opts.mtime) {
    tar.destroy()
    throw new AirlockError(
      'INVALID_INPUT',
      'a reproducible image from mksquashfs needs a time for SOURCE_DATE_EPOCH',
      {
        hint: "pass the image's creation time as mtime",
      },
    )
  }
  const jobs = String(Math.max(1, opts.jobs ?? availableParallelism()))
  const args =
    tool === 'tar2sqfs'
      ? ['--quiet', '--force', '--no-skip', '--compressor', COMPRESSOR, '--num-jobs', jobs].concat([
          '--defaults',
          `uid=0,gid=0,mode=0755,mtime=${mtime}`,
          out.file,
        ])
      : [
          '-',
          out.file,
          '-tar',
          '-noappend',
          '-quiet',
          '-no-progress',
          '-comp',
          COMPRESSOR,
          '-processors',
          jobs,
        ].concat(['-root-mode', '0755'], offset ? ['-offset', String(offset)] : [])
  const env = { ...(opts.env ?? process.env) }
  delete env.SOURCE_DATE_EPOCH
  if (opts.reproducible && tool === 'mksquashfs') env.SOURCE_DATE_EPOCH = String(mtime)
  // Held open (never truncated) while the tool runs: when it fails and deletes the file, the space it
  // used stays taken, so a full filesystem can still be seen.
  let held: FileHandle | undefined
  try {
    held = await open(out.file, 'a').catch(() => undefined)
    const res = await runWithInput(tool, args, tar, {
      env,
      signal: opts.signal,
      reject: false,
      label: tool,
      onInputBytes: opts.onBytes,
      ownProcessGroup: true,
    })
    if (res.notFound) {
      throw new AirlockError('EXEC_FAILED', `${tool} is not installed or not on PATH`, {
        hint: INSTALL[tool],
      })
    }
    const lost = /Could not resolve hardlink.*/.exec(res.stderr)
    if (res.exitCode !== 0 || lost) throw await toolFailure(tool, out.file, res, lost?.[0])
    return { tool, size: (await stat(out.file)).size - offset }
  } catch (err) {
    await held?.close().catch(() => undefined)
    held = undefined
    await unlink(out.file).catch(() => undefined)
    if (opts.signal?.aborted && !(isAirlockError(err) && err.code === 'INTERRUPTED')) {
      throw new AirlockError('INTERRUPTED', `writing ${out.file} was interrupted`, { cause: err })
    }
    throw err
  } finally {
    await held?.close().catch(() => undefined)
  }
}

/** Seconds of the root directory and superblock, within what both tools accept (see the top). */
function rootTime(date: Date | undefined): number {
  const s = Math.floor((date?.getTime() ?? 0) / 1000)
  return Number.isFinite(s) ? Math.min(Math.max(s, 0), 2 ** 31 - 1) : 0
}

/** What a tool's stderr says of a full disk or a quota (mksquashfs names the errno; tar2sqfs does not). */
const DISK_FULL = /No space left on device|Disk quota exceeded/i
/** Below this much room left, a failed write is taken for a full filesystem. */
const FULL_BYTES = 1024 * 1024

/**
 * The error of a tool that failed: its own words (the tail of its stderr), and a hint about room on
 * the disk only when the tool said so or the output's filesystem is full now.
 */
async function toolFailure(
  tool: SquashfsTool,
  file: string,
  res: { exitCode: number; stderr: string; signal?: string },
  lost: string | undefined,
): Promise<AirlockError> {
  const said = lastLines(res.stderr)
  const ended = res.signal ? `killed by ${res.signal}` : `exit status ${res.exitCode}`
  const why = lost ?? (said.split(' | ').at(-1) || ended)
  const quoted = said ? `${tool} said: ${said}` : `${tool} printed nothing (${ended})`
  const room = await freeBytes(dirname(file))
  if (DISK_FULL.test(res.stderr) || (room !== undefined && room < FULL_BYTES)) {
    return new AirlockError('IO_FAILED', `${tool} failed to write ${file}: no space left on its filesystem`, {
      hint: `${room === undefined ? '' : `${room} bytes were free when ${tool} stopped; `}make room there, or write the SIF to another filesystem (-o); ${quoted}`,
    })
  }
  return new AirlockError('EXEC_FAILED', `${tool} failed to write ${file}: ${why}`, {
    hint:
      res.signal === 'SIGKILL'
        ? `${quoted}; a program killed by SIGKILL was often over a memory limit (the kernel's OOM killer, a batch job's limit)`
        : quoted,
  })
}

/** Bytes this process may still write on the filesystem of `dir` (root may use the reserved blocks). */
async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir)
    return (process.geteuid?.() === 0 ? s.bfree : s.bavail) * s.bsize
  } catch {
    return undefined
  }
}

async function chooseTool(
  wanted: 'auto' | SquashfsTool,
  offset: number,
  env: NodeJS.ProcessEnv | undefined,
): Promise<SquashfsTool> {
  if (wanted === 'tar2sqfs' && offset) {
    throw new AirlockError('INVALID_INPUT', 'tar2sqfs cannot write a squashfs image at an offset', {
      hint: 'use mksquashfs (squashfs-tools >= 4.5), or write the image to its own file and copy it',
    })
  }
  const tool: SquashfsTool = wanted !== 'auto' ? wanted : offset ? 'mksquashfs' : 'tar2sqfs'
  if (await findExecutable(tool, env)) return tool
  if (wanted === 'auto' && tool === 'tar2sqfs' && (await findExecutable('mksquashfs', env)))
    return 'mksquashfs'
  throw new AirlockError(
    'EXEC_FAILED',
    wanted === 'auto' && !offset
      ? 'neither tar2sqfs nor mksquashfs is installed'
      : `${tool} is not installed or not on PATH`,
    { hint: wanted === 'auto' && !offset ? `${INSTALL.tar2sqfs}, or ${INSTALL.mksquashfs}` : INSTALL[tool] },
  )
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ')
}
