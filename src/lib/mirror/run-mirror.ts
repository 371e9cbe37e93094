/**
 * `airlock mirror SPEC`: every selected tag of every source into the target registry (and Harbor
 * project), incrementally and politely: tags are compared by digest with HEAD requests, immutable
 * tags already there are not asked for, each registry gets its own concurrency and request rate,
 * requests are retried by the one policy (src/lib/http/retry.ts), a blob shared by several images
 * goes to a target repository once (src/lib/copy/blob-ledger.ts), and a failure never stops the
 * others (exit 3 when any failed).
 */
import { BlobLedger } from '../copy/blob-ledger.js'
import { runPool } from '../copy/pool.js'
import { HarborClient } from '../harbor/client.js'
import { parseDockerRef } from '../reference.js'
import { acquireLock, defaultLockPath } from './lock.js'
import { mirrorImage, missingTagMessage, TargetRepositories } from './mirror-image.js'
import { checkCredentials, harborCredentialOptions } from './registry-settings.js'
import { exitCodeOf, prometheusText, totalsOf, writeAtomic } from './report.js'
import { loadMirrorSpec } from './spec.js'
import { openSpecSession, planSpec } from './spec-session.js'
import { defaultStatePath, MirrorState } from './state.js'
import type { ImageReport, MirrorReport, MirrorSpec } from './types.js'

export interface MirrorOptions {
  dryRun?: boolean
  shard?: { index: number; count: number }
  /** JSON report file (written atomically). */
  reportFile?: string
  /** Prometheus textfile (`*.prom`) for node_exporter. */
  metricsFile?: string
  lockFile?: string
  lockWaitSeconds?: number
  stateFile?: string
  /** Blobs in flight per image (default 4). */
  jobs?: number
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
  /** Called as each image finishes (progress lines). */
  onImage?: (r: ImageReport) => void
}

export async function runMirror(specFile: string, opts: MirrorOptions = {}): Promise<MirrorReport> {
  const started = new Date()
  const signal = opts.signal ?? new AbortController().signal
  const spec = await loadMirrorSpec(specFile)
  const env = opts.env ?? process.env
  // A secret missing from the environment refuses the run before anything is sent (exit 2).
  checkCredentials(spec, env)
  const lock = opts.dryRun
    ? undefined
    : await acquireLock(opts.lockFile ?? defaultLockPath(specFile), specFile, {
        waitSeconds: opts.lockWaitSeconds,
        signal,
      })
  try {
    const session = openSpecSession(spec, env)
    const { optionsFor, client, counters } = session
    const harbor = await prepareHarbor(spec, opts.dryRun ?? false, env)
    // A dry run before the project exists: its tags are not at the target, and the target is not asked.
    const missingPrefix = harbor.projectMissing
      ? `${spec.defaults.target}/${spec.defaults.project}/`
      : undefined
    const plan = await planSpec(session, { shard: opts.shard, signal })
    const state = await MirrorState.load(opts.stateFile ?? defaultStatePath(specFile, opts.env))
    const images: ImageReport[] = new Array(plan.images.length)
    const targets = new TargetRepositories(client, signal)
    const ledger = new BlobLedger()
    await runPool(
      plan.images.map((p, i) => [p, i] as const),
      Math.max(1, spec.defaults.concurrency),
      async ([p, i]) => {
        images[i] = await mirrorImage(p, {
          optionsFor,
          client,
          sourceTags: (source) =>
            plan.sourceTags[parseDockerRef(source.replace(/^docker:\/\//, '')).name] ?? [],
          targets,
          state,
          retries: spec.defaults.retries,
          ledger,
          jobs: opts.jobs ?? 4,
          dryRun: opts.dryRun ?? false,
          targetMissing:
            missingPrefix !== undefined && p.target.replace(/^docker:\/\//, '').startsWith(missingPrefix),
          signal,
        })
        opts.onImage?.(images[i])
      },
      signal,
    ).catch((err) => {
      if (!signal.aborted) throw err
    })
    for (let i = 0; i < images.length; i++) {
      images[i] ??= {
        source: plan.images[i].source,
        target: plan.images[i].target,
        action: 'failed',
        bytes: 0,
        seconds: 0,
        attempts: 0,
        error: { code: 'INTERRUPTED', message: 'not started: the run was interrupted' },
      }
    }
    if (!opts.dryRun) await state.save().catch(() => undefined)
    const errors = [
      ...plan.errors,
      ...plan.missing.map((m) => ({
        source: m.source,
        code: 'NOT_FOUND',
        message: missingTagMessage(m.source, m.tag),
      })),
    ]
    const finished = new Date()
    const report: MirrorReport = {
      spec: specFile,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      seconds: (finished.getTime() - started.getTime()) / 1000,
      dryRun: opts.dryRun ?? false,
      ...(opts.shard ? { shard: opts.shard } : {}),
      images,
      totals: totalsOf(images),
      registries: counters,
      // An interrupted run is not a partial success: exit 1, with the report of what got done.
      exitCode: signal.aborted ? 1 : exitCodeOf(images, errors),
      errors,
    }
    if (opts.reportFile) await writeAtomic(opts.reportFile, `${JSON.stringify(report, null, 2)}\n`)
    if (opts.metricsFile) await writeAtomic(opts.metricsFile, prometheusText(report))
    return report
  } finally {
    await lock?.release()
  }
}

/**
 * The target Harbor project exists (created when the spec says so); a dry run only looks, and says
 * when the project is missing (a real run would create it).
 */
async function prepareHarbor(
  spec: MirrorSpec,
  dryRun: boolean,
  env: NodeJS.ProcessEnv,
): Promise<{ projectMissing: boolean }> {
  const h = spec.defaults.harbor
  const project = spec.defaults.project
  if (!h || !project) return { projectMissing: false }
  const { creds, authfile } = harborCredentialOptions(spec, env)
  const harbor = new HarborClient({
    url: h.url,
    credentials: creds,
    tlsVerify: spec.defaults.tlsVerify,
    registryOptions: { authfile },
  })
  // Without the project every push would fail the same way: stop before planning, clearly. A dry
  // run only looks.
  const r = await harbor.ensureProject(project, {
    create: h.createProject ?? false,
    storageLimit: h.storageLimit,
    dryRun,
    missingHint: 'create it, or set defaults.harbor.createProject: true',
  })
  return { projectMissing: r.missing === true }
}
