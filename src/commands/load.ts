import { Args, Flags } from '@oclif/core'
import { loadArchive } from '../lib/engine-flows/load.js'
import { parsePlatform } from '../lib/manifest.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withCopyProgress } from '../ui/copy-progress.js'
import { engineFlags, engineFlowOptions } from '../ui/engine-flags.js'
import { forceFlag, quotaFlowOptions } from '../ui/quota-flags.js'

export default class Load extends AirlockCommand {
  static override summary = 'Load the images of a docker-archive or oci-archive file into podman or docker.'
  static override description =
    `Reads FILE in place (nothing is extracted) and copies every image in it into the local engine under the names the archive gives (RepoTags of docker save and podman save -m, or the OCI ref.name). An image without a name is loaded as localhost/<file>:<index>. Entries with "..", absolute paths or links leaving the archive are refused.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> load centos7.tar',
    '<%= config.bin %> load --engine docker images.tar --json',
  ]
  static override args = { file: Args.string({ required: true, description: 'Archive to load.' }) }
  static override flags = {
    ...engineFlags,
    ...forceFlag,
    input: Flags.string({ char: 'i', description: 'Archive to load (as podman load -i); same as FILE.' }),
    platform: Flags.string({
      description: 'Platform to load from a multi-platform oci-archive (os/arch[/variant]).',
    }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Load)
    const opts = await engineFlowOptions(flags, this.abortController.signal)
    if (flags.platform) opts.platforms = [parsePlatform(flags.platform)]
    const quota = await quotaFlowOptions(flags)
    const r = await withCopyProgress({ title: `Loading ${args.file}`, quiet: flags.quiet }, (onEvent) =>
      loadArchive(args.file, { ...opts, quota, onEvent }),
    )
    if (this.jsonMode) return this.printJson(r)
    for (const n of r.notices) this.warn(n.message)
    for (const img of r.images)
      this.log(
        `Loaded ${img.names.join(', ')} into ${r.engine} (image ${img.id.replace(/^sha256:/, '').slice(0, 12)})`,
      )
  }
}
