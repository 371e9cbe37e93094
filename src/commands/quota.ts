import { Flags } from '@oclif/core'
import { loadConfig } from '../lib/config/config.js'
import { AirlockError } from '../lib/errors.js'
import { harborQuotaSection } from '../lib/quota/harbor-quota.js'
import { localRunner } from '../lib/quota/probe.js'
import {
  type Assessment,
  DEFAULT_FAIL,
  DEFAULT_WARN,
  type QuotaNode,
  type QuotaReport,
  quotaReport,
} from '../lib/quota/report.js'
import { parseSizeSetting } from '../lib/quota/sizes.js'
import { sshQuotaNodes } from '../lib/quota/ssh-runner.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { registryFlags, registryOptions } from '../ui/flags.js'
import { formatBytes } from '../ui/format.js'

const percentFlag = Flags.custom<number>({
  parse: async (input: string) => {
    const n = Number(input)
    if (input.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) {
      throw new AirlockError('INVALID_INPUT', `"${input}" is not a percentage from 0 to 100`)
    }
    return n
  },
  helpValue: 'PCT',
})

export default class Quota extends AirlockCommand {
  static override summary = "How full podman's image storage is: usage, quota limit and free space."
  static override description =
    `Finds podman's storage as podman does (CONTAINERS_STORAGE_CONF, ~/.config/containers/storage.conf, /etc/containers/storage.conf, /usr/share/containers/storage.conf; rootless defaults), measures the bytes under its graphroot (hard links once), and reads the limit on that filesystem from the tool the node has: quota -vs, lfs quota (Lustre), mmlsquota (GPFS), xfs_quota, else quota.limit in airlock's config. The free space of the filesystem is always shown. Output a tool prints that airlock does not understand is shown as a warning, never guessed at.

The percentage is of the hard limit (the soft limit when only that is set); with no limit, of the filesystem's size. At --fail percent or more (or over a hard limit, or past a soft limit's grace) the exit status is 4; at --warn percent or more a warning is printed and the status stays 0. When nothing could be measured the status is "unknown" ("could not measure: <why>"): exit 1 with --fail (or config quota.fail), else 0 with a warning.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> quota',
    '<%= config.bin %> quota --warn 70 --fail 90',
    '<%= config.bin %> quota --json',
  ]
  static override flags = {
    warn: percentFlag({
      description: `Warn at this percent of the limit (default: config quota.warn, else ${DEFAULT_WARN}).`,
    }),
    fail: percentFlag({
      description: `Exit 4 at this percent of the limit (default: config quota.fail, else ${DEFAULT_FAIL}).`,
    }),
    limit: Flags.string({
      description: 'Limit to assume when no quota tool reports one, e.g. 50G (default: config quota.limit).',
      helpValue: 'SIZE',
    }),
    root: Flags.string({
      description:
        "Measure this storage root instead of podman's graphroot (as pull --root; config podman.root).",
    }),
    config: Flags.string({
      description:
        'airlock config file (default: AIRLOCK_CONFIG, ~/.config/airlock/config.yaml, /etc/airlock/config.yaml).',
    }),
    node: Flags.string({
      multiple: true,
      description:
        'Probe this node over ssh (ssh name or USER@HOST[:PORT]); repeat for several (config: quota.nodes).',
      helpValue: 'NAME',
    }),
    harbor: Flags.string({
      description: 'Harbor whose project quota to show (with --project).',
      helpValue: 'URL',
    }),
    project: Flags.string({ description: 'Harbor project (config: harbor.project).', helpValue: 'NAME' }),
    ...registryFlags,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Quota)
    const cfg = await loadConfig(flags.config)
    const limitText = flags.limit ?? cfg.quota?.limit
    const root = flags.root ?? cfg.podman?.root
    const nodes: QuotaNode[] = [
      {
        name: 'local',
        run: localRunner(),
        local: true,
        probe: {
          env: process.env as Record<string, string>,
          ...(root
            ? { storage: { graphroot: root, source: flags.root ? '--root' : `${cfg.file}: podman.root` } }
            : {}),
        },
      },
    ]
    const ssh = cfg.quota?.ssh ?? {}
    nodes.push(
      ...sshQuotaNodes(flags.node ?? cfg.quota?.nodes ?? [], {
        configFile: ssh.configFile,
        identityFile: ssh.identityFile,
        user: ssh.user,
        port: ssh.port,
        connectTimeoutSec: ssh.connectTimeout,
        strictHostKeyChecking: ssh.strictHostKeyChecking,
        extraArgs: (ssh.options ?? []).flatMap((o) => ['-o', o]),
      }),
    )
    const harborUrl = flags.harbor ?? (flags.project ? cfg.harbor?.host : undefined)
    const project = flags.project ?? cfg.harbor?.project
    const report = await quotaReport({
      nodes,
      ...(harborUrl && project
        ? {
            harbor: () =>
              harborQuotaSection({ url: harborUrl, project, registryOptions: registryOptions(flags) }),
          }
        : {}),
      warn: flags.warn ?? cfg.quota?.warn,
      fail: flags.fail ?? cfg.quota?.fail,
      configLimit:
        limitText === undefined
          ? undefined
          : parseSizeSetting(limitText, flags.limit ? '--limit' : 'quota.limit'),
    })
    if (this.jsonMode) this.printJson(report)
    else {
      for (const line of renderQuotaReport(report)) this.log(line)
      for (const line of statusLines(report)) process.stderr.write(`${line}\n`)
    }
    if (report.exitCode) this.exit(report.exitCode)
  }
}

const BAR = 24

/** `[#########---------------]`, capped at full. */
export function bar(percent: number | undefined): string {
  if (percent === undefined) return `[${' '.repeat(BAR)}]`
  const n = Math.max(0, Math.min(BAR, Math.round((percent / 100) * BAR)))
  return `[${'#'.repeat(n)}${'-'.repeat(BAR - n)}]`
}

function limitText(r: QuotaReport['nodes'][number]): string {
  const l = r.limit
  if (!l || l.source === 'none') return 'none found (no quota tool reports one; set quota.limit)'
  const where = l.filesystem ? ` on ${l.filesystem}` : ''
  const src = l.source === 'config' ? 'quota.limit in airlock config' : `${l.source}${where}`
  if (l.hard === undefined && l.soft === undefined) return `unlimited (${src})`
  const parts = [l.hard !== undefined ? `${formatBytes(l.hard)} hard` : 'no hard limit']
  if (l.soft !== undefined) parts.push(`${formatBytes(l.soft)} soft`)
  if (l.grace) parts.push(`grace ${l.grace}`)
  return `${parts.join(', ')} (${src})`
}

function percentText(a: Assessment): string {
  if (a.percent === undefined) return 'unknown'
  const of = a.basis === 'filesystem' ? 'of the filesystem' : `of the ${a.basis} limit`
  return `${a.percent.toFixed(1)}% ${of}`
}

/** The report as lines: one small table per node (and Harbor's project when asked). */
export function renderQuotaReport(report: QuotaReport): string[] {
  const out: string[] = []
  for (const n of report.nodes) {
    const a = n.assessment
    if (!n.reachable) {
      out.push(`${n.node}: unreachable: ${n.error ?? 'no answer'}`, '')
      continue
    }
    const s = n.storage
    out.push(`${n.node}: ${s ? `${s.graphroot} (${s.driver || 'driver not set'}; ${s.source})` : '?'}`)
    const row = (k: string, v: string) => out.push(`  ${k.padEnd(8)}${v}`)
    row('usage', n.usage === undefined ? 'unknown' : `${formatBytes(n.usage)} under graphroot`)
    row('limit', limitText(n))
    row(
      'used',
      a.used === undefined
        ? 'unknown'
        : `${formatBytes(a.used)} ${bar(a.percent)} ${percentText(a)}  ${a.status.toUpperCase()}${a.reason ? ` (${a.reason})` : ''}`,
    )
    row(
      'free',
      n.free === undefined
        ? 'unknown'
        : `${formatBytes(n.free)} of ${formatBytes(n.fsSize ?? 0)} on ${n.fs ? `${n.fs.mountpoint} (${[n.fs.type, n.fs.device].filter(Boolean).join(', ')})` : 'the filesystem'}${a.remaining !== undefined ? `; room for ${formatBytes(a.remaining)}` : ''}`,
    )
    if (n.error) row('error', n.error)
    for (const w of n.warnings) row('warning', w.replaceAll('\n', ' / '))
    out.push('')
  }
  const h = report.harbor
  if (h) {
    const a = h.assessment
    out.push(`harbor${h.url ? ` ${h.url}` : ''} project ${h.project}:`)
    if (h.error) out.push(`  error   ${h.error}`)
    else {
      out.push(`  limit   ${h.hard === undefined ? 'unlimited' : formatBytes(h.hard)}`)
      out.push(
        `  used    ${h.used === undefined ? 'unknown' : formatBytes(h.used)} ${bar(a.percent)} ${percentText(a)}  ${a.status.toUpperCase()}`,
      )
    }
    out.push('')
  }
  while (out.at(-1) === '') out.pop()
  return out
}

/** Warning and error lines for stderr: what crossed which threshold. */
export function statusLines(report: QuotaReport): string[] {
  const t = report.thresholds
  const lines: string[] = []
  const items: Array<[string, Assessment]> = [
    ...report.nodes.map((n): [string, Assessment] => [n.node, n.assessment]),
    ...(report.harbor
      ? [[`Harbor project ${report.harbor.project}`, report.harbor.assessment] as [string, Assessment]]
      : []),
  ]
  for (const [name, a] of items) {
    const at = a.percent === undefined ? '' : ` at ${a.percent.toFixed(1)}%`
    const why = a.reason ? ` (${a.reason})` : ''
    if (a.status === 'fail') lines.push(`Error: ${name} is${at}${why}; the limit for failing is ${t.fail}%`)
    else if (a.status === 'warn') lines.push(`Warning: ${name} is${at}${why}; warning from ${t.warn}%`)
  }
  if (report.status === 'unknown') {
    lines.push(`${report.exitCode ? 'Error' : 'Warning'}: ${report.reason ?? 'could not measure'}`)
    lines.push(
      "Hint: run `airlock doctor --for quota` on the node; --root names the storage to measure when podman's cannot be found",
    )
  } else {
    for (const n of report.nodes) {
      if (n.assessment.status === 'unknown') {
        lines.push(`Warning: could not measure ${n.node}: ${n.assessment.reason ?? 'nothing measured'}`)
      }
    }
  }
  if (report.status === 'fail') {
    lines.push(
      'Hint: remove images you no longer need (podman images --sort size; podman rmi; podman system prune)',
    )
  }
  return lines
}
