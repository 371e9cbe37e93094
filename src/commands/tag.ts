import { Args } from '@oclif/core'
import { tagAnywhere } from '../lib/engine-flows/tag.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { engineFlags, engineFlowOptions, harborFlags } from '../ui/engine-flags.js'
import { registryFlags } from '../ui/flags.js'

export default class Tag extends AirlockCommand {
  static override summary =
    'Tag an image where it lives: in podman or docker (by name or image ID), or in its registry.'
  static override description = `SOURCE decides where:
  docker://REF                   in the registry: the manifest is written again under each TARGET (a tag, or a reference in the same repository), byte for byte, without moving blobs;
  containers-storage:REF         in podman (docker-daemon:REF: in docker);
  NAME or IMAGE-ID               in the local engine when it holds that image (IDs may be short, as podman tag takes them), else in the registry NAME points at.

With --project (and --harbor, or harbor.host in the config file), engine TARGETs without a registry host go into <harbor>/<project>/name:tag; a project name with capitals is lowercased.

${EXIT_CODES_HELP}`
  static override strict = false
  static override examples = [
    '<%= config.bin %> tag 91ef0af61f39 harbor.example.org/mygroup/alpine:demo-copy',
    '<%= config.bin %> tag 91ef0af61f39 alpine:demo-copy --harbor harbor.example.org --project MyGroup',
    '<%= config.bin %> tag docker://harbor.example.org/mygroup/app:1.4.2 1.4 latest',
    '<%= config.bin %> tag --json docker://127.0.0.1:5000/app@sha256:<digest> stable --tls-verify=false',
  ]
  static override args = {
    source: Args.string({
      required: true,
      description: 'Image to tag: docker://REF, a local name, or an image ID.',
    }),
    target: Args.string({ required: true, description: 'New name(s) or tag(s).' }),
  }
  static override flags = { ...engineFlags, ...harborFlags, ...registryFlags }

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Tag)
    const targets = (argv as string[]).slice(1)
    const opts = await engineFlowOptions(flags, this.abortController.signal)
    // Only an explicit --project maps tag targets into Harbor; a config file alone does not.
    if (!flags.project && opts.harbor) opts.harbor = undefined
    const r = await tagAnywhere(args.source, targets, opts)
    if (this.jsonMode) return this.printJson(r)
    for (const n of r.notices) this.warn(n.message)
    for (const t of r.tagged)
      this.log(`${t} -> ${r.id ?? r.digest}${r.where === 'registry' ? '' : ` (${r.where})`}`)
  }
}
