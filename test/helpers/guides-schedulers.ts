/**
 * What the mirror guide's scheduler files say, read the way their schedulers read them, so the test can
 * run exactly the command a systemd service, a cron.d line or a Kubernetes CronJob would run (none of the
 * three can be activated in a test). Validation uses the real tool where there is one
 * (`systemd-analyze verify`); cron and Kubernetes have none that works offline, so their files are
 * checked for the mistakes that make them silently not run.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { iniSettings, simpleCommands } from './guide-runner.js'

/** systemd's environment for services (no login shell): its fixed PATH and nothing else. */
export const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** `KEY=value` lines of an EnvironmentFile / --from-env-file (comments and blank lines skipped). */
export function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!m) throw new Error(`${file}: not KEY=value: ${line}`)
    env[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2')
  }
  return env
}

/** The command a Type=oneshot service runs and the environment systemd gives it. */
export function serviceCommand(unitFile: string): {
  argv: string[]
  env: Record<string, string>
  user?: string
} {
  const settings = iniSettings(readFileSync(unitFile, 'utf8')).filter((s) => s.section === 'Service')
  const exec = settings.filter((s) => s.key === 'ExecStart')
  if (exec.length !== 1) throw new Error(`${unitFile}: want exactly one ExecStart, found ${exec.length}`)
  const line = exec[0]!.value.replace(/^[-@:+!]+/, '')
  if (/[|;&<>`]|\$\(/.test(line)) throw new Error(`${unitFile}: ExecStart is not a shell: ${line}`)
  const commands = simpleCommands(line)
  if (commands.length !== 1) throw new Error(`${unitFile}: ExecStart is not one command`)
  const env: Record<string, string> = { PATH: SYSTEMD_PATH }
  for (const s of settings) {
    if (s.key === 'EnvironmentFile') Object.assign(env, readEnvFile(s.value.replace(/^-/, '')))
    if (s.key === 'Environment')
      for (const w of simpleCommands(s.value).flat()) {
        const eq = w.indexOf('=')
        if (eq > 0) env[w.slice(0, eq)] = w.slice(eq + 1)
      }
  }
  const user = settings.find((s) => s.key === 'User')?.value
  return { argv: commands[0]!, env, ...(user ? { user } : {}) }
}

const CRON_FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/
const CRON_RANGES: Array<[number, number]> = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
]

/** Why a five-field cron schedule is wrong, or undefined. */
export function cronScheduleProblem(fields: string[]): string | undefined {
  if (
    fields.length === 1 &&
    /^@(reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)$/.test(fields[0]!)
  )
    return undefined
  if (fields.length !== 5) return `want 5 schedule fields, got ${fields.length}`
  for (const [i, f] of fields.entries()) {
    if (!CRON_FIELD.test(f)) return `field ${i + 1} "${f}" is not a cron field`
    const [lo, hi] = CRON_RANGES[i]!
    for (const n of f.match(/\d+/g) ?? []) {
      if (/\/\d+/.test(f) && f.endsWith(`/${n}`)) continue
      if (Number(n) < lo || Number(n) > hi) return `field ${i + 1} "${f}": ${n} is outside ${lo}-${hi}`
    }
  }
  return undefined
}

export interface CronFile {
  /** `NAME=value` lines (cron's own environment for the commands). */
  env: Record<string, string>
  entries: Array<{ schedule: string[]; user: string; command: string }>
}

/** A /etc/cron.d file: checked for what makes cron skip it or a line, then parsed. */
export function readCronD(file: string): CronFile {
  if (!/^[A-Za-z0-9_-]+$/.test(path.basename(file)))
    throw new Error(
      `${file}: cron ignores /etc/cron.d files whose names have other characters than A-Z a-z 0-9 _ -`,
    )
  const text = readFileSync(file, 'utf8')
  if (!text.endsWith('\n')) throw new Error(`${file}: cron ignores a last line without a newline`)
  const env: Record<string, string> = {}
  const entries = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (assign) {
      env[assign[1]!] = assign[2]!
      continue
    }
    const fields = line.split(/\s+/)
    const n = fields[0]!.startsWith('@') ? 1 : 5
    const schedule = fields.slice(0, n)
    const problem = cronScheduleProblem(schedule)
    if (problem) throw new Error(`${file}: ${problem}: ${line}`)
    const user = fields[n]
    if (!user || !/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`${file}: no user field in: ${line}`)
    const command = line.replace(new RegExp(`^(\\S+\\s+){${n + 1}}`), '')
    if (/(?<!\\)%/.test(command)) throw new Error(`${file}: an unescaped % ends cron's command: ${command}`)
    entries.push({ schedule, user, command })
  }
  return { env, entries }
}

export interface K8sObjects {
  docs: Array<Record<string, unknown>>
  /** The documents of one kind, typed as the caller expects them (checked by the caller's assertions). */
  byKind<T = Record<string, unknown>>(kind: string): T[]
}

/** The parts of a batch/v1 CronJob the guide's check looks at. */
export interface K8sCronJob {
  apiVersion: string
  metadata: { name: string }
  spec: {
    schedule: string
    concurrencyPolicy?: string
    jobTemplate: {
      spec: {
        template: {
          spec: {
            restartPolicy?: string
            containers: Array<{
              name: string
              image: string
              command?: string[]
              args?: string[]
              envFrom?: Array<{ secretRef?: { name: string }; configMapRef?: { name: string } }>
              volumeMounts?: Array<{ name: string; mountPath: string }>
            }>
            volumes?: Array<{
              name: string
              configMap?: { name: string }
              persistentVolumeClaim?: { claimName: string }
            }>
          }
        }
      }
    }
  }
}

export function readK8s(file: string): K8sObjects {
  const docs: Array<Record<string, unknown>> = []
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`)
    const obj = doc.toJS() as Record<string, unknown> | null
    if (obj) docs.push(obj)
  }
  for (const d of docs) {
    if (typeof d.apiVersion !== 'string' || typeof d.kind !== 'string')
      throw new Error(`${file}: a document without apiVersion/kind`)
    if (!(d.metadata as { name?: string } | undefined)?.name)
      throw new Error(`${file}: ${d.kind} without metadata.name`)
  }
  return { docs, byKind: <T>(kind: string) => docs.filter((d) => d.kind === kind) as T[] }
}

/** `kubectl … create KIND NAME …` lines of shell text: NAME and the words after it. */
export function kubectlCreates(shell: string, kind: string[]): Array<{ name: string; words: string[] }> {
  const out = []
  for (const words of simpleCommands(shell)) {
    if (words[0] !== 'kubectl') continue
    const i = words.indexOf('create')
    if (i < 0) continue
    const rest = words.slice(i + 1).filter((w, j, all) => !(w === '-n' || all[j - 1] === '-n'))
    if (kind.every((k, j) => rest[j] === k))
      out.push({ name: rest[kind.length]!, words: rest.slice(kind.length + 1) })
  }
  return out
}
