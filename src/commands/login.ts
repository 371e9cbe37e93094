import { Args, Flags } from '@oclif/core'
import { AirlockError } from '../lib/errors.js'
import { login } from '../lib/registry-ops.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { boolValue } from '../ui/flags.js'
import { promptSecret } from '../ui/prompt.js'

export default class Login extends AirlockCommand {
  static override summary =
    'Log in to a registry: check the credentials, then store them in the containers auth file (mode 0600).'
  static override description =
    `Writes the file podman and skopeo read: --authfile, else REGISTRY_AUTH_FILE, else \${XDG_RUNTIME_DIR}/containers/auth.json, else ~/.config/containers/auth.json. The password is never printed. Without -p or --password-stdin, the password is asked for on the terminal (not echoed).

${EXIT_CODES_HELP}`
  static override examples = [
    'printf %s "$HARBOR_PASSWORD" | <%= config.bin %> login -u robot\\$mygroup+ci --password-stdin harbor.example.org',
    '<%= config.bin %> login -u admin harbor.example.org',
    '<%= config.bin %> login -u admin -p secret 127.0.0.1:5000 --tls-verify=false',
  ]
  static override args = { registry: Args.string({ required: true, description: 'Registry host[:port].' }) }
  static override flags = {
    username: Flags.string({ char: 'u', description: 'User name.', required: true }),
    password: Flags.string({
      char: 'p',
      description: 'Password (prefer --password-stdin: arguments are visible to other users).',
    }),
    'password-stdin': Flags.boolean({ description: 'Read the password from stdin.' }),
    authfile: Flags.string({ description: 'Auth file to write.' }),
    'tls-verify': boolValue({
      description: 'Verify TLS; false also allows plain HTTP.',
      helpValue: 'true|false',
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Login)
    let password = flags.password
    if (flags['password-stdin']) {
      const chunks: Buffer[] = []
      for await (const c of process.stdin) chunks.push(c as Buffer)
      password = Buffer.concat(chunks)
        .toString('utf8')
        .replace(/\r?\n$/, '')
    }
    if (!password && !flags['password-stdin'] && process.stdin.isTTY)
      password = await promptSecret('Password: ')
    if (!password) {
      throw new AirlockError('INVALID_INPUT', 'no password given', {
        hint: 'use --password-stdin (or -p), or run it on a terminal to be asked',
      })
    }
    const r = await login(
      args.registry,
      { username: flags.username, password },
      {
        authfile: flags.authfile,
        tlsVerify: flags['tls-verify'],
      },
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(`Login Succeeded: ${r.username} at ${r.registry} (stored in ${r.authfile})`)
  }
}
