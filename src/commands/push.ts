import { Args, Flags } from '@oclif/core'
import { pushImage } from '../lib/engine-flows/push.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withCopyProgress } from '../ui/copy-progress.js'
import { engineFlags, engineFlowOptions, harborFlags } from '../ui/engine-flags.js'
import { registryFlags } from '../ui/flags.js'
import { forceFlag, quotaFlowOptions } from '../ui/quota-flags.js'

export default class Push extends AirlockCommand {
  static override summary = 'Push an image from podman or docker to a registry or your Harbor project.'
  static override description =
    `IMAGE is a local name or image ID (full or short). Without DEST, the image goes to the Harbor project configured (--harbor/--project or harbor: in the config file) as <harbor>/<project>/name:tag, else to the registry its name points at, as podman push does. A DEST without a registry host also goes into the Harbor project.

Engines store layers uncompressed and compress them again when pushing, so the manifest digest in the registry can differ from the one the image was pulled with; airlock says so. To move an image with its digests and signatures intact, copy registry to registry with airlock copy.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> push alpine:demo-copy --harbor harbor.example.org --project mygroup',
    '<%= config.bin %> push 91ef0af61f39 harbor.example.org/mygroup/alpine:demo-copy',
    '<%= config.bin %> push --json myapp:1.0 127.0.0.1:5000/lab/myapp:1.0 --tls-verify=false',
  ]
  static override args = {
    image: Args.string({ required: true, description: 'Local image: name or image ID.' }),
    destination: Args.string({
      required: false,
      description: 'Where to push (default: the Harbor project, else its name).',
    }),
  }
  static override flags = {
    ...engineFlags,
    ...harborFlags,
    ...registryFlags,
    ...forceFlag,
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Push)
    const opts = await engineFlowOptions(flags, this.abortController.signal)
    const quota = await quotaFlowOptions(flags)
    const r = await withCopyProgress({ title: `Pushing ${args.image}`, quiet: flags.quiet }, (onEvent) =>
      pushImage(args.image, args.destination, { ...opts, quota, onEvent }),
    )
    if (this.jsonMode) return this.printJson(r)
    for (const n of r.notices) this.warn(n.message)
    this.log(
      `Pushed ${args.image} (${r.engine} image ${r.image.id.replace(/^sha256:/, '').slice(0, 12)}) to ${r.destination}\n  digest   ${r.digest}`,
    )
  }
}
