import { Args, Flags } from '@oclif/core'
import { parsePlatform } from '../../lib/manifest.js'
import { type BuilderChoice, buildSif } from '../../lib/sif/build-sif.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { withByteProgress } from '../../ui/byte-progress.js'
import { engineFlags } from '../../ui/engine-flags.js'
import { registryFlags, registryOptions } from '../../ui/flags.js'
import { formatBytes } from '../../ui/format.js'

export default class SifBuild extends AirlockCommand {
  static override summary =
    'Build a SIF file from an image: a docker save archive, a registry, a layout or an engine.'
  static override description =
    `SRC is docker-archive:FILE (the default for a .tar), oci-archive:FILE, oci:DIR[:NAME], docker://REF, containers-storage:REF or docker-daemon:REF.

--builder auto (the default) runs apptainer, else singularity, when one is on PATH (apptainer build OUT.sif docker-archive://FILE.tar, with --tmpdir as APPTAINER_TMPDIR), and the built-in converter otherwise. The built-in converter needs neither root nor a temporary root filesystem: it flattens the layers in one streaming pass (whiteouts applied, owners, modes and links kept from the tar headers, so root-owned files stay root-owned), adds apptainer's /.singularity.d (environment from Env, runscript from Entrypoint/Cmd, labels), streams the result into tar2sqfs (or mksquashfs), and writes the SIF container itself. The output appears only when complete; interrupted (Ctrl-C, SIGTERM, SIGHUP), the build exits 1 and leaves nothing at or beside the output. File times before 1970 or after 2106-02-07 are clamped to that range, which is all squashfs can store.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> sif build centos7.tar -o centos7.sif',
    '<%= config.bin %> sif build docker://docker.io/library/alpine:3.20 -o alpine.sif --builder builtin --platform linux/arm64',
    '<%= config.bin %> sif build app.tar -o app.sif --reproducible --json',
  ]
  static override args = { source: Args.string({ required: true, description: 'Image to convert.' }) }
  static override flags = {
    output: Flags.string({ char: 'o', required: true, description: 'SIF file to write.' }),
    builder: Flags.string({
      options: ['auto', 'apptainer', 'singularity', 'builtin'],
      default: 'auto',
      description: 'Who builds: apptainer/singularity when installed (auto), or the built-in converter.',
    }),
    'squashfs-tool': Flags.string({
      options: ['auto', 'tar2sqfs', 'mksquashfs'],
      default: 'auto',
      description:
        'Built-in converter: tar2sqfs (auto, when installed) or mksquashfs -tar (writes inside the SIF: no temporary file).',
    }),
    platform: Flags.string({
      description: 'Platform of a multi-platform image (os/arch[/variant]); default: this machine.',
    }),
    reproducible: Flags.boolean({
      description: 'Byte-identical output for the same input (built-in converter).',
    }),
    force: Flags.boolean({ description: 'Build even when the output looks too big for the free space.' }),
    tmpdir: engineFlags.tmpdir,
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
    ...registryFlags,
    root: engineFlags.root,
    runroot: engineFlags.runroot,
    'storage-driver': engineFlags['storage-driver'],
    'docker-host': engineFlags['docker-host'],
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(SifBuild)
    const r = await withByteProgress(
      `Building ${flags.output} from ${args.source}`,
      { quiet: flags.quiet || this.jsonMode },
      (onBytes) =>
        buildSif(args.source, flags.output, {
          builder: flags.builder as BuilderChoice,
          squashfsTool: flags['squashfs-tool'] as 'auto' | 'tar2sqfs' | 'mksquashfs',
          platform: flags.platform ? parsePlatform(flags.platform) : undefined,
          reproducible: flags.reproducible,
          force: flags.force,
          tmpDir: flags.tmpdir,
          signal: this.abortController.signal,
          onBytes,
          context: {
            registry: registryOptions(flags),
            engine: {
              podman: { root: flags.root, runroot: flags.runroot, storageDriver: flags['storage-driver'] },
              dockerHost: flags['docker-host'],
              tmpDir: flags.tmpdir,
            },
          },
        }),
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(
      `Built ${r.output} (${formatBytes(r.size)}${r.arch ? `, ${r.arch}` : ''}) with ${r.builder}${r.squashfsTool ? ` and ${r.squashfsTool}` : ''} in ${r.seconds.toFixed(1)} s\n  sha256   ${r.sha256}`,
    )
  }
}
