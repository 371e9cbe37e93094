/**
 * An image in a bundle as the copy engine sees it: named `oci-archive:BUNDLE:REF`, as skopeo would
 * name it, reading from an open bundle or writing through the bundle writer.
 */
import { AirlockError } from '../errors.js'
import { ociArchiveTransport } from '../transports/oci-archive/transport.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  Transport,
  TransportContext,
} from '../transports/transport.js'

export class BundleReference implements ImageReference {
  readonly transport: Transport = ociArchiveTransport

  constructor(
    readonly base: string,
    readonly name: string,
    private readonly open: {
      source?: (ref: BundleReference, ctx: TransportContext) => ImageSource
      destination?: () => ImageDestination
    },
  ) {}

  get within(): string {
    return `${this.base}:${this.name}`
  }

  toString(): string {
    return `oci-archive:${this.within}`
  }

  async newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    if (!this.open.source) throw new AirlockError('UNSUPPORTED', `${this}: open the bundle to read it`)
    return this.open.source(this, ctx)
  }

  async newDestination(): Promise<ImageDestination> {
    if (!this.open.destination) {
      throw new AirlockError(
        'UNSUPPORTED',
        `${this}: images are added to a bundle with airlock bundle create`,
      )
    }
    return this.open.destination()
  }
}
