import { Args, Flags } from '@oclif/core'
import { createBundle } from '../../lib/bundle/create-bundle.js'
import type { BundleImageReport } from '../../lib/bundle/types.js'
import { parseSizeSetting } from '../../lib/quota/sizes.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { progressTty, withByteProgress } from '../../ui/byte-progress.js'
import { jobsFlag, registryFlags, registryOptions } from '../../ui/flags.js'
import { formatBytes } from '../../ui/format.js'

export default class BundleCreate extends AirlockCommand {
  static override summary =
    'Put images (every platform) into one deduplicated bundle file to carry into an air gap.'
  static override description =
    `The bundle is an OCI image layout in a tar: each blob is stored once however many images share it, index.json names every image by its full reference, and SHA256SUMS lists every file. skopeo copy oci-archive:FILE:REF reads it too. Images come from REF arguments (registry references, or containers-storage:/docker-daemon: names) or from a mirror spec (-f, the same file airlock mirror takes; its naming is recorded so that bundle push puts images where the mirror would).

Run it again on the same -o to add what is missing: images already in the bundle with the same digest are not fetched, new blobs are appended, and with --split only the last part and new parts change (report: changedParts). An interrupted run keeps the images it finished.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> bundle create -o images.tar docker.io/library/alpine:3.20 quay.io/prometheus/node-exporter:v1.8.2',
    '<%= config.bin %> bundle create -o images.tar -f mirror.yaml --split 4000M',
    '<%= config.bin %> bundle create -o images.tar --platform linux/amd64 --referrers ghcr.io/org/app:1.0',
  ]
  static override strict = false
  static override args = {
    ref: Args.string({ description: 'Images to add (repeatable): registry references or TRANSPORT:NAME.' }),
  }
  static override flags = {
    output: Flags.string({
      char: 'o',
      required: true,
      description: 'The bundle file (created, or added to).',
      helpValue: 'FILE',
    }),
    file: Flags.string({
      char: 'f',
      description: 'Mirror spec selecting the images (instead of REF arguments).',
      helpValue: 'SPEC',
    }),
    platform: Flags.string({
      multiple: true,
      description: 'Only these platforms of multi-platform images (repeatable; default: all).',
      helpValue: 'OS/ARCH[/VARIANT]',
    }),
    referrers: Flags.boolean({
      description: 'Add cosign signature, attestation and SBOM tags of each image.',
    }),
    split: Flags.string({
      description:
        'Write numbered parts of at most SIZE (FILE.001, FILE.002, …) plus FILE.SHA256SUMS. Binary units: 4G = 4 GiB; use 4000M for FAT32.',
      helpValue: 'SIZE',
    }),
    concurrency: Flags.integer({
      min: 1,
      max: 32,
      description: "Images fetched at once (default 4, or the spec's).",
    }),
    jobs: jobsFlag,
    quiet: Flags.boolean({ char: 'q', description: 'No progress; only the summary and errors.' }),
    ...registryFlags,
  }

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(BundleCreate)
    // --quiet: no bar and no line per image; failures are listed at the end, as on a terminal.
    const tty = progressTty() || flags.quiet
    const line = (r: BundleImageReport) => {
      const what =
        r.action === 'added'
          ? `added ${r.reference} (${formatBytes(r.bytes)} new)`
          : `${r.action} ${r.reference}`
      const error = r.error ? `: ${r.error.message}${r.error.hint ? `\n  hint: ${r.error.hint}` : ''}` : ''
      return `${what}${error}`
    }
    const report = await withByteProgress(
      `Bundling into ${flags.output}`,
      { quiet: this.jsonMode || flags.quiet, what: 'fetched', plainWhat: 'fetched' },
      (onProgress) =>
        createBundle({
          output: flags.output,
          refs: argv as string[],
          specFile: flags.file,
          platforms: flags.platform,
          referrers: flags.referrers || undefined,
          split: flags.split === undefined ? undefined : parseSizeSetting(flags.split, '--split'),
          registry: registryOptions(flags),
          concurrency: flags.concurrency,
          jobs: flags.jobs,
          signal: this.abortController.signal,
          onProgress,
          // Plain lines as each image finishes; on a terminal the bar shows progress and failures follow.
          onImage: this.jsonMode || tty ? undefined : (r) => process.stderr.write(`${line(r)}\n`),
        }),
    )
    if (!this.jsonMode && tty)
      for (const r of report.images.filter((i) => i.action === 'failed')) this.log(line(r))
    if (this.jsonMode) this.printJson(report)
    else {
      const t = report.totals
      this.log(
        `${report.bundle}: ${t.images} image(s): ${t.added} added, ${t.present} already there, ${t.failed} failed; ` +
          `${report.blobs.count} blobs, ${formatBytes(report.size)} in ${report.parts.length} file(s)`,
      )
      for (const e of report.errors) this.log(`error: ${e.message}`)
      if (report.outcome === 'unchanged') this.log('nothing to add: the bundle is unchanged')
      else this.log(`written: ${report.changedParts.join(' ')}`)
    }
    if (report.exitCode) this.exit(report.exitCode)
  }
}
