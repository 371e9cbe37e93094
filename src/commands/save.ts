import { Args, Flags } from '@oclif/core'
import { saveImage } from '../lib/engine-flows/save.js'
import { parsePlatform } from '../lib/manifest.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withCopyProgress } from '../ui/copy-progress.js'
import { engineFlags, engineFlowOptions } from '../ui/engine-flags.js'
import { registryFlags } from '../ui/flags.js'
import { formatBytes } from '../ui/format.js'

export default class Save extends AirlockCommand {
  static override summary = 'Save an image to a docker-archive or oci-archive file.'
  static override description =
    `REF is a local podman/docker image (name or image ID), or any transport reference (docker://REF reads straight from a registry, no engine needed). The file is written under a temporary name and renamed when complete. docker-archive files load with docker load and podman load, and build with apptainer build x.sif docker-archive://x.tar.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> save centos:7 -o centos7.tar',
    '<%= config.bin %> save docker://docker.io/library/alpine:3.20 -o alpine.tar --platform linux/amd64',
    '<%= config.bin %> save 91ef0af61f39 -o app-oci.tar --format oci-archive',
  ]
  static override args = { reference: Args.string({ required: true, description: 'Image to save.' }) }
  static override flags = {
    ...engineFlags,
    ...registryFlags,
    output: Flags.string({ char: 'o', required: true, description: 'Archive file to write.' }),
    format: Flags.string({
      options: ['docker-archive', 'oci-archive'],
      default: 'docker-archive',
      description: 'Archive format.',
    }),
    platform: Flags.string({
      description: 'Platform to save from a multi-platform image (os/arch[/variant]).',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Save)
    const opts = await engineFlowOptions(flags, this.abortController.signal)
    if (flags.platform) opts.platforms = [parsePlatform(flags.platform)]
    const r = await withCopyProgress({ title: `Saving ${args.reference}`, quiet: flags.quiet }, (onEvent) =>
      saveImage(args.reference, flags.output, flags.format as 'docker-archive' | 'oci-archive', {
        ...opts,
        onEvent,
      }),
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(
      `Saved ${args.reference} to ${r.file} (${r.format}${r.name ? `, named ${r.name}` : ''}, ${formatBytes(r.copy.bytes.total)})`,
    )
  }
}
