/**
 * The `oci-archive:` transport (placeholder: being written; see issue 3).
 */
import { AirlockError } from '../../errors.js'
import type { ImageReference, Transport } from '../transport.js'

export const ociArchiveTransport: Transport = {
  name: 'oci-archive',
  parse(_within: string): ImageReference {
    throw new AirlockError('UNSUPPORTED', 'transport "oci-archive:" is not available yet')
  },
}
