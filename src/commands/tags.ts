import { Args } from '@oclif/core'
import { listTags } from '../lib/registry-ops.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { registryFlags, registryOptions } from '../ui/flags.js'

export default class Tags extends AirlockCommand {
  static override summary = 'List the tags of a registry repository (all pages).'
  static override description = EXIT_CODES_HELP
  static override examples = [
    '<%= config.bin %> tags docker.io/library/alpine',
    '<%= config.bin %> tags --json 127.0.0.1:5000/app --tls-verify=false',
  ]
  static override args = {
    repository: Args.string({ required: true, description: 'Repository, without tag.' }),
  }
  static override flags = { ...registryFlags }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Tags)
    const r = await listTags(args.repository, registryOptions(flags), this.abortController.signal)
    if (this.jsonMode) return this.printJson(r)
    if (r.tags.length) this.log(r.tags.join('\n'))
  }
}
