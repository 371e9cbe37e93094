import { Args, Flags } from '@oclif/core'
import { summaryLines } from '../lib/mirror/report.js'
import { runMirror } from '../lib/mirror/run-mirror.js'
import { parseShard } from '../lib/mirror/shard.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { jobsFlag } from '../ui/flags.js'

export default class Mirror extends AirlockCommand {
  static override summary =
    'Mirror the images a YAML spec lists into a registry or Harbor project, incrementally.'
  static override description =
    `Lists the tags of every source, selects them (exact list, include/exclude regex, semver range, latest N, all), and copies each tag whose digest differs from the target's. Digests are compared with HEAD requests, which Docker Hub does not count as pulls; tags matching an "immutable" pattern that are already at the target are not asked for at all. Each image is retried; a failure never stops the others. One run at a time per spec (a lock file); --shard I/N splits the work over machines (Kubernetes Indexed Jobs, Slurm arrays).

A spec, in short (secrets are named by environment variable, never written in it):

  defaults:
    target: harbor.example.org        # registry host
    project: mirror                   # -> harbor.example.org/mirror/alpine:3.20
    harbor: { url: https://harbor.example.org, createProject: true, credentials: { username: 'robot$mirror', passwordEnv: HARBOR_PASSWORD } }
  registries:
    harbor.example.org: { credentials: { username: 'robot$mirror', passwordEnv: HARBOR_PASSWORD } }
  images:
    - source: docker.io/library/alpine
      tags: ["3.20", "3.19"]          # exact tags, quoted
    - source: docker.io/library/python
      include: ['^3\\.12-slim$']      # or all, semver, latest, exclude

Every key is described in docs/mirror-spec.md in the airlock source; scheduling (systemd, cron, Kubernetes) in docs/mirror.md.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> mirror mirror.yaml --dry-run',
    '<%= config.bin %> mirror mirror.yaml --report /var/log/airlock/mirror.json --metrics /var/lib/node_exporter/textfile/airlock.prom',
    '<%= config.bin %> mirror mirror.yaml --shard "$JOB_COMPLETION_INDEX/4" --json',
  ]
  static override args = { spec: Args.string({ required: true, description: 'Mirror spec (YAML).' }) }
  static override flags = {
    'dry-run': Flags.boolean({
      description: 'Print the plan (what would be copied, skipped, and why); change nothing.',
    }),
    report: Flags.string({ description: 'Write the JSON report to this file as well.', helpValue: 'FILE' }),
    metrics: Flags.string({
      description: 'Write Prometheus textfile metrics (node_exporter).',
      helpValue: 'FILE.prom',
    }),
    shard: Flags.string({
      description: 'Do only shard I of N (0-based): --shard 0/4 … --shard 3/4.',
      helpValue: 'I/N',
    }),
    lock: Flags.string({
      description: 'Lock file (default: one per spec in the temp directory).',
      helpValue: 'FILE',
    }),
    'lock-wait': Flags.integer({
      min: 0,
      default: 0,
      description: 'Seconds to wait for another run to finish (default: refuse at once).',
    }),
    state: Flags.string({
      description: 'State file (default: ~/.local/state/airlock/mirror-<hash>.json).',
      helpValue: 'FILE',
    }),
    jobs: jobsFlag,
    verbose: Flags.boolean({ description: 'List skipped images too (-v is --version, as in podman).' }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress; only the summary and errors.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Mirror)
    const report = await runMirror(args.spec, {
      dryRun: flags['dry-run'],
      shard: flags.shard ? parseShard(flags.shard) : undefined,
      reportFile: flags.report,
      metricsFile: flags.metrics,
      lockFile: flags.lock,
      lockWaitSeconds: flags['lock-wait'],
      stateFile: flags.state,
      jobs: flags.jobs,
      signal: this.abortController.signal,
      onImage: this.jsonMode
        ? undefined
        : (r) => {
            if ((r.action === 'copied' && !flags.quiet) || r.action === 'failed')
              process.stderr.write(
                `${r.action} ${r.source} -> ${r.target}${r.error ? `: ${r.error.message}` : ''}\n`,
              )
          },
    })
    if (this.jsonMode) this.printJson(report)
    else for (const line of summaryLines(report, flags.verbose)) this.log(line)
    if (report.exitCode) this.exit(report.exitCode)
  }
}
