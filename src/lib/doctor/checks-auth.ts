/**
 * Registry credentials: the auth files in the order findCredentials reads them (authFileCandidates:
 * `--authfile` or REGISTRY_AUTH_FILE alone, else XDG_RUNTIME_DIR's and ~/.config's containers
 * auth.json, ~/.docker/config.json, ~/.dockercfg), each with the registries it holds credentials for
 * and the credential helpers it names. Registry names only: no value of a file is put in the report.
 */
import { stat } from 'node:fs/promises'
import {
  type AuthFile,
  authFileCandidates,
  decodeEntry,
  defaultWriteAuthFile,
  lookupKeys,
  normalizeKey,
  readAuthFile,
} from '../auth/auth-files.js'
import { findExecutable } from '../engine/index.js'
import { type DoctorContext, reason } from './context.js'
import type { CapabilityReport, DoctorCheck } from './types.js'

interface FileListing {
  path: string
  doc?: AuthFile
  /** Keys with a user and password (normalized as findCredentials matches them). */
  registries: string[]
  /** Keys with an entry but nothing airlock can use (e.g. only an identitytoken). */
  empty: string[]
  /** credHelpers: registry key → helper name. */
  helpers: Record<string, string>
  /** Helpers named in the file whose docker-credential-NAME is not on PATH. */
  missingHelpers: Set<string>
  credsStore?: string
  problems: string[]
  fixes: string[]
  /** Why a lookup that reaches this file throws (bad JSON, a credsStore that is not installed). */
  broken?: string
}

async function listFile(path: string, env: NodeJS.ProcessEnv): Promise<FileListing> {
  const out: FileListing = {
    path,
    registries: [],
    empty: [],
    helpers: {},
    missingHelpers: new Set(),
    problems: [],
    fixes: [],
  }
  try {
    out.doc = await readAuthFile(path)
  } catch (err) {
    out.broken = reason(err)
    out.fixes.push('fix the file, or remove it and run airlock login again')
    return out
  }
  const doc = out.doc
  if (!doc) return out
  for (const [key, entry] of Object.entries(doc.auths ?? {})) {
    const name = normalizeKey(key)
    try {
      if (decodeEntry(entry ?? {}, name)) out.registries.push(name)
      else out.empty.push(name)
    } catch {
      out.problems.push(`the entry for ${name} is not base64 of user:password`)
      out.fixes.push(`airlock login ${name}`)
    }
  }
  out.helpers = { ...(doc.credHelpers ?? {}) }
  out.credsStore = doc.credsStore || undefined
  const helperNames = [
    ...new Set([...Object.values(out.helpers), ...(out.credsStore ? [out.credsStore] : [])]),
  ]
  const found = await Promise.all(helperNames.map((h) => findExecutable(`docker-credential-${h}`, env)))
  helperNames.forEach((h, i) => {
    if (found[i]) return
    out.missingHelpers.add(h)
    if (h === out.credsStore) {
      out.broken = `credsStore names docker-credential-${h}, which is not on PATH`
      out.fixes.push(`install docker-credential-${h}, or remove "credsStore" from the file`)
    } else {
      out.problems.push(`credential helper docker-credential-${h} is not on PATH`)
      out.fixes.push(`install docker-credential-${h}, or remove it from "credHelpers"`)
    }
  })
  try {
    const mode = (await stat(path)).mode
    if (mode & 0o077) {
      out.problems.push(`mode ${(mode & 0o777).toString(8)}: others may read it`)
      out.fixes.push(`chmod 600 ${path}`)
    }
  } catch {
    // gone since it was read: nothing to say about its mode
  }
  return out
}

/** The registries a file answers for with what is installed: `*` for a working credsStore. */
function usableRegistries(f: FileListing): string[] {
  return [
    ...f.registries,
    ...Object.entries(f.helpers)
      .filter(([, h]) => !f.missingHelpers.has(h))
      .map(([k]) => normalizeKey(k)),
    ...(f.credsStore && !f.missingHelpers.has(f.credsStore) ? ['*'] : []),
  ]
}

