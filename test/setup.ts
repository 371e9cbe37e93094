/**
 * Runs in every test file (vitest.config.ts setupFiles): removes what shared helpers leave for the
 * whole file, so no temporary directory outlives its test file.
 */
import { afterAll } from 'vitest'
import { removeIsolatedHomes } from './helpers/cli.js'

afterAll(() => {
  removeIsolatedHomes()
})
