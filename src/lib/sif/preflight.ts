/**
 * Before a SIF build starts: the space it needs, estimated from the layers' stored (compressed)
 * size (squashfs with gzip comes out near the gzip-compressed layers), checked against the output
 * filesystem's free space and the user's quota there by the shared quota preflight. Refuses early,
 * with the numbers (exit 4), unless forced.
 */
import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { AirlockError } from '../errors.js'
import { preflightLocalDir, type SpaceCheck } from '../quota/preflight.js'
import type { Runner } from '../quota/types.js'

/** Headroom on the estimate: squashfs metadata, uncompressible layers stored as tar. */
const MARGIN = 1.1

export function sifSpaceEstimate(layerBytes: number): number {
  return Math.ceil(layerBytes * MARGIN) + (1 << 20)
}

export async function preflightSif(
  output: string,
  layerBytes: number,
  opts: { force?: boolean; env?: NodeJS.ProcessEnv; run?: Runner } = {},
): Promise<SpaceCheck & { estimate: number }> {
  const outDir = dirname(output)
  if (
    !(await stat(outDir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new AirlockError(
      'INVALID_INPUT',
      `cannot write ${output}: ${outDir} does not exist or cannot be read`,
      {
        hint: 'create the directory first, or choose another output path',
      },
    )
  }
  const estimate = sifSpaceEstimate(layerBytes)
  // The squashfs is written next to the output and becomes part of it: one output's worth of space.
  const check = await preflightLocalDir(estimate, outDir, {
    what: `building ${output}`,
    estimated: true,
    force: opts.force,
    env: opts.env,
    run: opts.run,
  }).catch((err: unknown) => {
    // sif build's -F/--force means overwrite (as in apptainer); its override here has its own name.
    if (err instanceof AirlockError && err.hint?.includes('--force')) {
      throw new AirlockError(err.code, err.message, {
        hint: err.hint.replaceAll('--force', '--ignore-free-space'),
        cause: err,
      })
    }
    throw err
  })
  return { ...check, estimate }
}
