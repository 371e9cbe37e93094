import { Args } from '@oclif/core'
import { listBundle } from '../../lib/bundle/list-bundle.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { formatBytes, shortDigest } from '../../ui/format.js'

export default class BundleList extends AirlockCommand {
  static override summary = 'Show the images a bundle holds.'
  static override description =
    `One line per image: its reference, digest, platforms and size (blobs shared between images count for each), and, for bundles made from a mirror spec, where bundle push will put it.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> bundle list images.tar',
    '<%= config.bin %> bundle list images.tar --json',
  ]
  static override args = {
    file: Args.string({ required: true, description: 'The bundle (or its first part).' }),
  }

  async run(): Promise<void> {
    const { args } = await this.parse(BundleList)
    const r = await listBundle(args.file, this.abortController.signal)
    if (this.jsonMode) return this.printJson(r)
    for (const i of r.images) {
      const what = i.referrerOf ? `  (signature/attestation of ${shortDigest(i.referrerOf)})` : ''
      const to = i.target ? `  -> ${i.target}` : ''
      this.log(
        `${i.reference}  ${shortDigest(i.digest)}  ${i.platforms.join(',') || '-'}  ${formatBytes(i.size)}${to}${what}`,
      )
    }
    this.log(`${r.images.length} image(s), ${formatBytes(r.size)} in ${r.parts.length} file(s)`)
  }
}
