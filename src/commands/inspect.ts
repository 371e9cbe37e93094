import { Args, Flags } from '@oclif/core'
import { inspectImage, readRawManifest } from '../lib/inspect.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { registryFlags, registryOptions } from '../ui/flags.js'
import { formatBytes } from '../ui/format.js'

export default class Inspect extends AirlockCommand {
  static override summary =
    'Show what an image reference points at: digest, media type, platforms, sizes, config.'
  static override description =
    `Reads through any transport (docker://, oci:, containers-storage:). A bare image ID (12 or more hex characters, or sha256:…) is a local image of the engine found (podman first). --raw prints the manifest bytes exactly as stored, as skopeo inspect --raw does.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> inspect docker://127.0.0.1:5000/app:1 --tls-verify=false',
    '<%= config.bin %> inspect --raw alpine:3.20 | sha256sum',
    '<%= config.bin %> inspect --json oci:./layout:app',
  ]
  static override args = { image: Args.string({ required: true, description: 'Image reference.' }) }
  static override flags = {
    ...registryFlags,
    raw: Flags.boolean({ description: 'Print the manifest bytes exactly as stored.' }),
    'no-config': Flags.boolean({ description: 'Do not read image configs (fewer requests).' }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Inspect)
    const context = { registry: registryOptions(flags), signal: this.abortController.signal }
    if (flags.raw) {
      const raw = await readRawManifest(args.image, context)
      process.stdout.write(raw.bytes)
      return
    }
    const r = await inspectImage(args.image, { context, config: !flags['no-config'] })
    if (this.jsonMode) {
      this.printJson(r)
      return
    }
    const lines = [
      `Reference:  ${r.reference}`,
      `Digest:     ${r.digest}`,
      `MediaType:  ${r.mediaType}`,
      `Size:       ${formatBytes(r.size)} (compressed)`,
    ]
    if (r.kind === 'index') lines.push(`Platforms:  ${r.platforms.join(', ') || '(none declared)'}`)
    for (const img of r.images) {
      lines.push(
        '',
        r.kind === 'index'
          ? `${img.platform ?? 'unknown'}  ${img.digest}`
          : `Image${img.platform ? ` (${img.platform})` : ''}`,
      )
      if (img.config) {
        const c = img.config
        if (c.created) lines.push(`  Created:    ${c.created}`)
        if (c.entrypoint?.length) lines.push(`  Entrypoint: ${JSON.stringify(c.entrypoint)}`)
        if (c.cmd?.length) lines.push(`  Cmd:        ${JSON.stringify(c.cmd)}`)
        if (c.env?.length) lines.push(`  Env:        ${c.env.join(' ')}`)
        if (c.labels && Object.keys(c.labels).length)
          lines.push(
            `  Labels:     ${Object.entries(c.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}`,
          )
      }
      lines.push(
        `  Layers:     ${img.layers.length}, ${formatBytes(img.layers.reduce((n, l) => n + l.size, 0))}`,
      )
      for (const l of img.layers) lines.push(`    ${l.digest}  ${formatBytes(l.size)}`)
    }
    this.log(lines.join('\n'))
  }
}
