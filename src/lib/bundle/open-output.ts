/**
 * Where `bundle create` writes: a new bundle, or the existing one to add to (with the part size it
 * was split at), checked before anything is fetched.
 */
import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { AirlockError } from '../errors.js'
import type { Descriptor } from '../manifest.js'
import { BundleWriter } from './bundle-writer.js'
import { ANN, LAYOUT_FILE } from './layout.js'
import { Bundle } from './open-bundle.js'

export async function openWriter(
  output: string,
  split: number | undefined,
): Promise<{
  writer: BundleWriter
  existing: Descriptor[]
  layout?: Buffer
  partSize: number
  /** The bundle being added to: its files and size as they are now. */
  old?: { parts: string[]; size: number }
}> {
  const old = await Bundle.openIfExists(output)
  if (!old) {
    const partSize = split ?? Number.POSITIVE_INFINITY
    return { writer: await BundleWriter.create(output, partSize), existing: [], partSize }
  }
  try {
    const sizes = old.partSizes
    // The size parts are cut at: recorded in index.json; the first part's size when there are several.
    const recorded = Number(old.annotations[ANN.partSize])
    const partSize = !old.files.split
      ? Number.POSITIVE_INFINITY
      : Number.isSafeInteger(recorded) && recorded > 0
        ? recorded
        : sizes.length > 1
          ? sizes[0]
          : (split ?? sizes[0])
    if (old.files.split && sizes.slice(0, -1).some((s) => s !== partSize)) {
      throw new AirlockError(
        'INVALID_INPUT',
        `the parts of ${output} differ in size, so airlock cannot add to them`,
        {
          hint: 'join them (cat) and create a new bundle, or choose another -o',
        },
      )
    }
    if (split !== undefined && split !== partSize) {
      throw new AirlockError(
        'INVALID_INPUT',
        old.files.split
          ? `${output} is split into parts of ${partSize} bytes; --split ${split} differs`
          : `${output} exists as one file; it cannot be split while adding to it`,
        {
          hint: 'add to it without --split (or with the same size), or create a new bundle under another name',
        },
      )
    }
    const layout = old.archive.has(LAYOUT_FILE)
      ? await old.archive.read(old.archive.file(LAYOUT_FILE, LAYOUT_FILE))
      : undefined
    const writer = await BundleWriter.append(
      output,
      old.files.parts,
      partSize,
      old.archive.end,
      old.archive.entries.values(),
    )
    return {
      writer,
      existing: old.images.map((i) => i.descriptor),
      layout,
      partSize,
      old: { parts: old.files.parts, size: old.archive.size },
    }
  } finally {
    await old.close()
  }
}

/** -o must name a file in an existing directory: found out before anything is fetched. */
export async function checkOutput(output: string): Promise<void> {
  const st = await stat(output).catch(() => undefined)
  if (st?.isDirectory()) {
    throw new AirlockError('INVALID_INPUT', `-o ${output} is a directory`, {
      hint: 'give a file name for the bundle, e.g. -o images.tar',
    })
  }
  const dir = dirname(resolve(output))
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
    throw new AirlockError('INVALID_INPUT', `-o ${output}: the directory ${dir} does not exist`, {
      hint: `create it first (mkdir -p ${dir})`,
    })
  }
}
