import { Args, Flags } from '@oclif/core'
import { loadBundle } from '../../lib/bundle/load-bundle.js'
import { parsePlatform } from '../../lib/manifest.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { withCopyProgress } from '../../ui/copy-progress.js'
import { engineFlags, engineFlowOptions } from '../../ui/engine-flags.js'

export default class BundleLoad extends AirlockCommand {
  static override summary = 'Load the images of a bundle into podman or docker.'
  static override description =
    `Each image is loaded under its reference in the bundle (docker.io/library/alpine:3.20), the platform of this machine (or --platform) from multi-platform images. Signature entries, and entries named only by digest, are skipped and listed. Nothing is extracted.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> bundle load images.tar',
    '<%= config.bin %> bundle load images.tar --engine docker --image docker.io/library/alpine:3.20',
  ]
  static override args = {
    file: Args.string({ required: true, description: 'The bundle (or its first part).' }),
  }
  static override flags = {
    ...engineFlags,
    image: Flags.string({
      multiple: true,
      description: 'Only this image of the bundle (repeatable).',
      helpValue: 'REF',
    }),
    platform: Flags.string({
      description: 'Platform to load from multi-platform images (os/arch[/variant]).',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BundleLoad)
    const opts = await engineFlowOptions(flags, this.abortController.signal)
    if (flags.platform) opts.platforms = [parsePlatform(flags.platform)]
    const r = await withCopyProgress({ title: `Loading ${args.file}`, quiet: flags.quiet }, (onEvent) =>
      loadBundle(args.file, { ...opts, images: flags.image, onEvent }),
    )
    if (this.jsonMode) return this.printJson(r)
    for (const n of r.notices) this.warn(n.message)
    for (const s of r.skipped) this.log(`Skipped ${s.reference}: ${s.reason}`)
    for (const img of r.images)
      this.log(
        `Loaded ${img.names.join(', ')} into ${r.engine} (image ${img.id.replace(/^sha256:/, '').slice(0, 12)})`,
      )
  }
}
