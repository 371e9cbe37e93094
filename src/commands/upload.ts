import { basename } from 'node:path'
import { Args, Flags } from '@oclif/core'
import { AirlockError } from '../lib/errors.js'
import { MiB } from '../lib/objectstore/part-plan.js'
import { parseDuration } from '../lib/objectstore/presign.js'
import { uploadToProminence } from '../lib/objectstore/prominence.js'
import { formatS3Url, parseS3Url, uploadKey } from '../lib/objectstore/s3-url.js'
import { uploadFile } from '../lib/objectstore/upload.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withByteProgress } from '../ui/byte-progress.js'
import { formatBytes } from '../ui/format.js'
import { deliberately } from '../ui/redact.js'
import { s3Connection, s3Flags } from '../ui/s3-flags.js'

export default class Upload extends AirlockCommand {
  static override summary = 'Upload a file (a SIF, an image archive) to object storage with its SHA-256.'
  static override description =
    `The file is read once: its SHA-256 is computed while the bytes are sent and stored with the object as metadata x-amz-meta-sha256 (hex), which batch systems can use as a cache key and airlock download checks. Large files go in parts, several at once; an interrupted or failed upload is aborted on the server, or kept and continued with --resume. An object already there with the same SHA-256 is not sent again (--force sends it anyway).

The destination (DEST, or --to) follows aws s3 cp: s3://BUCKET/KEY is the object's key itself; s3://BUCKET/PREFIX/ (ending in "/") or s3://BUCKET puts the file at PREFIX/NAME (NAME: --name or the file's name). --name goes only with a destination ending in "/"; with a whole key it is refused (exit 2), since the two would both name the object. Endpoint, region and credentials are found as the AWS CLI finds them: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws files, AWS_ENDPOINT_URL_S3; --endpoint (or --endpoint-url) for a non-AWS store (path-style addressing by default then).

--to prominence uploads through PROMINENCE's data API (PROMINENCE_URL, PROMINENCE_TOKEN).

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> upload centos7.sif s3://images/hpc/',
    '<%= config.bin %> upload app.sif s3://images/group/app-1.2.sif --presign 7d',
    '<%= config.bin %> upload app.sif --to s3://images/group/ --name app-1.2.sif',
    '<%= config.bin %> upload big.sif --to s3://images/ --endpoint https://s3.example.org --resume',
    '<%= config.bin %> upload app.sif --to s3://images/ --checksum $(sha256sum app.sif | cut -d" " -f1) --json',
    '<%= config.bin %> upload app.sif --to prominence --name app.sif',
  ]
  static override args = {
    file: Args.string({ required: true, description: 'File to upload.' }),
    dest: Args.string({
      description: 's3://BUCKET/KEY, s3://BUCKET/PREFIX/ or prominence (the same as --to).',
    }),
  }
  static override flags = {
    to: Flags.string({
      description: 's3://BUCKET/KEY, s3://BUCKET/PREFIX/, or prominence.',
      helpValue: 'URL',
    }),
    name: Flags.string({
      description: 'Object name under a destination ending in "/" (default: the file name).',
    }),
    checksum: Flags.string({
      description:
        'Expected SHA-256 (hex): stored up front, checked against the bytes sent; a mismatch aborts (exit 5).',
      helpValue: 'HEX',
    }),
    force: Flags.boolean({ description: 'Upload even when the object is there with the same SHA-256.' }),
    resume: Flags.boolean({
      description:
        'Continue a pending multipart upload of the same key; on failure, keep it for the next --resume.',
    }),
    presign: Flags.string({
      description: 'Also print a download URL valid this long (3600, 30m, 12h, 7d; at most 7d).',
      helpValue: 'DURATION',
    }),
    'part-size': Flags.integer({
      min: 5,
      max: 5120,
      description: 'Part size in MiB (default 16, more for files over 160 GB).',
    }),
    jobs: Flags.integer({ char: 'j', min: 1, max: 64, default: 4, description: 'Parts in flight.' }),
    'server-checksum': Flags.boolean({
      allowNo: true,
      default: true,
      description:
        'Send x-amz-checksum-sha256 with each part for the store to verify (ignored where unsupported).',
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
    const { args, flags } = await this.parse(Upload)
    const notice = (m: string) => process.stderr.write(`Note: ${m}\n`)
    const dest = destination(args.dest, flags.to)
    if (dest === 'prominence') return this.prominence(args.file, flags)
    const presignSeconds = flags.presign !== undefined ? parseDuration(flags.presign) : undefined
    // Checked before anything is printed: the title must not echo a URL with credentials in it.
    const loc = parseS3Url(dest)
    const to = formatS3Url({ ...loc, key: uploadKey(loc, basename(args.file), flags.name) })
    const r = await withByteProgress(
      `Uploading ${args.file} to ${to}`,
      { quiet: flags.quiet || this.jsonMode, what: 'sent' },
      (onBytes) =>
        uploadFile(args.file, dest, {
          ...s3Connection(flags),
          name: flags.name,
          checksum: flags.checksum,
          force: flags.force,
          resume: flags.resume,
          presignSeconds,
          partSize: flags['part-size'] !== undefined ? flags['part-size'] * MiB : undefined,
          jobs: flags.jobs,
          serverChecksum: flags['server-checksum'],
          signal: this.abortController.signal,
          onBytes,
          onNotice: notice,
        }),
    )
    // The presigned URL is what the user asked for: its signature is printed as it is.
    if (this.jsonMode) return deliberately(() => this.printJson(r))
    const rate = r.seconds > 0 && r.bytesSent > 0 ? ` (${formatBytes(r.bytesSent / r.seconds)}/s)` : ''
    this.log(
      r.skipped
        ? `${r.url} is already there (same SHA-256); nothing sent\n  sha256   ${r.sha256}`
        : `Uploaded ${args.file} to ${r.url}${r.resumed ? ' (resumed)' : ''}\n` +
            `  size     ${formatBytes(r.size)}${r.parts > 1 ? ` in ${r.parts} parts of ${formatBytes(r.partSize ?? 0)}` : ''}\n` +
            `  sha256   ${r.sha256}\n` +
            `  time     ${r.seconds.toFixed(2)} s${rate}`,
    )
    const url = r.presignedUrl
    if (url) deliberately(() => this.log(`Download URL (valid until ${r.presignedUrlExpires}):\n${url}`))
  }

  private async prominence(
    file: string,
    flags: { name?: string; checksum?: string; resume?: boolean; presign?: string; quiet?: boolean },
  ): Promise<void> {
    if (flags.resume || flags.presign !== undefined) {
      throw new AirlockError(
        'INVALID_INPUT',
        '--resume and --presign work with s3:// destinations, not prominence',
      )
    }
    let done = 0
    const r = await withByteProgress(
      `Uploading ${file} to PROMINENCE`,
      { quiet: flags.quiet || this.jsonMode, what: 'sent' },
      (onBytes) =>
        uploadToProminence(file, {
          name: flags.name,
          checksum: flags.checksum,
          signal: this.abortController.signal,
          onBytes: (n) => {
            done += n
            onBytes(done, 0)
          },
        }),
    )
    if (this.jsonMode) return this.printJson(r)
    this.log(
      `Uploaded ${file} to PROMINENCE as ${r.name} (${formatBytes(r.size)}, ${r.method.toUpperCase()})\n` +
        `  sha256   ${r.sha256}\n  time     ${r.seconds.toFixed(2)} s`,
    )
  }
}

/** DEST or --to, exactly one of them (aws s3 cp takes the destination as its second argument). */
function destination(positional: string | undefined, to: string | undefined): string {
  if (positional !== undefined && to !== undefined) {
    throw new AirlockError(
      'INVALID_INPUT',
      `two destinations: ${quoteDest(positional)} (second argument) and --to ${quoteDest(to)}`,
      { hint: 'give the destination once, as the second argument or with --to' },
    )
  }
  const dest = positional ?? to
  if (dest === undefined) {
    throw new AirlockError('INVALID_INPUT', 'no destination given', {
      hint: 'add s3://BUCKET/KEY, s3://BUCKET/PREFIX/ or prominence after the file (or with --to)',
    })
  }
  return dest
}

/** A destination for a message: at most 100 characters, anything like `user:secret@` cut out. */
function quoteDest(text: string): string {
  const safe = text.replace(/^([a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1…@')
  return `"${safe.length > 100 ? `${safe.slice(0, 100)}…` : safe}"`
}
