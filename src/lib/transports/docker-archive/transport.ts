/**
 * The `docker-archive:` transport (placeholder: being written; see issue 3).
 */
import { AirlockError } from '../../errors.js'
import type { ImageReference, Transport } from '../transport.js'

export const dockerArchiveTransport: Transport = {
  name: 'docker-archive',
  parse(_within: string): ImageReference {
    throw new AirlockError('UNSUPPORTED', 'transport "docker-archive:" is not available yet')
  },
}