function fileCheck(f: FileListing, explicit: string | undefined): DoctorCheck {
  if (!f.doc && !f.broken) {
    return {
      name: 'auth file',
      status: explicit ? 'warn' : 'missing',
      optional: !explicit,
      found: f.path,
      detail: explicit ? `not there, and ${explicit} means no other file is read` : 'not there',
      ...(explicit ? { fix: `run airlock login --authfile ${f.path} REGISTRY, or unset ${explicit}` } : {}),
    }
  }
  const held = [
    ...f.registries,
    ...Object.entries(f.helpers).map(([k, h]) => `${normalizeKey(k)} (docker-credential-${h})`),
    ...(f.credsStore ? [`any other registry (credsStore docker-credential-${f.credsStore})`] : []),
  ]
  const detail = [
    ...(f.broken ? [`${f.broken}: every registry not found in an earlier file fails with this error`] : []),
    ...(f.doc ? [held.length ? `credentials for ${held.join(', ')}` : 'no credentials'] : []),
    ...(f.empty.length ? [`entries without a password (not used): ${f.empty.join(', ')}`] : []),
    ...f.problems,
  ].join('; ')
  return {
    name: 'auth file',
    status: f.broken ? 'missing' : f.problems.length ? 'warn' : 'ok',
    found: f.path,
    detail,
    ...(f.fixes.length ? { fix: f.fixes.join('; ') } : {}),
  }
}

/** The first file (in reading order) that would answer for `host`, as findCredentials looks. */
function whoAnswers(files: FileListing[], host: string): FileListing | undefined {
  const keys = lookupKeys(host)
  for (const f of files) {
    if (!f.doc) {
      if (f.broken) return undefined
      continue
    }
    const helpers = Object.keys(f.helpers).filter((k) => !f.missingHelpers.has(f.helpers[k]))
    if (keys.some((k) => f.registries.includes(k) || helpers.includes(k))) return f
    if (f.broken) return undefined
    if (f.credsStore) return f
  }
  return undefined
}

export async function checkAuth(ctx: DoctorContext): Promise<CapabilityReport> {
  const env = ctx.env
  const explicit = ctx.authfile ? '--authfile' : env.REGISTRY_AUTH_FILE ? 'REGISTRY_AUTH_FILE' : undefined
  const paths = authFileCandidates(env, ctx.authfile)
  const files = await Promise.all(paths.map((p) => listFile(p, env)))
  const checks = files.map((f) => fileCheck(f, explicit))
  checks.push({
    name: 'airlock login writes',
    status: 'ok',
    found: defaultWriteAuthFile(env, ctx.authfile),
    detail: 'containers auth.json format, mode 0600',
  })
  const harbor = ctx.config.harbor?.host
  if (harbor) {
    const f = whoAnswers(files, harbor)
    checks.push(
      f
        ? { name: 'harbor.host', status: 'ok', found: harbor, detail: `credentials in ${f.path}` }
        : {
            name: 'harbor.host',
            status: 'warn',
            found: harbor,
            detail: 'no auth file holds credentials for it: pushes there go anonymously and fail',
            fix: `airlock login ${harbor}`,
          },
    )
  }
  const broken = files.find((f) => f.broken)
  const registries = [...new Set(files.flatMap(usableRegistries))]
  const usable = !broken && registries.length > 0
  if (!broken && !registries.length) {
    checks.unshift({
      name: 'credentials',
      status: 'missing',
      detail: `no auth file holds any (${explicit ? `${explicit} names the only file read` : 'read in the order below'})`,
      fix: 'airlock login REGISTRY (podman login and docker login write files airlock reads too)',
    })
  }
  return {
    name: 'auth',
    commands: 'credentials of every registry command',
    usable,
    summary: broken
      ? `${broken.path}: ${broken.broken}, so lookups that reach it fail`
      : registries.length
        ? `credentials for ${registries.map((r) => (r === '*' ? 'any registry (credsStore)' : r)).join(', ')}`
        : 'no credentials: registries are used anonymously (airlock login REGISTRY to add some)',
    checks,
  }
}
