/**
 * The `docker-daemon:` transport (placeholder: being written; see issue 3).
 */
import { AirlockError } from '../../errors.js'
import type { ImageReference, Transport } from '../transport.js'

export const dockerDaemonTransport: Transport = {
  name: 'docker-daemon',
  parse(_within: string): ImageReference {
    throw new AirlockError('UNSUPPORTED', 'transport "docker-daemon:" is not available yet')
  },
}
