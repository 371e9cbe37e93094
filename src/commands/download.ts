import { Args, Flags } from '@oclif/core'
import { AirlockError } from '../lib/errors.js'
import { downloadObject } from '../lib/objectstore/download.js'
import { formatS3Url, parseS3Url } from '../lib/objectstore/s3-url.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withByteProgress } from '../ui/byte-progress.js'
import { formatBytes } from '../ui/format.js'
import { s3Connection, s3Flags } from '../ui/s3-flags.js'

export default class Download extends AirlockCommand {
  static override summary = 'Download an object from S3 and verify its SHA-256.'
  static override description =
    `The object is written to a temporary file next to the output, hashed on the way, checked against the SHA-256 stored with it (x-amz-meta-sha256, as airlock upload writes it, or PROMINENCE's prominence_sha256) and against --checksum, and renamed only when it matches. On a mismatch nothing is left behind and the exit code is 5. An object without a stored SHA-256 is downloaded with a warning (--require-checksum refuses it).

Endpoint, region and credentials as for airlock upload.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> download s3://images/hpc/centos7.sif centos7.sif',
    '<%= config.bin %> download s3://images/hpc/centos7.sif ./images/',
    '<%= config.bin %> download s3://images/hpc/centos7.sif -o centos7.sif',
    '<%= config.bin %> download s3://images/hpc/centos7.sif --endpoint https://s3.example.org --json',
  ]
  static override args = {
    url: Args.string({ required: true, description: 's3://BUCKET/KEY' }),
    file: Args.string({
      description:
        'File to write; a path ending in "/" or an existing directory gets the key\'s base name (the same as -o).',
    }),
  }
  static override flags = {
    output: Flags.string({
      char: 'o',
      description: 'File (or directory) to write (default: the key name, here).',
    }),
    checksum: Flags.string({ description: 'Expected SHA-256 (hex), checked as well.', helpValue: 'HEX' }),
    'require-checksum': Flags.boolean({
      description: 'Fail (exit 5) when the object has no stored SHA-256 to check.',
    }),
    ...s3Flags,
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
  }

  /**
   * On SIGINT/SIGTERM the library stops, cleans up (aborts the multipart upload, removes the
   * temporary file) and throws INTERRUPTED saying what it did; that message is the one to show,
   * rather than the base command's generic one.
   */
  async run(): Promise<void> {
    const { args, flags } = await this.parse(Download)
    // Checked before anything is printed: the title must not echo a URL with credentials in it.
    const from = formatS3Url(parseS3Url(args.url))
    if (args.file !== undefined && flags.output !== undefined) {
      throw new AirlockError(
        'INVALID_INPUT',
        `two outputs: ${args.file} (second argument) and -o ${flags.output}`,
        { hint: 'give the output once, as the second argument or with -o' },
      )
    }
    const output = args.file ?? flags.output
    const r = await withByteProgress(
      `Downloading ${from}`,
      { quiet: flags.quiet || this.jsonMode, what: 'received' },
      (onBytes) =>
        downloadObject(args.url, output, {
          ...s3Connection(flags),
          checksum: flags.checksum,
          requireChecksum: flags['require-checksum'],
          signal: this.abortController.signal,
          onBytes,
          onNotice: (m) => process.stderr.write(`Warning: ${m}\n`),
        }),
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(
      `Downloaded ${r.url} to ${r.output} (${formatBytes(r.size)} in ${r.seconds.toFixed(2)} s)\n` +
        `  sha256   ${r.sha256} (${r.verified ? 'verified' : 'NOT verified: no checksum stored with the object'})`,
    )
  }
}
