import { Flags } from '@oclif/core'
import { CAPABILITIES, type CheckStatus, type DoctorReport, runDoctor } from '../lib/doctor/run-doctor.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { engineFlags } from '../ui/engine-flags.js'
import { registryFlags } from '../ui/flags.js'
import { redact } from '../ui/redact.js'
import { s3Connection, s3Flags } from '../ui/s3-flags.js'

export default class Doctor extends AirlockCommand {
  static override summary =
    'What this machine has and lacks for each airlock capability, with the fix for each.'
  static override description =
    `Checks, in parallel and with the code the commands themselves run: the config file (config); the built-in copy engine and the engine transports (copy); mirror's lock and state directories (mirror); podman and the Docker Engine API, and which one pull/push/tag/save/load would use (engine); apptainer/singularity, tar2sqfs, mksquashfs 4.5 or later and fallocate for sif build (sif); S3 endpoint, region and credentials for upload/download (upload); PROMINENCE_URL and PROMINENCE_TOKEN (prominence); podman's storage.conf and graphroot, its filesystem, the quota tools and the limit (quota); the auth files in the order airlock reads them, with the registries each holds credentials for (auth).

Secrets are never shown: credentials are named by where they come from (a variable, a file, a profile, a registry).

Without --for, every capability is reported and the exit status is 0. With --for, only those are checked, and the exit status is 1 when one of them is not usable here; an unknown name is a usage error (2).

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --for sif',
    '<%= config.bin %> doctor --for engine,auth --docker-host unix:///run/user/1000/podman/podman.sock',
    '<%= config.bin %> doctor --for upload --endpoint https://s3.example.org --json',
  ]
  static override flags = {
    for: Flags.string({
      multiple: true,
      description: `Check only this capability and exit 1 when it is not usable; repeat or give a comma list (${CAPABILITIES.join(', ')}).`,
      helpValue: 'CAPABILITY',
    }),
    engine: engineFlags.engine,
    root: engineFlags.root,
    runroot: engineFlags.runroot,
    'storage-driver': engineFlags['storage-driver'],
    'docker-host': engineFlags['docker-host'],
    config: engineFlags.config,
    authfile: registryFlags.authfile,
    ...s3Flags,
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Doctor)
    const report = await runDoctor({
      capabilities: flags.for ?? [],
      engine: flags.engine as 'podman' | 'docker' | undefined,
      podman: { root: flags.root, runroot: flags.runroot, storageDriver: flags['storage-driver'] },
      dockerHost: flags['docker-host'],
      configFile: flags.config,
      authfile: flags.authfile,
      s3: s3Connection(flags),
    })
    // The library reports no secrets; redact() is the last line of defence, as for errors.
    if (this.jsonMode) this.printJson(JSON.parse(redact(JSON.stringify(report))))
    else {
      for (const line of renderDoctor(report, Boolean(process.stdout.isTTY))) this.log(redact(line))
      if (report.missing.length) {
        process.stderr.write(
          `Error: not usable here: ${report.missing.join(', ')}\nHint: the fix lines above say what to install or set\n`,
        )
      }
    }
    if (report.exitCode) this.exit(report.exitCode)
  }
}

const MARKS: Record<'tty' | 'plain', Record<CheckStatus | 'absent', string>> = {
  tty: { ok: '✓', warn: '!', missing: '✗', absent: '·' },
  plain: { ok: 'ok', warn: 'warn', missing: 'MISSING', absent: '-' },
}

/** The report as lines: one block per capability, one line per check, a fix line under each problem. */
export function renderDoctor(report: DoctorReport, tty: boolean): string[] {
  const marks = MARKS[tty ? 'tty' : 'plain']
  const width = Math.max(...Object.values(marks).map((m) => m.length))
  const mark = (k: CheckStatus | 'absent') => marks[k].padEnd(width)
  const nameWidth = Math.min(
    22,
    Math.max(0, ...report.capabilities.flatMap((c) => c.checks.map((k) => k.name.length))),
  )
  const out: string[] = []
  for (const cap of report.capabilities) {
    out.push(`${mark(cap.usable ? 'ok' : 'missing')} ${cap.name} (${cap.commands}): ${cap.summary}`)
    for (const c of cap.checks) {
      const found = c.found ? `${c.found}${c.version ? ` (${c.version})` : ''}` : (c.version ?? '')
      const text = [found, c.detail].filter(Boolean).join(': ')
      const m = c.status === 'missing' && c.optional ? 'absent' : c.status
      out.push(`    ${mark(m)} ${c.name.padEnd(nameWidth)}  ${text}`.trimEnd())
      if (c.status !== 'ok' && c.fix)
        out.push(`    ${' '.repeat(width)} ${' '.repeat(nameWidth)}  fix: ${c.fix}`)
    }
    out.push('')
  }
  const usable = report.capabilities.filter((c) => c.usable).length
  if (report.asked.length) {
    out.push(
      report.missing.length
        ? `${report.missing.join(', ')}: not usable here (${report.seconds.toFixed(2)} s)`
        : `${report.asked.join(', ')}: ready (${report.seconds.toFixed(2)} s)`,
    )
  } else {
    out.push(
      `${usable} of ${report.capabilities.length} capabilities usable here (${report.seconds.toFixed(2)} s); --for NAME exits 1 when NAME is not`,
    )
  }
  return out
}
