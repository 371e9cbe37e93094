import { Args, Flags } from '@oclif/core'
import { pullImage } from '../lib/engine-flows/pull.js'
import { parsePlatform } from '../lib/manifest.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withCopyProgress } from '../ui/copy-progress.js'
import { engineFlags, engineFlowOptions } from '../ui/engine-flags.js'
import { registryFlags } from '../ui/flags.js'
import { forceFlag, quotaFlowOptions } from '../ui/quota-flags.js'

export default class Pull extends AirlockCommand {
  static override summary = 'Pull an image from a registry into podman or docker.'
  static override description =
    `Copies REF into the local engine (podman if it is installed, else docker; --engine chooses) through airlock's copy engine: auth files, retries and digest checks as for airlock copy. One platform is pulled: this machine's, or --platform.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> pull docker.io/library/alpine:3.20',
    '<%= config.bin %> pull --engine docker --platform linux/arm64 alpine:3.20',
    '<%= config.bin %> pull --tls-verify=false 127.0.0.1:5000/tools/samtools:1.20 --root /scratch/$USER/containers',
  ]
  static override args = {
    reference: Args.string({ required: true, description: 'Registry image to pull.' }),
  }
  static override flags = {
    ...engineFlags,
    ...registryFlags,
    ...forceFlag,
    platform: Flags.string({ description: 'Platform to pull (os/arch[/variant]); default: this machine.' }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Pull)
    const opts = await engineFlowOptions(flags, this.abortController.signal)
    if (flags.platform) opts.platforms = [parsePlatform(flags.platform)]
    const quota = await quotaFlowOptions(flags)
    const r = await withCopyProgress({ title: `Pulling ${args.reference}`, quiet: flags.quiet }, (onEvent) =>
      pullImage(args.reference, { ...opts, quota, onEvent }),
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(`${r.reference} is in ${r.engine} as image ${r.id.replace(/^sha256:/, '').slice(0, 12)}`)
  }
}
