/**
 * `airlock quota` and the preflight of pull, load and sif build: podman's storage as resolveStorage
 * finds it (storage.conf, rootless defaults; `--root` / config podman.root over it), the filesystem
 * under its graphroot (df), the quota tools on PATH and which of them apply to that filesystem
 * (toolsFor), and the limit probeLimit gets from them, or from quota.limit in the config.
 * Every command runs through the quota code's own Runner, with doctor's short timeout.
 */
import { probeDf } from '../quota/df.js'
import { probeLimit, toolsFor } from '../quota/limits.js'
import { localRunner } from '../quota/probe.js'
import { parseSizeSetting } from '../quota/sizes.js'
import { resolveStorage } from '../quota/storage-conf.js'
import type { LimitInfo, Runner, StorageInfo } from '../quota/types.js'
import { formatBytes } from '../sizes.js'
import { type DoctorContext, optionalToolCheck, reason } from './context.js'
import type { CapabilityReport, DoctorCheck } from './types.js'

const QUOTA_TOOLS: Array<{ name: 'quota' | 'lfs' | 'mmlsquota' | 'xfs_quota'; args: string[]; fix: string }> =
  [
    { name: 'quota', args: ['-V'], fix: 'apt-get install quota' },
    { name: 'xfs_quota', args: ['-V'], fix: 'apt-get install xfsprogs' },
    {
      name: 'lfs',
      args: ['--version'],
      fix: "install the Lustre client utilities (your site's lustre-client package)",
    },
    {
      name: 'mmlsquota',
      args: [],
      fix: 'put the IBM Storage Scale (GPFS) commands on PATH: export PATH=$PATH:/usr/lpp/mmfs/bin',
    },
  ]

function limitText(l: LimitInfo): string {
  if (l.hard === undefined && l.soft === undefined) return `unlimited (${l.source})`
  const parts = [
    ...(l.hard !== undefined ? [`${formatBytes(l.hard)} hard`] : []),
    ...(l.soft !== undefined ? [`${formatBytes(l.soft)} soft`] : []),
  ]
  const where = l.source === 'config' ? 'quota.limit in the config' : `${l.source} on ${l.filesystem ?? '?'}`
  return `${parts.join(', ')} (${where})`
}

function storageCheck(
  storage: StorageInfo,
  looked: Array<{ file: string; exists: boolean }>,
  warnings: string[],
): DoctorCheck {
  const read = looked.map((l) => `${l.file} (${l.exists ? 'there' : 'absent'})`).join(', ')
  const what = `graphroot ${storage.graphroot}, driver ${storage.driver || 'not set (podman picks)'}, ${storage.rootless ? 'rootless' : 'as root'}; looked at ${read || 'nothing'}`
  if (!storage.graphroot.startsWith('/')) {
    return {
      name: 'podman storage',
      status: 'missing',
      found: storage.source,
      detail: `${what}; the graphroot is not absolute`,
      fix: 'set HOME, or graphroot in ~/.config/containers/storage.conf',
    }
  }
  return {
    name: 'podman storage',
    status: warnings.length ? 'warn' : 'ok',
    found: storage.source,
    detail: warnings.length ? `${what}; ${warnings.join('; ')}` : what,
    ...(warnings.length ? { fix: 'fix the storage.conf named above (podman reads it the same way)' } : {}),
  }
}

