/**
 * Registry credentials from the files users already have, looked up as containers-auth.json(5)
 * describes: `--authfile` or `REGISTRY_AUTH_FILE`; else `${XDG_RUNTIME_DIR}/containers/auth.json`,
 * `~/.config/containers/auth.json`, `~/.docker/config.json` (with `credHelpers` / `credsStore`),
 * and the legacy `~/.dockercfg`. Keys are matched most specific first: `host/ns/repo`, `host/ns`,
 * `host`; Docker Hub is also found under `https://index.docker.io/v1/`.
 *
 * `airlock login` writes the containers format with mode 0600, atomically.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { AirlockError } from '../errors.js'
import type { Credentials } from '../transports/registry/options.js'
import { runHelper } from './cred-helper.js'

export interface AuthEntry {
  auth?: string
  username?: string
  password?: string
  identitytoken?: string
}

export interface AuthFile {
  auths?: Record<string, AuthEntry>
  credHelpers?: Record<string, string>
  credsStore?: string
  [k: string]: unknown
}

const DOCKER_HUB_KEYS = [
  'https://index.docker.io/v1/',
  'index.docker.io',
  'registry-1.docker.io',
  'docker.io',
]

/** The files searched, in order, for reading. */
export function authFileCandidates(env: NodeJS.ProcessEnv = process.env, explicit?: string): string[] {
  if (explicit) return [explicit]
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE]
  const home = env.HOME ?? homedir()
  const files: string[] = []
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'))
  files.push(join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'))
  files.push(join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'))
  files.push(join(home, '.dockercfg'))
  return files
}

/** The file `airlock login` writes, as podman does. */
export function defaultWriteAuthFile(env: NodeJS.ProcessEnv = process.env, explicit?: string): string {
  if (explicit) return explicit
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json')
  return join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config'), 'containers', 'auth.json')
}

export async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new AirlockError('INVALID_INPUT', `cannot read auth file ${path}: ${(err as Error).message}`)
  }
  try {
    const doc = JSON.parse(text) as AuthFile
    // Legacy ~/.dockercfg holds the auths map at top level.
    if (path.endsWith('.dockercfg') && !doc.auths) return { auths: doc as Record<string, AuthEntry> }
    return doc
  } catch {
    throw new AirlockError('INVALID_INPUT', `auth file ${path} is not valid JSON`, {
      hint: 'fix or remove the file, then run airlock login again',
    })
  }
}

export function decodeEntry(entry: AuthEntry, where: string): Credentials | undefined {
  if (entry.auth) {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8')
    const i = plain.indexOf(':')
    if (i < 0)
      throw new AirlockError('INVALID_INPUT', `the "auth" value for ${where} is not base64 of user:password`)
    return { username: plain.slice(0, i), password: plain.slice(i + 1) }
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password }
  return undefined
}

/** Keys to try for a registry and repository, most specific first. */
export function lookupKeys(registry: string, repository?: string): string[] {
  const keys: string[] = []
  if (repository) {
    const parts = repository.split('/')
    for (let n = parts.length; n >= 1; n--) keys.push(`${registry}/${parts.slice(0, n).join('/')}`)
  }
  keys.push(registry)
  if (registry === 'docker.io') keys.push(...DOCKER_HUB_KEYS)
  return keys
}

export function normalizeKey(key: string): string {
  if (DOCKER_HUB_KEYS.includes(key)) return key
  return key
    .replace(/^https?:\/\//, '')
    .replace(/\/v[12]\/?$/, '')
    .replace(/\/$/, '')
}

/**
 * Finds credentials for `registry` (as written in references, e.g. `docker.io`, `host:5000`).
 * Returns undefined when nothing is configured (anonymous access).
 */
export async function findCredentials(
  registry: string,
  repository?: string,
  opts: { env?: NodeJS.ProcessEnv; authfile?: string } = {},
): Promise<Credentials | undefined> {
  const env = opts.env ?? process.env
  const keys = lookupKeys(registry, repository)
  for (const path of authFileCandidates(env, opts.authfile)) {
    const doc = await readAuthFile(path)
    if (!doc) continue
    const auths = new Map<string, AuthEntry>()
    for (const [k, v] of Object.entries(doc.auths ?? {})) auths.set(normalizeKey(k), v)
    for (const key of keys) {
      const helper = doc.credHelpers?.[key]
      if (helper) return runHelper(helper, key === 'docker.io' ? 'https://index.docker.io/v1/' : key, env)
      const entry = auths.get(key)
      if (entry) {
        const creds = decodeEntry(entry, key)
        if (creds) return creds
      }
    }
    if (doc.credsStore) {
      const found = await runHelper(
        doc.credsStore,
        registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry,
        env,
      )
      if (found) return found
    }
  }
  return undefined
}

/** Writes (or with creds undefined, removes) the entry for `key`, keeping everything else. */
export async function storeCredentials(
  key: string,
  creds: Credentials | undefined,
  opts: { env?: NodeJS.ProcessEnv; authfile?: string } = {},
): Promise<{ file: string; changed: boolean }> {
  const file = defaultWriteAuthFile(opts.env ?? process.env, opts.authfile)
  const doc: AuthFile = (await readAuthFile(file)) ?? {}
  doc.auths ??= {}
  let changed = false
  if (creds) {
    doc.auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') }
    changed = true
  } else {
    for (const k of Object.keys(doc.auths)) {
      if (normalizeKey(k) === key || (key === 'docker.io' && DOCKER_HUB_KEYS.includes(k))) {
        delete doc.auths[k]
        changed = true
      }
    }
  }
  if (!changed) return { file, changed }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(doc, null, '\t')}\n`, { mode: 0o600 })
  await chmod(tmp, 0o600)
  await rename(tmp, file)
  return { file, changed }
}
