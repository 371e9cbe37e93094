import { Args } from '@oclif/core'
import { inspectSif } from '../../lib/sif/sif-inspect.js'
import type { SifObject } from '../../lib/sif/sif-reader.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../../ui/base-command.js'
import { formatBytes } from '../../ui/format.js'

const time = (d: Date) => (Number.isFinite(d.getTime()) ? d.toISOString().replace('.000Z', 'Z') : 'invalid')

function objectRow(o: SifObject): string[] {
  const link = o.link ? `${o.link.type === 'group' ? 'g' : ''}${o.link.id}` : '-'
  const part = o.partition ? `${o.partition.fsType}/${o.partition.partType}/${o.partition.arch}` : ''
  return [
    String(o.id),
    o.type,
    o.name || '-',
    o.group === null ? '-' : String(o.group),
    link,
    String(o.offset),
    formatBytes(o.size),
    part,
  ]
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd(),
  )
}

export default class SifInspect extends AirlockCommand {
  static override summary = 'Show the header, objects, architecture and labels of a SIF file.'
  static override description =
    `Reads the SIF global header and descriptor table natively (no apptainer or siftool needed), and the image labels Apptainer stores in the inspect-metadata.json object. Works on any SIF file, whatever built it.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> sif inspect image.sif',
    '<%= config.bin %> sif inspect --json image.sif | jq .labels',
  ]
  static override args = { file: Args.string({ required: true, description: 'SIF file.' }) }

  async run(): Promise<void> {
    const { args } = await this.parse(SifInspect)
    const r = await inspectSif(args.file)
    if (this.jsonMode) return this.printJson(r)
    const h = r.header
    const lines = [
      `File:          ${r.path} (${formatBytes(r.fileSize)})`,
      `ID:            ${h.id}`,
      `Architecture:  ${r.arch}`,
      `Created:       ${time(h.createdAt)}`,
      `Modified:      ${time(h.modifiedAt)}`,
      `Descriptors:   ${h.descriptorsTotal - h.descriptorsFree} used of ${h.descriptorsTotal}, at ${h.descriptorsOffset}`,
      `Data:          ${formatBytes(h.dataSize)} from ${h.dataOffset}`,
      '',
      ...table([
        ['ID', 'TYPE', 'NAME', 'GROUP', 'LINK', 'OFFSET', 'SIZE', 'PARTITION'],
        ...r.objects.map(objectRow),
      ]),
    ]
    const labels = Object.entries(r.labels)
    if (labels.length) lines.push('', 'Labels:', ...labels.map(([k, v]) => `  ${k}=${v}`))
    for (const w of r.warnings) lines.push('', `Warning: ${w}`)
    this.log(lines.join('\n'))
  }
}
