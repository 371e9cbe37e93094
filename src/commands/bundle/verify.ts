import { Args, Flags } from '@oclif/core'
import { verifyBundle } from '../../lib/bundle/verify-bundle.js'
import { EXIT } from '../../lib/errors.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { withByteProgress } from '../../ui/byte-progress.js'
import { formatBytes } from '../../ui/format.js'

export default class BundleVerify extends AirlockCommand {
  static override summary =
    'Check every part and blob of a bundle against its SHA-256, and that every image is complete.'
  static override description =
    `Run it after carrying a bundle across, before pushing. Split parts are checked against FILE.SHA256SUMS, every blob against the digest that names it, every image for the manifests, configs and layers it needs. Each part is checked on its own, so a missing or damaged part is named and the others are still checked. Exit 5 names each missing, damaged or cut-short part and each damaged blob, and says which files to copy again; exit 2 when the file is not a bundle or has entries that would escape its directory.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> bundle verify images.tar',
    '<%= config.bin %> bundle verify images.tar.001 --json',
  ]
  static override args = {
    file: Args.string({ required: true, description: 'The bundle (or its first part).' }),
  }
  static override flags = {
    quiet: Flags.boolean({ char: 'q', description: 'No progress; only the summary and errors.' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BundleVerify)
    const r = await withByteProgress(
      `Verifying ${args.file}`,
      { quiet: this.jsonMode || flags.quiet, what: 'hashed', plainWhat: 'hashed' },
      (onProgress) => verifyBundle(args.file, { signal: this.abortController.signal, onProgress }),
    )
    if (this.jsonMode) this.printJson(r)
    else {
      for (const p of r.problems) this.log(`BAD ${p.message}`)
      // When some part is bad, the parts that are fine are named too.
      if (r.parts.some((p) => p.status && p.status !== 'ok' && p.status !== 'unchecked')) {
        for (const p of r.parts) if (p.status === 'ok') this.log(`ok  ${p.path}`)
      }
      for (const n of r.notes) this.log(`note: ${n}`)
      const parts = r.parts.length > 1 ? `${r.parts.length} parts, ` : ''
      this.log(
        `${r.bundle}: ${r.ok ? 'OK' : `${r.problems.length} problem(s)`}: ${parts}${r.images} image(s), ${r.blobs.checked} blobs (${formatBytes(r.blobs.bytes)}) checked`,
      )
      if (r.hint) this.log(`Hint: ${r.hint}`)
    }
    if (!r.ok) this.exit(EXIT.VERIFY)
  }
}