export async function checkQuota(ctx: DoctorContext): Promise<CapabilityReport> {
  const local = localRunner(ctx.env)
  const cap = ctx.timeoutMs
  const run: Runner = (argv, o = {}) => local(argv, { ...o, timeoutMs: Math.min(o.timeoutMs ?? cap, cap) })
  const uid = process.getuid?.() ?? 0
  const tools = Promise.all(QUOTA_TOOLS.map((t) => ctx.tool(t.name, t.args)))
  const ssh = ctx.tool('ssh', ['-V'])

  const resolved = await resolveStorage(run, ctx.env, uid)
  const p = ctx.engineOptions.podman ?? {}
  const storage: StorageInfo = {
    ...resolved.storage,
    ...(p.root ? { graphroot: p.root, source: ctx.rootSource ?? '--root' } : {}),
    ...(p.storageDriver ? { driver: p.storageDriver } : {}),
  }
  const checks: DoctorCheck[] = [storageCheck(storage, resolved.looked, resolved.warnings)]
  const df = storage.graphroot.startsWith('/') ? await probeDf(run, storage.graphroot) : undefined
  const info = df?.info
  checks.push(
    info
      ? {
          name: 'graphroot filesystem',
          status: 'ok',
          found: `${info.mountpoint} (${[info.type, info.filesystem].filter(Boolean).join(', ')})`,
          detail: `${formatBytes(info.available)} free of ${formatBytes(info.size)}${info.path !== storage.graphroot ? ` (measured at ${info.path}; the graphroot does not exist yet)` : ''}`,
        }
      : {
          name: 'graphroot filesystem',
          status: 'missing',
          detail: df?.warnings.join('; ') || 'not measured',
          fix: 'df (coreutils) must be on PATH and the graphroot (or a parent) must exist',
        },
  )

  const applies = new Set<string>(toolsFor(info?.type))
  for (const [i, t] of (await tools).entries()) {
    const spec = QUOTA_TOOLS[i]
    const role = applies.has(spec.name)
      ? `asked about the graphroot's filesystem${info?.type ? ` (${info.type})` : ''}`
      : `not used for ${info?.type ?? 'this'} filesystems`
    checks.push(
      optionalToolCheck(t, {
        detail: role,
        missing: `not on PATH; ${role}`,
        // Only worth installing for the filesystem it is for.
        fix: applies.has(spec.name) ? spec.fix : undefined,
      }),
    )
  }

  let configLimit: number | undefined
  const limitSetting = ctx.config.quota?.limit
  try {
    configLimit = limitSetting === undefined ? undefined : parseSizeSetting(limitSetting, 'quota.limit')
  } catch (err) {
    checks.push({
      name: 'quota.limit',
      status: 'warn',
      detail: reason(err),
      fix: 'write it as 50G, 512M or bytes',
    })
  }
  if (info) {
    const lim = await probeLimit(run, { df: info, uid, self: true, configLimit })
    const l = lim.limit
    checks.push(
      l.source === 'none'
        ? {
            name: 'limit',
            status: 'warn',
            detail: `no quota tool reports one for ${info.mountpoint}${lim.warnings.length ? ` (${lim.warnings.join('; ')})` : ''}: quota and the preflight go by free space only`,
            fix: 'set quota.limit (e.g. 50G) in ~/.config/airlock/config.yaml, or pass airlock quota --limit',
          }
        : {
            name: 'limit',
            status: lim.warnings.length ? 'warn' : 'ok',
            found: limitText(l),
            ...(lim.warnings.length ? { detail: lim.warnings.join('; ') } : {}),
          },
    )
  }

  const nodes = ctx.config.quota?.nodes ?? []
  const sshTool = await ssh
  checks.push(
    optionalToolCheck(sshTool, {
      detail: 'for --node / quota.nodes',
      missing: nodes.length
        ? `quota.nodes lists ${nodes.join(', ')}, but ssh is not on PATH`
        : 'not on PATH; only --node needs it',
      missingStatus: nodes.length ? 'warn' : 'missing',
      fix: 'apt-get install openssh-client',
    }),
  )

  const usable = storage.graphroot.startsWith('/') && info !== undefined
  const limit = checks.find((c) => c.name === 'limit')
  return {
    name: 'quota',
    commands: 'quota; the preflight of pull, load, sif build',
    usable,
    summary: usable
      ? `${storage.graphroot} on ${info?.mountpoint}; limit: ${limit?.found ?? 'none known (free space only)'}`
      : 'podman storage cannot be measured',
    checks,
  }
}
