/**
 * The transport registry: `name:rest` references, as skopeo users write them. A reference without
 * a known transport prefix is a registry reference (`docker://`).
 */
import { AirlockError } from '../errors.js'
import { containersStorageTransport } from './containers-storage/transport.js'
import { dockerArchiveTransport } from './docker-archive/transport.js'
import { dockerDaemonTransport } from './docker-daemon/transport.js'
import { ociArchiveTransport } from './oci-archive/transport.js'
import { ociTransport } from './oci-layout/transport.js'
import { dockerTransport } from './registry/transport.js'
import type { ImageReference, Transport } from './transport.js'

const transports = new Map<string, Transport>([
  [dockerTransport.name, dockerTransport],
  [ociTransport.name, ociTransport],
  [dockerArchiveTransport.name, dockerArchiveTransport],
  [ociArchiveTransport.name, ociArchiveTransport],
  [containersStorageTransport.name, containersStorageTransport],
  [dockerDaemonTransport.name, dockerDaemonTransport],
])

/** Transports users know from skopeo that this version of airlock cannot read or write yet. */
const NOT_YET = ['dir', 'sif']

export function transportNames(): string[] {
  return [...transports.keys()]
}

export function parseImageReference(text: string): ImageReference {
  const m = /^([a-z][a-z0-9-]*):(.*)$/s.exec(text)
  if (m) {
    const t = transports.get(m[1])
    if (t) return t.parse(m[2])
    if (NOT_YET.includes(m[1])) {
      throw new AirlockError(
        'UNSUPPORTED',
        `transport "${m[1]}:" is not available in this version of airlock`,
        {
          hint: `available transports: ${transportNames()
            .map((n) => `${n}:`)
            .join(', ')}`,
        },
      )
    }
  }
  return dockerTransport.parse(`//${text}`)
}
