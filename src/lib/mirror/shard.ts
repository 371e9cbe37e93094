/**
 * Sharding a mirror run over several machines or jobs: `--shard I/N` runs the part I of N (0-based,
 * 0 ≤ I < N), so a Kubernetes Indexed Job passes `--shard ${JOB_COMPLETION_INDEX}/N` and a Slurm
 * array started with `--array=0-(N-1)` passes `--shard ${SLURM_ARRAY_TASK_ID}/N`.
 *
 * A key belongs to shard `sha256(key) mod N` (the first 8 bytes of the hash as an unsigned big-endian
 * integer): the same on every machine and Node version, and every key is in exactly one shard.
 * The planner shards by target repository (see plan.ts), so all tags of a repository run together.
 */
import { createHash } from 'node:crypto'
import { AirlockError } from '../errors.js'

export interface Shard {
  /** 0-based index, 0 ≤ index < count. */
  index: number
  count: number
}

const SHARD_HINT =
  'use --shard I/N with 0 <= I < N (0-based), e.g. --shard $JOB_COMPLETION_INDEX/4 in a Kubernetes ' +
  'Indexed Job, or --shard $SLURM_ARRAY_TASK_ID/4 with sbatch --array=0-3'

/** Parses "I/N" (0-based I). Throws INVALID_INPUT (exit 2) with a hint. */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text)
  if (!m) throw new AirlockError('INVALID_INPUT', `shard "${text}" is not I/N`, { hint: SHARD_HINT })
  return checkShard({ index: Number(m[1]), count: Number(m[2]) }, `shard "${text}"`)
}

function checkShard(shard: Shard, what = `shard ${shard.index}/${shard.count}`): Shard {
  const { index, count } = shard
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new AirlockError('INVALID_INPUT', `${what}: the number of shards must be at least 1`, {
      hint: SHARD_HINT,
    })
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    const extra = index === count ? ' (shards are numbered from 0)' : ''
    throw new AirlockError('INVALID_INPUT', `${what}: index must be 0 to ${count - 1}${extra}`, {
      hint: SHARD_HINT,
    })
  }
  return shard
}

/** The shard (0..count-1) that `key` belongs to. */
export function shardOf(key: string, count: number): number {
  checkShard({ index: 0, count })
  const hash = createHash('sha256').update(key, 'utf8').digest()
  return Number(hash.readBigUInt64BE(0) % BigInt(count))
}

/** True when `key` belongs to shard `index` of `count`. */
export function inShard(key: string, index: number, count: number): boolean {
  checkShard({ index, count })
  return shardOf(key, count) === index
}
