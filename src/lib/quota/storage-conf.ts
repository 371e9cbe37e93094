/**
 * Podman's storage settings as podman itself resolves them, read through a Runner (`cat`), so the same
 * code answers for the local node and for one reached over ssh.
 *
 * Follows containers/storage `types/options.go` and `types/utils.go`:
 * - The system file is `$CONTAINERS_STORAGE_CONF` when set, else `/etc/containers/storage.conf` when it
 *   exists, else `/usr/share/containers/storage.conf`.
 * - root reads the system file. A rootless user reads `$CONTAINERS_STORAGE_CONF` when set, else the user
 *   file `$XDG_CONFIG_HOME/containers/storage.conf` (XDG_CONFIG_HOME set) or
 *   `~/.config/containers/storage.conf`. When that file exists it replaces the system file entirely
 *   (no merging); when it does not, the rootless defaults apply, shaped by the system file's
 *   `rootless_storage_path` and (rootless-capable) `driver`, never by its `graphroot`.
 * - Rootless defaults: graphroot `$XDG_DATA_HOME/containers/storage` or
 *   `~/.local/share/containers/storage`; runroot `$XDG_RUNTIME_DIR/containers` or
 *   `/tmp/containers-user-UID/containers`. A rootless file without `graphroot` falls back to its own
 *   `rootless_storage_path`, then the default above.
 * - Root defaults: graphroot `/var/lib/containers/storage`, runroot `/run/containers/storage`.
 * - Paths get `$UID` replaced, then environment variables expanded (`expandEnvPath`).
 * - `STORAGE_DRIVER` in the environment overrides the driver; `overlay2` means `overlay`.
 */
import { parse as parseToml } from 'smol-toml'
import type { Runner, StorageInfo } from './types.js'

export const ETC_STORAGE_CONF = '/etc/containers/storage.conf'
export const USR_STORAGE_CONF = '/usr/share/containers/storage.conf'
const ROOT_GRAPHROOT = '/var/lib/containers/storage'
const ROOT_RUNROOT = '/run/containers/storage'
const ROOTLESS_DRIVERS = new Set(['btrfs', 'overlay', 'overlay2', 'vfs'])

/** The `[storage]` keys airlock needs; any may be missing. */
export interface StorageConfValues {
  driver?: string
  graphroot?: string
  runroot?: string
  rootless_storage_path?: string
  imagestore?: string
}

export interface ResolvedStorage {
  storage: StorageInfo
  /** Where `storage.driver` came from: `STORAGE_DRIVER`, the file that names it; absent when none did. */
  driverFrom?: string
  /** The files looked at, in order, and whether each existed. */
  looked: Array<{ file: string; exists: boolean }>
  warnings: string[]
}

/** Parses storage.conf text; throws with the TOML parser's message on bad syntax. */
export function parseStorageConf(text: string): StorageConfValues {
  const doc = parseToml(text) as { storage?: Record<string, unknown> }
  const s = doc.storage ?? {}
  const out: StorageConfValues = {}
  for (const key of ['driver', 'graphroot', 'runroot', 'rootless_storage_path', 'imagestore'] as const) {
    const v = s[key]
    if (typeof v === 'string' && v !== '') out[key] = v
  }
  return out
}

/** `expandEnvPath`: `$UID`, then `$VAR`/`${VAR}` from env (unset = empty, as Go's os.ExpandEnv). */
export function expandEnvPath(path: string, uid: number, env: Record<string, string | undefined>): string {
  const replaced = path.replaceAll('$UID', String(uid))
  const expanded = replaced.replace(
    /\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_m, braced: string | undefined, bare: string | undefined) => env[(braced ?? bare) as string] ?? '',
  )
  return cleanPath(expanded)
}

/** Go's filepath.Clean for absolute and relative paths. */
function cleanPath(p: string): string {
  const abs = p.startsWith('/')
  const parts: string[] = []
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') {
      if (parts.length && parts[parts.length - 1] !== '..') parts.pop()
      else if (!abs) parts.push('..')
    } else parts.push(seg)
  }
  const joined = parts.join('/')
  return abs ? `/${joined}` : joined || '.'
}

/** Reads a file through the runner: its text, or undefined when it does not exist or cannot be read. */
async function readConf(
  run: Runner,
  file: string,
  warnings: string[],
): Promise<{ exists: boolean; text?: string }> {
  const r = await run(['cat', '--', file], { timeoutMs: 15_000 })
  if (r.exitCode === 0) return { exists: true, text: r.stdout }
  if (/No such file or directory/i.test(r.stderr) || r.stderr.trim() === '') return { exists: false }
  warnings.push(`cannot read ${file}: ${r.stderr.trim().split('\n')[0]}`)
  return { exists: true }
}

/**
 * podman's storage settings for the user `uid` with environment `env` (HOME, XDG_*, CONTAINERS_STORAGE_CONF,
 * STORAGE_DRIVER as seen on the node). Never throws: problems become warnings and defaults.
 */
