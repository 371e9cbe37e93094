/**
 * Before a SIF build starts: will the output fit where it goes (and tar2sqfs's temporary squashfs
 * where that goes)? The estimate is the layers' stored (compressed) size: squashfs with gzip comes
 * out near the gzip-compressed layers. Refuses early, with the numbers, unless forced.
 */
import { statfs } from 'node:fs/promises'
import { dirname } from 'node:path'
import { AirlockError } from '../errors.js'

/** Headroom on the estimate: squashfs metadata, uncompressible layers stored as tar. */
const MARGIN = 1.1

function human(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`
}

async function freeBytes(dir: string): Promise<{ free: number; fs: string } | undefined> {
  try {
    const s = await statfs(dir)
    return { free: Number(s.bavail) * Number(s.bsize), fs: `${s.type}` }
  } catch {
    return undefined
  }
}

export async function preflightSif(
  output: string,
  layerBytes: number,
  opts: { tmpDir?: string; force?: boolean } = {},
): Promise<{ estimate: number }> {
  const estimate = Math.ceil(layerBytes * MARGIN) + (1 << 20)
  const outDir = dirname(output)
  const out = await freeBytes(outDir)
  if (!out) {
    throw new AirlockError(
      'INVALID_INPUT',
      `cannot write ${output}: ${outDir} does not exist or cannot be read`,
      {
        hint: 'create the directory first, or choose another -o path',
      },
    )
  }
  if (opts.force) return { estimate }
  const tmp = opts.tmpDir ? await freeBytes(opts.tmpDir) : undefined
  // On one filesystem the temporary squashfs and the SIF are there at the same time.
  const sameFs = tmp && out && (await sameDevice(outDir, opts.tmpDir as string))
  const needOut = sameFs ? estimate * 2 : estimate
  if (out.free < needOut) {
    throw new AirlockError(
      'QUOTA_EXCEEDED',
      `${output} needs about ${human(needOut)}${sameFs ? " (the SIF and tar2sqfs's temporary squashfs on the same filesystem)" : ''}, but ${outDir} has ${human(out.free)} free`,
      {
        hint: 'free space, write elsewhere (-o), use --squashfs-tool mksquashfs (no temporary file), or --force to try anyway',
      },
    )
  }
  if (tmp && !sameFs && tmp.free < estimate) {
    throw new AirlockError(
      'QUOTA_EXCEEDED',
      `the temporary squashfs needs about ${human(estimate)}, but ${opts.tmpDir} has ${human(tmp.free)} free`,
      {
        hint: 'set --tmpdir (or TMPDIR) to a filesystem with room, use --squashfs-tool mksquashfs, or --force',
      },
    )
  }
  return { estimate }
}

async function sameDevice(a: string, b: string): Promise<boolean> {
  const { stat } = await import('node:fs/promises')
  try {
    return (await stat(a)).dev === (await stat(b)).dev
  } catch {
    return false
  }
}
