/** `certDir` per registry in a mirror spec reaches the registry options, as `--cert-dir` does. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registryOptionsFor } from '../../src/lib/mirror/registry-settings.js'
import { loadMirrorSpec } from '../../src/lib/mirror/spec.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'airlock-spec-certdir-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function specWith(registries: string) {
  const file = path.join(dir, `spec-${Math.random().toString(36).slice(2)}.yaml`)
  await writeFile(
    file,
    `defaults:\n  target: 127.0.0.1:5000\nregistries:\n${registries}\nimages:\n  - ghcr.io/x/y:1\n`,
  )
  return loadMirrorSpec(file)
}

describe('mirror spec certDir', () => {
  it('passes a registry certDir on as RegistryOptions.certDir, for that registry only', async () => {
    const spec = await specWith('  ghcr.io: { certDir: /etc/site-certs/ghcr }')
    expect(registryOptionsFor(spec, 'ghcr.io', {}).certDir).toBe('/etc/site-certs/ghcr')
    expect(registryOptionsFor(spec, '127.0.0.1:5000', {}).certDir).toBeUndefined()
  })

  it('refuses a relative certDir, naming it', async () => {
    await expect(specWith('  ghcr.io: { certDir: certs/ghcr }')).rejects.toThrow(
      /certDir must be an absolute path/,
    )
  })
})
