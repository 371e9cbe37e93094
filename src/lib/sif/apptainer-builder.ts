/**
 * The apptainer/singularity builder: `apptainer build OUT.sif docker-archive://FILE.tar` (and the
 * other URIs apptainer reads), with the user's temporary-directory setting, reporting the tool's own
 * error text when it fails. Used by `airlock sif build --builder auto|apptainer|singularity`.
 */
import { stat } from 'node:fs/promises'
import { findExecutable } from '../engine/index.js'
import { AirlockError } from '../errors.js'
import { run } from '../exec.js'

export type ExternalBuilder = 'apptainer' | 'singularity'

/** apptainer first (the maintained fork), then singularity (SingularityCE or old installs). */
export async function findBuilder(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ name: ExternalBuilder; path: string } | undefined> {
  for (const name of ['apptainer', 'singularity'] as const) {
    const path = await findExecutable(name, env)
    if (path) return { name, path }
  }
  return undefined
}

/**
 * The apptainer source URI for an airlock reference: docker-archive:F → docker-archive://F,
 * oci-archive:F → oci-archive://F, oci:DIR[:TAG] → oci://DIR[:TAG], docker-daemon:R →
 * docker-daemon://R, docker://R as is. undefined when apptainer cannot read it directly.
 */
export function apptainerUri(reference: string): string | undefined {
  const m = /^(docker-archive|oci-archive|oci|docker-daemon):(?!\/\/)(.*)$/s.exec(reference)
  if (m) return `${m[1]}://${m[2]}`
  if (reference.startsWith('docker://')) return reference
  return undefined
}

export interface ExternalBuildOptions {
  builder: { name: ExternalBuilder; path: string }
  /** Temporary directory for the build (→ APPTAINER_TMPDIR / SINGULARITY_TMPDIR); default: the user's. */
  tmpDir?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** Replace an existing output (the tool's --force). */
  force?: boolean
}

/** Runs the external build into `out` (which the tool itself writes). */
export async function buildWithApptainer(
  uri: string,
  out: string,
  opts: ExternalBuildOptions,
): Promise<{ size: number }> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) }
  const prefix = opts.builder.name === 'apptainer' ? 'APPTAINER' : 'SINGULARITY'
  if (opts.tmpDir) env[`${prefix}_TMPDIR`] = opts.tmpDir
  const args = ['build', ...(opts.force ? ['--force'] : []), out, uri]
  const r = await run(opts.builder.path, args, { env, reject: false, signal: opts.signal })
  if (r.exitCode !== 0) {
    // The tool's own words: its FATAL/ERROR lines, else the end of its stderr.
    const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim())
    const fatal = lines.filter((l) => /^(FATAL|ERROR)\b/.test(l))
    const text = (fatal.length ? fatal : lines.filter(Boolean).slice(-3)).join(' | ')
    throw new AirlockError('EXEC_FAILED', `${opts.builder.name} build failed (exit ${r.exitCode}): ${text}`, {
      hint: `run it by hand to see all its output: ${opts.builder.name} ${args.join(' ')}; or use --builder builtin`,
    })
  }
  const size = await stat(out).then(
    (s) => s.size,
    () => -1,
  )
  if (size <= 0) {
    throw new AirlockError('EXEC_FAILED', `${opts.builder.name} build exited 0 but wrote no ${out}`, {
      hint: 'use --builder builtin',
    })
  }
  return { size }
}
