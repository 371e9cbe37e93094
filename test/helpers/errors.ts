import { AirlockError } from '../../src/lib/errors.js'

/** The AirlockError `fn` throws; fails the test if it throws nothing or something else. */
export function errorOf(fn: () => unknown): AirlockError {
  try {
    fn()
  } catch (err) {
    if (err instanceof AirlockError) return err
    throw err
  }
  throw new Error('expected an AirlockError, nothing was thrown')
}
