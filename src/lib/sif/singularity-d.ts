/**
 * What apptainer's docker-archive build adds to the rootfs and to the SIF (apptainer/apptainer
 * internal/pkg/build/sources/base_environment.go and conveyorPacker_oci.go,
 * internal/pkg/build/metadata.go), as entries for flattenLayers and bytes for the SIF JSON objects:
 * - /.singularity.d: actions, env scripts (the image's Env in 10-docker2singularity.sh), runscript
 *   (ENTRYPOINT/CMD), startscript, labels.json (image labels, then build labels over them), the def
 *   text `Singularity`, the empty libs/ directory;
 * - the directories dev proc root var/tmp tmp etc sys home and the relative symlinks /singularity,
 *   /.run, /.exec, /.test, /.shell, /environment, where the image has nothing at those paths;
 * - empty /etc/hosts and /etc/resolv.conf (0644), replacing the image's (the runtime binds the host's);
 * - oci-config.json (the config section as JSON) and inspect-metadata.json (`apptainer inspect
 *   --all`'s document: labels, environment, runscript, startscript, deffile).
 *
 * Everything is root-owned with mtime `created`, so the same image gives the same bytes.
 * Not done (they need the image's files, which are streamed): merging an existing
 * /.singularity.d/labels.json, moving an existing def file to bootstrap_history/.
 */
import type { ExtraEntries, ExtraEntry } from './flatten.js'
import { ACTIONS, dockerEnvScript, ENV_SCRIPTS, ociRunscript, STARTSCRIPT } from './singularity-scripts.js'

/** The `config` section of an OCI/Docker image config (only the fields used here are typed). */
export interface ImageRunConfig {
  Env?: string[] | null
  Entrypoint?: string[] | null
  Cmd?: string[] | null
  Labels?: Record<string, string> | null
  WorkingDir?: string
  [key: string]: unknown
}

export interface SingularityOptions {
  /** The def file's `from:`, i.e. the archive as the user named it. */
  from: string
  /** The def file's `bootstrap:` (default docker-archive). */
  bootstrap?: string
  /** GOARCH name of the image (amd64, arm64, …). */
  arch: string
  variant?: string
  /** Build time: labels and file times (the image's creation time for reproducible builds). */
  created: Date
  /** Written as org.label-schema.usage.apptainer.version when given (apptainer writes its own). */
  apptainerVersion?: string
  /** Labels written over the image's and the build labels. */
  labels?: Record<string, string>
}

export interface SingularityFiles {
  extra: ExtraEntries
  /** The def text, also the SIF's Def.FILE object. */
  deffile: Buffer
  /** What labels.json holds. */
  labels: Record<string, string>
  ociConfigJson: Buffer
  inspectMetadataJson: Buffer
}

const D = '.singularity.d'

/** Transports whose names are also apptainer bootstrap agents (containers-storage is airlock's own). */
const SOURCE_TRANSPORT = /^(docker|docker-archive|oci|oci-archive|docker-daemon|containers-storage):(.*)$/s

/**
 * The def file's `bootstrap:` and `from:` for a build source, as apptainer writes them when given the
 * same source as a URI (`docker://alpine:3.20` → `bootstrap: docker`, `from: alpine:3.20`). A bare
 * reference is a registry image. Archives are named by their file name only, so the build directory
 * does not end up in the image.
 */
