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

/** The AirlockError the promise rejects with; fails the test if it resolves or rejects with something else. */
export async function rejectionOf(p: Promise<unknown>): Promise<AirlockError> {
  try {
    await p
  } catch (err) {
    if (err instanceof AirlockError) return err
    throw err
  }
  throw new Error('expected an AirlockError, the promise resolved')
}
