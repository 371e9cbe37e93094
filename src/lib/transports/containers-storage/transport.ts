/**
 * The `containers-storage:` transport (placeholder: being written; see issue 3).
 */
import { AirlockError } from '../../errors.js'
import type { ImageReference, Transport } from '../transport.js'

export const containersStorageTransport: Transport = {
  name: 'containers-storage',
  parse(_within: string): ImageReference {
    throw new AirlockError('UNSUPPORTED', 'transport "containers-storage:" is not available yet')
  },
}
