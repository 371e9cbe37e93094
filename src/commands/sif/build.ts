import { Args, Flags } from '@oclif/core'
import { AirlockError } from '../../lib/errors.js'
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
    `Give the output with -o, or in apptainer's order, OUT.sif SRC (either order: the argument ending in .sif is the output). -F/--force replaces an existing output, as apptainer build -F does; without it an existing file is refused (exit 2) and left as it is. --ignore-free-space builds even when the output's filesystem looks too small.

SRC is docker-archive:FILE (the default for a .tar), oci-archive:FILE, oci:DIR[:NAME], docker://REF, containers-storage:REF or docker-daemon:REF. apptainer's forms work too: docker-archive://x.tar is the relative path x.tar and docker-archive:///abs/x.tar an absolute one (likewise oci-archive://, oci://, docker-daemon://).

--builder auto (the default) runs apptainer, else singularity, when one is on PATH (apptainer build OUT.sif docker-archive://FILE.tar, with --tmpdir as APPTAINER_TMPDIR), and the built-in converter otherwise. The built-in converter needs neither root nor a temporary root filesystem: it flattens the layers in one streaming pass (whiteouts applied, owners, modes and links kept from the tar headers, so root-owned files stay root-owned), adds apptainer's /.singularity.d (environment from Env, runscript from Entrypoint/Cmd, labels), streams the result into tar2sqfs (or mksquashfs), and writes the SIF container itself. The output appears only when complete; interrupted (Ctrl-C, SIGTERM, SIGHUP), the build exits 1 and leaves nothing at or beside the output. File times before 1970 or after 2106-02-07 are clamped to that range, which is all squashfs can store.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> sif build centos7.tar -o centos7.sif',
    '<%= config.bin %> sif build centos7.sif docker-archive://centos7.tar',
    '<%= config.bin %> sif build -F centos7.sif centos7.tar',
    '<%= config.bin %> sif build docker://docker.io/library/alpine:3.20 -o alpine.sif --builder builtin --platform linux/arm64',
    '<%= config.bin %> sif build app.tar -o app.sif --reproducible --json',
  ]
  static override args = {
    source: Args.string({
      required: true,
      description: 'Image to convert (SRC), or the SIF file to write when it ends in .sif (OUT.sif SRC).',
    }),
    second: Args.string({ description: 'SRC after OUT.sif, or OUT.sif after SRC (instead of -o).' }),
  }
  static override flags = {
    output: Flags.string({ char: 'o', description: 'SIF file to write.' }),
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
    force: Flags.boolean({
      char: 'F',
      description:
        'Overwrite an existing output (as apptainer build -F); without it, an existing file is refused.',
    }),
    'ignore-free-space': Flags.boolean({
      description: 'Build even when the output looks too big for the free space.',
    }),
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
    const { source, output } = sourceAndOutput(args.source, args.second, flags.output)
    const r = await withByteProgress(
      `Building ${output} from ${source}`,
      // The converter counts the uncompressed root filesystem and knows only the compressed size of
      // the layers (src/lib/sif/build-sif.ts, onBytes): no bar, no time left, the step named instead.
      { quiet: flags.quiet || this.jsonMode, totalKnown: false, phase: 'reading layers' },
      (onBytes) => {
        let done = 0
        return buildSif(source, output, {
          builder: flags.builder as BuilderChoice,
          squashfsTool: flags['squashfs-tool'] as 'auto' | 'tar2sqfs' | 'mksquashfs',
          platform: flags.platform ? parsePlatform(flags.platform) : undefined,
          reproducible: flags.reproducible,
          overwrite: flags.force,
          ignoreFreeSpace: flags['ignore-free-space'],
          tmpDir: flags.tmpdir,
          signal: this.abortController.signal,
          onBytes: (n, total) => {
            done = n
            onBytes(n, total)
          },
          onPhase: (phase) => onBytes(done, 0, phase),
          context: {
            registry: registryOptions(flags),
            engine: {
              podman: { root: flags.root, runroot: flags.runroot, storageDriver: flags['storage-driver'] },
              dockerHost: flags['docker-host'],
              tmpDir: flags.tmpdir,
            },
          },
        })
      },
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(
      `Built ${r.output} (${formatBytes(r.size)}${r.arch ? `, ${r.arch}` : ''}) with ${r.builder}${r.squashfsTool ? ` and ${r.squashfsTool}` : ''} in ${r.seconds.toFixed(1)} s\n  sha256   ${r.sha256}`,
    )
  }
}

const isSif = (arg: string) => /\.sif$/i.test(arg)

/**
 * SRC -o OUT.sif, or two arguments in either order (apptainer's is OUT.sif SRC): the one ending in
 * .sif is the output. Anything else is ambiguous and refused before any work.
 */
function sourceAndOutput(
  first: string,
  second: string | undefined,
  output: string | undefined,
): { source: string; output: string } {
  if (output !== undefined) {
    if (second !== undefined) {
      throw new AirlockError(
        'INVALID_INPUT',
        `too many arguments: ${first} and ${second} with -o ${output}`,
        { hint: 'give SRC -o OUT.sif, or OUT.sif SRC without -o' },
      )
    }
    return { source: first, output }
  }
  if (second === undefined) {
    throw new AirlockError('INVALID_INPUT', `no output for ${first}`, {
      hint: isSif(first)
        ? `add the image to convert: sif build ${first} SRC`
        : `add the SIF file to write: sif build ${first} -o OUT.sif (or sif build OUT.sif ${first})`,
    })
  }
  if (isSif(first) !== isSif(second)) {
    return isSif(first) ? { source: second, output: first } : { source: first, output: second }
  }
  throw new AirlockError(
    'INVALID_INPUT',
    `cannot tell which of ${first} and ${second} is the output: ${isSif(first) ? 'both end' : 'neither ends'} in .sif`,
    {
      hint: 'name the output with -o: sif build SRC -o OUT.sif (OUT.sif SRC works when only the output ends in .sif)',
    },
  )
}
