/**
 * Finding images in an engine's storage: listing them, and resolving a user's text (an ID, a short
 * ID, a name, `name@digest`) to one image. Both engines answer from one listing, matched the same
 * way (local-image.ts), so `airlock` picks the same image whichever engine holds it.
 */
import type { EngineOptions } from '../transports/transport.js'
import { dockerEndpoint, dockerListImages } from './docker-api.js'
import {
  type EngineName,
  type LocalImage,
  type LocalImageQuery,
  matchLocalImage,
  parseLocalImageQuery,
} from './local-image.js'
import { podmanGlobalFlags, podmanListImages } from './podman-cli.js'

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
 * The image `ref` names: an image ID (full or a unique prefix, `sha256:` optional), a name (tag
 * defaults to latest) or `name@digest`. Ambiguous or unknown IDs are INVALID_INPUT, unknown names
 * NOT_FOUND; both name the text given.
 */
export async function resolveLocalImage(
  engine: EngineName,
  ref: string | LocalImageQuery,
  opts: EngineOptions = {},
): Promise<LocalImage> {
  const query = typeof ref === 'string' ? parseLocalImageQuery(ref) : ref
  return matchLocalImage(await listLocalImages(engine, opts), query, engineLabel(engine, opts))
}