export function defSource(reference: string): { bootstrap: string; from: string } {
  const m = SOURCE_TRANSPORT.exec(reference)
  if (!m) return { bootstrap: 'docker', from: reference }
  const [, transport = '', rest = ''] = m
  if (transport === 'docker') return { bootstrap: 'docker', from: rest.replace(/^\/\//, '') }
  const from = transport.endsWith('-archive') ? (rest.split('/').pop() ?? rest) : rest
  return { bootstrap: transport, from }
}

export function singularityFiles(
  config: ImageRunConfig | null | undefined,
  opts: SingularityOptions,
): SingularityFiles {
  const cfg = config ?? {}
  const bootstrap = opts.bootstrap ?? 'docker-archive'
  const deffile = `bootstrap: ${bootstrap}\nfrom: ${opts.from}\n\n`
  const labels: Record<string, string> = { ...(cfg.Labels ?? {}), ...buildLabels(opts, bootstrap) }
  Object.assign(labels, opts.labels ?? {})
  const labelsJson = goJson(sortKeys(labels), '\t')
  const envScript = dockerEnvScript(cfg.Env ?? [])
  const runscript = ociRunscript(cfg.Entrypoint ?? [], cfg.Cmd ?? [])

  const mtime = opts.created
  const file = (path: string, text: string, mode = 0o755): ExtraEntry => ({
    path,
    type: 'file',
    mode,
    mtime,
    data: Buffer.from(text),
  })
  const dir = (path: string): ExtraEntry => ({ path, type: 'directory', mode: 0o755, mtime })
  const link = (path: string, target: string): ExtraEntry => ({
    path,
    type: 'symlink',
    mode: 0o777,
    mtime,
    target,
  })

  const override: ExtraEntry[] = [
    ...Object.entries(ACTIONS).map(([name, text]) => file(`${D}/actions/${name}`, text)),
    ...Object.entries(ENV_SCRIPTS).map(([name, text]) => file(`${D}/env/${name}`, text)),
    file(`${D}/env/10-docker2singularity.sh`, envScript),
    file(`${D}/runscript`, runscript),
    file(`${D}/startscript`, STARTSCRIPT),
    file(`${D}/labels.json`, labelsJson, 0o644),
    file(`${D}/Singularity`, deffile, 0o644),
    file('etc/hosts', '', 0o644),
    file('etc/resolv.conf', '', 0o644),
  ]
  const ifMissing: ExtraEntry[] = [
    ...[D, `${D}/actions`, `${D}/env`, `${D}/libs`].map(dir),
    ...['dev', 'proc', 'root', 'var', 'var/tmp', 'tmp', 'etc', 'sys', 'home'].map(dir),
    link('singularity', `${D}/runscript`),
    link('.run', `${D}/actions/run`),
    link('.exec', `${D}/actions/exec`),
    link('.test', `${D}/actions/test`),
    link('.shell', `${D}/actions/shell`),
    link('environment', `${D}/env/90-environment.sh`),
  ]

  const trim = (text: string) => text.replace(/\n+$/, '')
  const inspect = {
    data: {
      attributes: {
        environment: sortKeys({
          [`/${D}/env/10-docker2singularity.sh`]: trim(envScript),
          [`/${D}/env/90-environment.sh`]: trim(ENV_SCRIPTS['90-environment.sh']),
        }),
        labels: sortKeys(labels),
        runscript: trim(runscript),
        deffile: trim(deffile),
        startscript: trim(STARTSCRIPT),
      },
    },
    type: 'container',
  }
  return {
    extra: { override, ifMissing },
    deffile: Buffer.from(deffile),
    labels,
    ociConfigJson: Buffer.from(goJson(cfg)),
    inspectMetadataJson: Buffer.from(goJson(inspect)),
  }
}

function buildLabels(opts: SingularityOptions, bootstrap: string): Record<string, string> {
  const t = opts.created
  const out: Record<string, string> = {
    'org.label-schema.schema-version': '1.0',
    'org.opencontainers.image.created': t.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    'org.label-schema.build-date': buildDate(t),
  }
  if (opts.apptainerVersion) out['org.label-schema.usage.apptainer.version'] = opts.apptainerVersion
  out['org.label-schema.usage.singularity.deffile.bootstrap'] = bootstrap
  out['org.label-schema.usage.singularity.deffile.from'] = opts.from
  out['org.opencontainers.image.architecture'] = opts.arch
  if (opts.variant) out['org.opencontainers.image.variant'] = opts.variant
  out['org.label-schema.build-arch'] = opts.arch
  return out
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

/** apptainer's build-date label, in UTC: `Monday_1_January_2024_9:5:3_UTC` (no zero padding). */
export function buildDate(t: Date): string {
  const day = `${t.getUTCDate()}_${MONTHS[t.getUTCMonth()]}_${t.getUTCFullYear()}`
  const time = `${t.getUTCHours()}:${t.getUTCMinutes()}:${t.getUTCSeconds()}`
  return `${WEEKDAYS[t.getUTCDay()]}_${day}_${time}_UTC`
}

function sortKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** JSON as Go's encoding/json writes it (HTML-safe escapes), optionally indented like MarshalIndent. */
function goJson(value: unknown, indent?: string): string {
  return JSON.stringify(value, null, indent).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}
