/**
 * Finding images in an engine's storage: listing them, and resolving a user's text (an ID, a short
 * ID, a name, `name@digest`) to one image. Both engines answer from one listing, matched by
 * local-image.ts with each engine's own rule for short names: podman's reads registries.conf
 * (registries-conf.ts) with the environment podman would get (EngineOptions.env).
 */
import type { EngineOptions } from '../transports/transport.js'
import { dockerEndpoint, dockerListImages } from './docker-api.js'
import {
  type EngineName,
  isShortName,
  type LocalImage,
  type LocalImageQuery,
  type LocalLookup,
  type LocalNameRules,
  lookupLocalImageIn,
  parseLocalImageQuery,
} from './local-image.js'
import { podmanGlobalFlags, podmanListImages } from './podman-cli.js'
import { loadShortNameConfig } from './registries-conf.js'

/** Every image in the engine's storage, untagged ones included. */
export function listLocalImages(engine: EngineName, opts: EngineOptions = {}): Promise<LocalImage[]> {
  return engine === 'podman' ? podmanListImages(opts) : dockerListImages(opts)
}

/** How messages name the engine's storage: `podman storage (--root …)`, `docker at unix:///…`. */
export function engineLabel(engine: EngineName, opts: EngineOptions = {}): string {
  if (engine === 'docker') return `docker at ${dockerEndpoint(opts).display}`
  const flags = podmanGlobalFlags(opts)
  return flags.length ? `podman storage (${flags.join(' ')})` : 'podman storage'
}

/**
 * How `engine` completes `query`'s name: for a podman short name, the aliases and search registries
 * of registries.conf as podman reads them with `opts.env`; otherwise nothing to read.
 */
export async function localNameRules(
  engine: EngineName,
  query: LocalImageQuery,
  opts: EngineOptions = {},
): Promise<LocalNameRules> {
  if (engine !== 'podman' || !query.name || query.idOnly || !isShortName(query.raw)) return { engine }
  const conf = await loadShortNameConfig(opts.env ?? process.env)
  return { engine, aliases: conf.aliases, searchRegistries: conf.searchRegistries }
}

/**
 * The image `ref` names: an image ID (full or a unique prefix, `sha256:` optional), a name (tag
 * defaults to latest; short names completed as the engine does) or `name@digest`. Ambiguous or
 * unknown IDs are INVALID_INPUT, unknown names NOT_FOUND; both name the text given.
 */
export async function resolveLocalImage(
  engine: EngineName,
  ref: string | LocalImageQuery,
  opts: EngineOptions = {},
): Promise<LocalImage> {
  return (await lookupLocalImage(engine, ref, opts)).image
}

/** resolveLocalImage, also giving the full name the image was found under (none for IDs). */
export async function lookupLocalImage(
  engine: EngineName,
  ref: string | LocalImageQuery,
  opts: EngineOptions = {},
): Promise<LocalLookup> {
  const query = typeof ref === 'string' ? parseLocalImageQuery(ref) : ref
  const [images, rules] = await Promise.all([
    listLocalImages(engine, opts),
    localNameRules(engine, query, opts),
  ])
  return lookupLocalImageIn(images, query, engineLabel(engine, opts), rules)
}
