/**
 * The `containers-storage:` transport: images in podman's local storage, through the podman CLI.
 *
 * `containers-storage:REF` where REF is a name, `name@digest`, or an image ID (64 hex, a unique
 * prefix, `sha256:…`, or `@…`). A short name is completed as podman completes it for local images
 * (`app:1` finds `localhost/app:1`, then search registries, then `docker.io/library/app:1`; see
 * src/lib/engine/local-image.ts) when reading, where skopeo would take docker.io only. An
 * optional store prefix in c/image's syntax, `[driver@graphroot+runroot]REF`, picks the storage;
 * otherwise EngineOptions.podman, else storage.conf as podman resolves it (CONTAINERS_STORAGE_CONF
 * and the usual files).
 *
 * Reading exports the image with `podman push --compress ID dir:TMP` (see dir-export.ts) and reads
 * that copy, so manifest digests are podman's own (layers recompressed). Writing stages a `dir:`
 * layout in a temporary directory and runs `podman pull dir:TMP` and `podman tag` in commit
 * (destination.ts): the name appears only when the whole image is stored, and podman keeps the
 * manifest bytes, so the image keeps its manifest digest; a failed write is undone (leftovers.ts).
 */

import { type LocalImageQuery, parseLocalImageQuery } from '../../engine/local-image.js'
import { AirlockError } from '../../errors.js'
import type {
  EngineOptions,
  ImageDestination,
  ImageReference,
  ImageSource,
  Transport,
  TransportContext,
} from '../transport.js'
import { openPodmanDestination } from './destination.js'
import { openPodmanSource } from './source.js'

/** The `[driver@graphroot+runroot]` prefix of c/image's containers-storage references. */
export interface StoreSpec {
  driver?: string
  root?: string
  runroot?: string
}

export class ContainersStorageReference implements ImageReference {
  readonly transport: Transport = containersStorageTransport

  constructor(
    readonly within: string,
    readonly image: string,
    readonly query: LocalImageQuery,
    readonly store: StoreSpec = {},
  ) {}

  toString(): string {
    return `containers-storage:${this.within}`
  }

  /** The context's engine options with this reference's store prefix applied. */
  engineOptions(ctx: TransportContext = {}): EngineOptions {
    const base = ctx.engine ?? {}
    const { driver, root, runroot } = this.store
    if (!driver && !root && !runroot) return base
    return {
      ...base,
      podman: {
        ...base.podman,
        ...(root ? { root } : {}),
        ...(runroot ? { runroot } : {}),
        ...(driver ? { storageDriver: driver } : {}),
      },
    }
  }

  newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    return openPodmanSource(this, ctx)
  }

  newDestination(ctx: TransportContext = {}): Promise<ImageDestination> {
    return openPodmanDestination(this, ctx)
  }
}

function parseStoreSpec(within: string): { store: StoreSpec; rest: string } {
  if (!within.startsWith('[')) return { store: {}, rest: within }
  const close = within.indexOf(']')
  if (close < 0) {
    throw new AirlockError('INVALID_REFERENCE', `containers-storage:${within} has "[" without "]"`, {
      hint: 'the store prefix is [driver@graphroot+runroot], e.g. containers-storage:[vfs@/var/lib/containers/storage+/run/containers/storage]alpine',
    })
  }
  let spec = within.slice(1, close)
  const store: StoreSpec = {}
  const at = spec.indexOf('@')
  if (at >= 0) {
    store.driver = spec.slice(0, at) || undefined
    spec = spec.slice(at + 1)
  }
  if (spec.includes(':')) {
    throw new AirlockError(
      'UNSUPPORTED',
      `containers-storage:${within}: storage options in the store prefix are not supported`,
      {
        hint: 'set storage options in storage.conf (CONTAINERS_STORAGE_CONF)',
      },
    )
  }
  const plus = spec.indexOf('+')
  store.root = (plus < 0 ? spec : spec.slice(0, plus)) || undefined
  if (plus >= 0) store.runroot = spec.slice(plus + 1) || undefined
  for (const p of [store.root, store.runroot]) {
    if (p && !p.startsWith('/')) {
      throw new AirlockError(
        'INVALID_REFERENCE',
        `containers-storage:${within}: storage path "${p}" is not absolute`,
      )
    }
  }
  return { store, rest: within.slice(close + 1) }
}

export const containersStorageTransport: Transport = {
  name: 'containers-storage',
  parse(within: string): ImageReference {
    const { store, rest } = parseStoreSpec(within)
    if (!rest) {
      throw new AirlockError('INVALID_REFERENCE', `containers-storage:${within} names no image`, {
        hint: 'use containers-storage:NAME[:TAG], containers-storage:NAME@DIGEST or containers-storage:IMAGE-ID',
      })
    }
    return new ContainersStorageReference(within, rest, parseLocalImageQuery(rest), store)
  },
}
