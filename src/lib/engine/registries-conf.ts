/**
 * The parts of containers-registries.conf(5) that decide how podman completes a short image name
 * (one without a registry) when it looks for a LOCAL image: `[aliases]` and
 * `unqualified-search-registries`. Read the way containers/image's pkg/sysregistriesv2 reads them
 * (system_registries_v2.go, shortnames.go), so airlock picks the image podman would:
 *
 * - The main file is `$CONTAINERS_REGISTRIES_CONF` (or the older `$REGISTRIES_CONFIG_PATH`) when set,
 *   else `~/.config/containers/registries.conf` when it exists, else
 *   `/etc/containers/registries.conf`. A missing default file is an empty configuration.
 * - Drop-ins, `*.conf` in lexical order: from `~/.config/containers/registries.conf.d` only when
 *   the main file is the user's file; otherwise `/etc/containers/registries.conf.d` and then the
 *   user's directory (also with `$CONTAINERS_REGISTRIES_CONF` set).
 * - A drop-in that sets `unqualified-search-registries` (even to `[]`) replaces the list; aliases
 *   merge key by key, and an alias set to `""` removes an earlier one.
 * - The machine-written `short-name-aliases.conf` (`/var/cache/containers/` for root,
 *   `$XDG_CACHE_HOME/containers/` or `~/.cache/containers/` otherwise) wins over every alias above.
 * - The v1 format of the main file (`[registries.search] registries = [...]`) gives the search list.
 *
 * Entries podman would refuse (an alias naming no registry, say) are skipped here rather than failing
 * every lookup; a file that is not TOML at all is an error naming the file.
 */
import { readdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { AirlockError } from '../errors.js'

export const ETC_REGISTRIES_CONF = '/etc/containers/registries.conf'
export const ETC_REGISTRIES_CONF_D = '/etc/containers/registries.conf.d'

export interface ShortNameConfig {
  /** `unqualified-search-registries`, in order (host[:port], no trailing slash). */
  searchRegistries: string[]
  /** `[aliases]` after merging: short name (`alpine`, `group/app`) → `registry/repository`. */
  aliases: Map<string, string>
  /** The files read, in order, for messages. */
  files: string[]
}

interface Layer {
  search?: string[]
  /** null: the alias was reset with "". */
  aliases: Map<string, string | null>
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if (isMissing(err)) return undefined
    throw new AirlockError('IO_FAILED', `cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
      hint: 'podman reads this file too; check its permissions',
    })
  }
}

function strings(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined
  return v.filter((x): x is string => typeof x === 'string')
}

/** One file's search list and aliases; `v1` allows the `[registries.search]` format. */
export function parseRegistriesConf(text: string, file: string, v1 = false): Layer {
  let doc: Record<string, unknown>
  try {
    doc = parseToml(text) as Record<string, unknown>
  } catch (err) {
    throw new AirlockError('INVALID_INPUT', `${file} is not valid TOML: ${(err as Error).message}`, {
      cause: err,
      hint: 'fix the file (containers-registries.conf(5)); podman cannot use it either',
    })
  }
  let search = strings(doc['unqualified-search-registries'])
  if (search === undefined && v1) {
    const registries = doc.registries as Record<string, { registries?: unknown }> | undefined
    search = strings(registries?.search?.registries)
  }
  const aliases = new Map<string, string | null>()
  const table = doc.aliases
  if (table && typeof table === 'object' && !Array.isArray(table)) {
    for (const [name, value] of Object.entries(table as Record<string, unknown>)) {
      if (typeof value === 'string') aliases.set(name, value === '' ? null : value)
    }
  }
  return {
    ...(search ? { search: search.map((r) => r.trim().replace(/\/+$/, '')).filter(Boolean) } : {}),
    aliases,
  }
}

async function dropIns(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true })
    return entries
      .filter((e) => !e.isDirectory() && e.name.endsWith('.conf'))
      .map((e) => join(dir, e.name))
      .sort()
  } catch (err) {
    if (isMissing(err)) return []
    throw new AirlockError('IO_FAILED', `cannot list ${dir}: ${(err as Error).message}`, { cause: err })
  }
}

/** The cache file `podman` writes aliases into (sysregistriesv2 shortNameAliasesConfPath). */
function aliasCacheFile(env: NodeJS.ProcessEnv, home: string): string {
  const rootlessUid = env._CONTAINERS_ROOTLESS_UID
  const euid = rootlessUid !== undefined ? Number(rootlessUid) : (process.geteuid?.() ?? 0)
  if (euid === 0) return '/var/cache/containers/short-name-aliases.conf'
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'containers/short-name-aliases.conf')
}

/** Reads the registries.conf files podman would read, with `env` standing for its environment. */
export async function loadShortNameConfig(env: NodeJS.ProcessEnv = process.env): Promise<ShortNameConfig> {
  const home = env.HOME || homedir()
  const userFile = join(home, '.config/containers/registries.conf')
  const userDir = join(home, '.config/containers/registries.conf.d')
  const override = env.CONTAINERS_REGISTRIES_CONF ?? env.REGISTRIES_CONFIG_PATH
  let main: string
  let dirs: string[]
  let text: string | undefined
  if (override !== undefined) {
    main = override
    dirs = [ETC_REGISTRIES_CONF_D, userDir]
    text = await readText(main)
    if (text === undefined) {
      throw new AirlockError('NOT_FOUND', `${main} (CONTAINERS_REGISTRIES_CONF) does not exist`, {
        hint: 'point CONTAINERS_REGISTRIES_CONF at an existing registries.conf, or unset it',
      })
    }
  } else {
    text = await readText(userFile)
    if (text !== undefined) {
      main = userFile
      dirs = [userDir]
    } else {
      main = ETC_REGISTRIES_CONF
      dirs = [ETC_REGISTRIES_CONF_D, userDir]
      text = await readText(main)
    }
  }
  const files: string[] = []
  const layers: Layer[] = []
  if (text !== undefined) {
    files.push(main)
    layers.push(parseRegistriesConf(text, main, true))
  }
  for (const dir of dirs) {
    for (const file of await dropIns(dir)) {
      const t = await readText(file)
      if (t === undefined) continue
      files.push(file)
      layers.push(parseRegistriesConf(t, file))
    }
  }
  let searchRegistries: string[] = []
  const merged = new Map<string, string | null>()
  for (const layer of layers) {
    if (layer.search) searchRegistries = layer.search
    for (const [k, v] of layer.aliases) merged.set(k, v)
  }
  const cacheFile = aliasCacheFile(env, home)
  const cacheText = await readText(cacheFile)
  if (cacheText !== undefined) {
    files.push(cacheFile)
    for (const [k, v] of parseRegistriesConf(cacheText, cacheFile).aliases) merged.set(k, v)
  }
  const aliases = new Map<string, string>()
  for (const [k, v] of merged) if (v) aliases.set(k, v)
  return { searchRegistries, aliases, files }
}
