import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Args, Flags } from '@oclif/core'
import { loadArchive } from '../lib/engine-flows/load.js'
import { AirlockError, localIoError } from '../lib/errors.js'
import { parsePlatform } from '../lib/manifest.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withCopyProgress } from '../ui/copy-progress.js'
import { engineFlags, engineFlowOptions } from '../ui/engine-flags.js'
import { forceFlag, quotaFlowOptions } from '../ui/quota-flags.js'

export default class Load extends AirlockCommand {
  static override summary = 'Load the images of a docker-archive or oci-archive file into podman or docker.'
  static override description =
    `Reads FILE in place (nothing is extracted) and copies every image in it into the local engine under the names the archive gives (RepoTags of docker save and podman save -m, or the OCI ref.name). An image without a name is loaded as localhost/<file>:<index>. Entries with "..", absolute paths or links leaving the archive are refused.

As podman load: the archive is FILE, or -i/--input FILE, or, when neither is given and stdin is not a terminal, read from stdin (kept in a temporary file under --tmpdir while it loads).

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> load centos7.tar',
    '<%= config.bin %> load -i centos7.tar',
    '<%= config.bin %> load < centos7.tar',
    '<%= config.bin %> load --engine docker images.tar --json',
  ]
  static override args = { file: Args.string({ description: 'Archive to load (default: -i, else stdin).' }) }
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
    if (args.file && flags.input && args.file !== flags.input) {
      throw new AirlockError('INVALID_INPUT', `two archives given: ${args.file} and -i ${flags.input}`, {
        hint: 'give the archive once, as FILE or as -i FILE',
      })
    }
    let file = args.file ?? flags.input
    let temp: string | undefined
    if (!file || file === '-') {
      if (process.stdin.isTTY) {
        throw new AirlockError('INVALID_INPUT', 'no archive given, and stdin is a terminal', {
          hint: 'airlock load -i FILE (or FILE, or pipe the archive: airlock load < FILE)',
        })
      }
      temp = await mkdtemp(join(flags.tmpdir ?? tmpdir(), 'airlock-load-'))
      file = join(temp, 'stdin.tar')
      try {
        await pipeline(process.stdin, createWriteStream(file), { signal: this.abortController.signal })
      } catch (err) {
        await rm(temp, { recursive: true, force: true })
        throw (this.abortController.signal.aborted ? undefined : localIoError(err, file)) ?? err
      }
    }
    try {
      const opts = await engineFlowOptions(flags, this.abortController.signal)
      if (flags.platform) opts.platforms = [parsePlatform(flags.platform)]
      const quota = await quotaFlowOptions(flags)
      const archive = file
      const r = await withCopyProgress(
        { title: `Loading ${temp ? 'stdin' : file}`, quiet: flags.quiet },
        (onEvent) => loadArchive(archive, { ...opts, quota, onEvent }),
      )
      if (this.jsonMode) return this.printJson(r)
      for (const n of r.notices) this.warn(n.message)
      for (const img of r.images)
        this.log(
          `Loaded ${img.names.join(', ')} into ${r.engine} (image ${img.id.replace(/^sha256:/, '').slice(0, 12)})`,
        )
    } finally {
      if (temp) await rm(temp, { recursive: true, force: true })
    }
  }
}