export async function resolveStorage(
  run: Runner,
  env: Record<string, string | undefined>,
  uid: number,
): Promise<ResolvedStorage> {
  const warnings: string[] = []
  const looked: ResolvedStorage['looked'] = []
  const rootless = uid !== 0
  const home = env.HOME ?? ''
  const csc = env.CONTAINERS_STORAGE_CONF

  const seen = new Map<string, StorageConfValues | undefined>()
  const load = async (file: string): Promise<StorageConfValues | undefined> => {
    if (seen.has(file)) return seen.get(file)
    const values = await loadOnce(file)
    seen.set(file, values)
    return values
  }
  const loadOnce = async (file: string): Promise<StorageConfValues | undefined> => {
    const r = await readConf(run, file, warnings)
    looked.push({ file, exists: r.exists })
    if (r.text === undefined) return undefined
    try {
      return parseStorageConf(r.text)
    } catch (err) {
      warnings.push(
        `${file} is not valid TOML (podman ignores it too): ${(err as Error).message.split('\n')[0]}`,
      )
      return {}
    }
  }

  // The system file: CONTAINERS_STORAGE_CONF (or /etc) when it exists, else /usr/share (options.go init()).
  const override = csc ?? ETC_STORAGE_CONF
  let systemFile = override
  let system = await load(override)
  if (system === undefined && !looked.find((l) => l.file === override)?.exists) {
    systemFile = USR_STORAGE_CONF
    system = await load(USR_STORAGE_CONF)
  }
  const systemExists = looked.find((l) => l.file === systemFile)?.exists ?? false

  const envDriver = env.STORAGE_DRIVER || undefined
  const normDriver = (d: string | undefined) => (d === 'overlay2' ? 'overlay' : (d ?? ''))

  if (!rootless) {
    const v = system ?? {}
    const driverFrom = envDriver ? 'STORAGE_DRIVER' : v.driver ? systemFile : undefined
    const s: StorageInfo = {
      driver: normDriver(envDriver ?? v.driver),
      graphroot: expandEnvPath(v.graphroot ?? ROOT_GRAPHROOT, uid, env),
      runroot: expandEnvPath(v.runroot ?? ROOT_RUNROOT, uid, env),
      rootless: false,
      source: systemExists ? systemFile : 'defaults',
    }
    return { storage: s, ...(driverFrom ? { driverFrom } : {}), looked, warnings }
  }

  // Rootless defaults, shaped by the system file (getRootlessStorageOpts).
  const dataHome = env.XDG_DATA_HOME || `${home}/.local/share`
  const runtimeDir = env.XDG_RUNTIME_DIR || `/tmp/containers-user-${uid}`
  const sys = system ?? {}
  const defaultGraphroot = sys.rootless_storage_path
    ? expandEnvPath(sys.rootless_storage_path, uid, env)
    : `${dataHome}/containers/storage`
  const defaultRunroot = `${runtimeDir}/containers`
  const defaultDriver = sys.driver && ROOTLESS_DRIVERS.has(sys.driver) ? sys.driver : undefined

  // The user's file: CONTAINERS_STORAGE_CONF, else XDG_CONFIG_HOME or ~/.config (utils.go DefaultConfigFile).
  const userFile = csc ?? `${env.XDG_CONFIG_HOME || `${home}/.config`}/containers/storage.conf`
  const user = await load(userFile)
  const userExists = looked.find((l) => l.file === userFile)?.exists ?? false
  if (userExists) {
    const u = user ?? {}
    const driverFrom = envDriver ? 'STORAGE_DRIVER' : u.driver ? userFile : undefined
    return {
      ...(driverFrom ? { driverFrom } : {}),
      storage: {
        driver: normDriver(envDriver ?? u.driver),
        graphroot: expandEnvPath(u.graphroot ?? u.rootless_storage_path ?? defaultGraphroot, uid, env),
        runroot: expandEnvPath(u.runroot ?? defaultRunroot, uid, env),
        rootless: true,
        source: userFile,
      },
      looked,
      warnings,
    }
  }
  const driverFrom = envDriver ? 'STORAGE_DRIVER' : defaultDriver ? systemFile : undefined
  return {
    ...(driverFrom ? { driverFrom } : {}),
    storage: {
      driver: normDriver(envDriver ?? defaultDriver),
      graphroot: cleanPath(defaultGraphroot),
      runroot: cleanPath(defaultRunroot),
      rootless: true,
      source: systemExists ? `defaults (rootless, with ${systemFile})` : 'defaults',
    },
    looked,
    warnings,
  }
}

/** c/storage's driver order when none is configured (drivers/driver_linux.go `priority`). */
const DRIVER_PRIORITY = ['overlay', 'aufs', 'btrfs', 'zfs', 'vfs']

/** podman's name for a driver: `overlay2` is `overlay` (containers/storage accepts both). */
export function normalizeDriver(driver: string): string {
  return driver === 'overlay2' ? 'overlay' : driver
}

/**
 * The driver an existing store was made with, when no driver is configured: its layer directory
 * (`<graphroot>/<driver>-layers`, containers/storage layers.go) says so. podman records the driver in
 * its database at the first use and keeps using it while none is configured (libpod's
 * StorageConfigGraphDriverNameSet), so the store's own driver is the one a pull will use. Undefined
 * when the graphroot holds no store yet, or cannot be listed; the first in c/storage's priority order
 * when it holds several.
 */
export async function storeDriver(run: Runner, graphroot: string): Promise<string | undefined> {
  const r = await run(['ls', '-1', '--', graphroot], { timeoutMs: 15_000 })
  if (r.exitCode !== 0) return undefined
  const found = new Set(
    r.stdout
      .split('\n')
      .map((l) => /^([a-z0-9]+)-layers$/.exec(l.trim())?.[1])
      .filter((d): d is string => !!d),
  )
  return DRIVER_PRIORITY.find((d) => found.has(d)) ?? [...found].sort()[0]
}
