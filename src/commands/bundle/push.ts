import { Args, Flags } from '@oclif/core'
import { type PushedImage, pushBundle } from '../../lib/bundle/push-bundle.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { progressTty, withByteProgress } from '../../ui/byte-progress.js'
import { jobsFlag, registryFlags, registryOptions } from '../../ui/flags.js'
import { formatBytes } from '../../ui/format.js'

export default class BundlePush extends AirlockCommand {
  static override summary = 'Push every image of a bundle into a registry or Harbor project, digests kept.'
  static override description =
    `Images are named by the mirror's rules: --naming, else the rule of the mirror spec the bundle was made from, else flatten (docker.io/library/alpine:3.20 -> REGISTRY/PROJECT/alpine:3.20). Without --to, images go where that spec's target said. Only blobs the registry lacks are sent, each verified against its digest as it leaves the bundle, and a tag is written only after everything it points to. A failed image never stops the others (exit 3).

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> bundle push images.tar --to harbor.example.org/ai-group',
    '<%= config.bin %> bundle push images.tar --to registry.cluster.local:5000/mirror --naming keep-path',
    '<%= config.bin %> bundle push images.tar --to harbor.example.org/new-group --create-project',
    '<%= config.bin %> bundle push images.tar.001 --dry-run --json',
  ]
  static override args = {
    file: Args.string({ required: true, description: 'The bundle (or its first part).' }),
  }
  static override flags = {
    to: Flags.string({
      description: 'Registry, and Harbor project or path prefix, to push into.',
      helpValue: 'REGISTRY[/PROJECT]',
    }),
    naming: Flags.string({
      description: 'keep-path, flatten or "template:{project}/{registry}/{path}" (as in a mirror spec).',
      helpValue: 'RULE',
    }),
    image: Flags.string({
      multiple: true,
      description: 'Only this image of the bundle (repeatable).',
      helpValue: 'REF',
    }),
    platform: Flags.string({
      multiple: true,
      description: 'Only these platforms of multi-platform images.',
      helpValue: 'OS/ARCH',
    }),
    harbor: Flags.string({
      description:
        "Harbor's URL, when the registry is a Harbor: its projects are checked before pushing (default with --create-project: https://REGISTRY).",
      helpValue: 'URL',
    }),
    'create-project': Flags.boolean({
      description: 'Create the Harbor project of --to when it does not exist (needs an account allowed to).',
    }),
    'dry-run': Flags.boolean({ description: 'Show where each image would go; send nothing.' }),
    jobs: jobsFlag,
    quiet: Flags.boolean({ char: 'q', description: 'No progress; only the summary and errors.' }),
    ...registryFlags,
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BundlePush)
    // --quiet: no bar and no line per image; failures are listed at the end, as on a terminal.
    const tty = progressTty() || flags.quiet
    const line = (i: PushedImage) => {
      const size = i.action === 'pushed' ? ` (${formatBytes(i.bytes)} sent)` : ''
      const error = i.error ? `: ${i.error.message}${i.error.hint ? `\n  hint: ${i.error.hint}` : ''}` : ''
      return `${i.action} ${i.reference} -> ${i.target}${size}${error}`
    }
    const r = await withByteProgress(
      `Pushing ${args.file}`,
      {
        quiet: this.jsonMode || flags['dry-run'] || flags.quiet,
        what: 'sent or checked',
        plainWhat: 'sent or checked',
        phase: 'reading the bundle',
      },
      (onProgress) =>
        pushBundle(args.file, {
          to: flags.to,
          naming: flags.naming,
          images: flags.image,
          platforms: flags.platform,
          dryRun: flags['dry-run'],
          harbor: flags.harbor,
          createProject: flags['create-project'],
          jobs: flags.jobs,
          registry: registryOptions(flags),
          signal: this.abortController.signal,
          onProgress,
          onImage:
            this.jsonMode || (tty && !flags['dry-run'])
              ? undefined
              : (i) => process.stderr.write(`${line(i)}\n`),
        }),
    )
    if (!this.jsonMode && tty && !flags['dry-run'])
      for (const i of r.images.filter((x) => x.action === 'failed')) this.log(line(i))
    if (this.jsonMode) this.printJson(r)
    else {
      const t = r.totals
      this.log(
        `${r.bundle}: ${t.images} image(s): ${t.pushed} pushed, ${t.present} already there, ${t.failed} failed; ${formatBytes(t.bytes)} sent`,
      )
    }
    if (r.exitCode) this.exit(r.exitCode)
  }
}
