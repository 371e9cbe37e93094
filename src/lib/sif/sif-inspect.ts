/**
 * What `airlock sif inspect` shows: the header and objects of a SIF file, and the image labels
 * Apptainer keeps in the JSON.Generic object `inspect-metadata.json`
 * (`{"data":{"attributes":{"labels":{...}}}}`; apptainer/apptainer internal/pkg/build/metadata.go
 * `insertMetadata`, pkg/inspect/metadata.go).
 */
import { DataType } from './sif-format.js'
import { type SifInfo, withSif } from './sif-reader.js'

export const INSPECT_METADATA = 'inspect-metadata.json'

export interface SifInspection extends SifInfo {
  /** Go arch name of the primary partition ("unknown" when there is none). */
  arch: string
  /** From `inspect-metadata.json`; empty when the file has none. */
  labels: Record<string, string>
  /** Things that could not be read but did not stop the inspection. */
  warnings: string[]
}

/** Labels from the text of `inspect-metadata.json`: {} when it has none, undefined when it is not JSON. */
export function labelsOf(text: string): Record<string, string> | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    return undefined
  }
  const labels = (doc as { data?: { attributes?: { labels?: unknown } } } | null)?.data?.attributes?.labels
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) return {}
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(labels)) out[k] = typeof v === 'string' ? v : JSON.stringify(v)
  return out
}

export function inspectSif(path: string): Promise<SifInspection> {
  // One open and one read of the descriptor table for both the listing and the labels.
  return withSif(path, async (info, readObject) => {
    const warnings: string[] = []
    let labels: Record<string, string> = {}
    const meta = info.objects.find((o) => o.dataType === DataType.GenericJSON && o.name === INSPECT_METADATA)
    if (meta) {
      const text = (await readObject(meta.id, { maxBytes: 16 << 20 })).toString('utf8')
      const found = labelsOf(text)
      if (found) labels = found
      else warnings.push(`${INSPECT_METADATA} (object ${meta.id}) is not valid JSON; labels not shown`)
    }
    return { ...info, arch: info.header.arch, labels, warnings }
  })
}
