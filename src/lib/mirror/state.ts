/**
 * What the last runs copied, so a run whose source and target still hold the same digests skips an
 * image with two HEAD requests even when --platform narrowed an index (then the target digest is not
 * the source digest, and only a record of the pair tells they match). Losing the file only costs a
 * manifest GET per such image on the next run.
 *
 * Referrer tags (`sha256-<hex>.sig` …, see mirror-image.ts) are recorded the same way, under the
 * target tag they were copied to, with the time their source digest was last asked: a run trusts a
 * record younger than a week instead of asking the source again. Losing the file costs one HEAD on
 * each side per referrer tag on the next run.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { writeAtomic } from './report.js'

export interface CopiedPair {
  sourceDigest: string
  targetDigest: string
  /** When the source digest was last asked (ISO 8601); kept for referrer tags only. */
  checkedAt?: string
}

/** A spec's name in the files of its runs (state, lock): a hash of its absolute path. */
export function specKey(specFile: string): string {
  return createHash('sha256').update(resolve(specFile)).digest('hex').slice(0, 16)
}

export function defaultStatePath(specFile: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state')
  return join(base, 'airlock', `mirror-${specKey(specFile)}.json`)
}

export class MirrorState {
  private constructor(
    readonly path: string,
    private readonly pairs: Record<string, CopiedPair>,
  ) {}

  static async load(path: string): Promise<MirrorState> {
    try {
      const doc = JSON.parse(await readFile(path, 'utf8')) as { pairs?: Record<string, CopiedPair> }
      return new MirrorState(path, doc.pairs ?? {})
    } catch {
      return new MirrorState(path, {})
    }
  }

  get(target: string): CopiedPair | undefined {
    return this.pairs[target]
  }

  set(target: string, pair: CopiedPair): void {
    this.pairs[target] = pair
  }

  async save(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true })
    await writeAtomic(this.path, `${JSON.stringify({ version: 1, pairs: this.pairs }, null, 1)}\n`)
  }
}
