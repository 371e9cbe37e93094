import { Args } from '@oclif/core'
import { tagImage } from '../lib/registry-ops.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { registryFlags, registryOptions } from '../ui/flags.js'

export default class Tag extends AirlockCommand {
  static override summary = 'Add tags to an image inside its registry repository, without moving any blob.'
  static override description =
    `The manifest is written again under each new tag, byte for byte, so every tag has the source digest. TAG is a bare tag or a reference in the same repository.

${EXIT_CODES_HELP}`
  static override strict = false
  static override examples = [
    '<%= config.bin %> tag harbor.example.org/mygroup/app:1.4.2 1.4 latest',
    '<%= config.bin %> tag --json 127.0.0.1:5000/app@sha256:<digest> stable --tls-verify=false',
  ]
  static override args = {
    source: Args.string({ required: true, description: 'Image to tag (registry reference).' }),
    tag: Args.string({ required: true, description: 'New tag(s).' }),
  }
  static override flags = { ...registryFlags }

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Tag)
    const tags = (argv as string[]).slice(1)
    const r = await tagImage(args.source, tags, registryOptions(flags), this.abortController.signal)
    if (this.jsonMode) return this.printJson(r)
    for (const t of r.tagged) this.log(`${t} -> ${r.digest}`)
  }
}
