import { Args, Flags } from '@oclif/core'
import { logout } from '../lib/registry-ops.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'

export default class Logout extends AirlockCommand {
  static override summary = 'Remove the stored credentials for a registry from the containers auth file.'
  static override description = EXIT_CODES_HELP
  static override examples = ['<%= config.bin %> logout harbor.example.org']
  static override args = { registry: Args.string({ required: true, description: 'Registry host[:port].' }) }
  static override flags = { authfile: Flags.string({ description: 'Auth file to change.' }) }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Logout)
    const r = await logout(args.registry, { authfile: flags.authfile })
    if (this.jsonMode) return this.printJson(r)
    this.log(
      r.removed
        ? `Removed login credentials for ${r.registry} from ${r.authfile}`
        : `Not logged in to ${r.registry}`,
    )
  }
}
