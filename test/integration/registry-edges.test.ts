/**
 * Real registry setups that differ from our fixtures: robot accounts limited to one project (a
 * cross-repository mount they may not make), anonymous clients of token registries, the flag a 401
 * hint names, and a signed schema 1 manifest (served through the fault proxy, as distribution 2.8 no
 * longer accepts schema 1 pushes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyImage } from '../../src/lib/copy/copy-image.js'
import { runCli } from '../helpers/cli.js'
import { rejectionOf } from '../helpers/errors.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startProxy } from '../helpers/proxy.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let harbor: TestRegistry
let image: GeneratedImage
const robotA = { username: 'robot$a', password: 'secret-a' }
const robotB = { username: 'robot$b', password: 'secret-b' }

beforeAll(async () => {
  // Two "projects", a and b, with one robot account each: a robot gets only its own project.
  harbor = await startRegistry({
    auth: 'token',
    users: { [robotA.username]: robotA.password, [robotB.username]: robotB.password },
    grant: (user, access) => {
      if (user === 'testuser') return access.actions
      const project = user === robotA.username ? 'a/' : 'b/'
      return access.name.startsWith(project) ? access.actions : []
    },
  })
  image = await makeImage({ layerSizes: [120_000, 30_000], seed: 1402 })
  await pushRaw(harbor, 'b/app', '1', image)
})

afterAll(async () => {
  await harbor?.stop()
})

describe('registry edge cases of real setups', () => {
  it('a cross-project mount the robot may not make falls back to an upload, quietly (as skopeo does)', async () => {
    const r = await copyImage(`docker://${harbor.host}/b/app:1`, `docker://${harbor.host}/a/app:1`, {
      source: { registry: { creds: robotB } },
      destination: { registry: { creds: robotA } },
    })
    expect(r.destinationDigest).toBe(image.manifest.digest)
    expect(r.blobs.copied).toBe(3)
    expect(r.blobs.mounted).toBe(0)
    const m = await fetchManifestRaw(harbor, 'a/app', '1')
    expect(m.digest).toBe(image.manifest.digest)
  })

  it('with a robot that may read the source project, the same copy mounts', async () => {
    const r = await copyImage(`docker://${harbor.host}/b/app:1`, `docker://${harbor.host}/b/copy:1`, {
      source: { registry: { creds: robotB } },
      destination: { registry: { creds: robotB } },
    })
    expect(r.blobs.mounted).toBe(3)
  })

  it('an anonymous 401 of a token registry asks for credentials, naming the flag of the command', async () => {
    const r = await runCli([
      'copy',
      '--json',
      `${harbor.host}/b/app:1`,
      `oci:/tmp/airlock-never-written-${process.pid}:1`,
    ])
    expect(r.code).toBe(1)
    const doc = JSON.parse(r.stdout)
    expect(doc.error.code).toBe('AUTH_FAILED')
    expect(doc.error.hint).toMatch(/--src-creds USER:PASSWORD/)
    expect(doc.error.hint).not.toMatch(/lack permission|--creds /)
  })

  it('a robot pushing outside its project is told it lacks permission, and the hint names --dest-creds', async () => {
    const err = await rejectionOf(
      copyImage(`docker://${harbor.host}/b/app:1`, `docker://${harbor.host}/c/app:1`, {
        source: { registry: { creds: robotB } },
        destination: { registry: { creds: robotA, credsFlag: '--dest-creds' } },
      }),
    )
    expect(err.code).toBe('DENIED')
    expect(err.hint).toMatch(/robot\$a.*lacks permission/)
  })

  it('a signed schema 1 manifest is refused as schema 1, not as changed in transit', async () => {
    const reg = await startRegistry()
    const schema1 = Buffer.from(
      JSON.stringify({
        schemaVersion: 1,
        name: 'lib/old',
        tag: '1',
        architecture: 'amd64',
        fsLayers: [{ blobSum: image.layers[0].digest }],
        history: [{ v1Compatibility: '{}' }],
        signatures: [{ header: { alg: 'ES256' }, signature: 'x', protected: 'y' }],
      }),
    )
    const proxy = await startProxy(reg.host, (req) =>
      req.url === '/v2/lib/old/manifests/1'
        ? {
            action: 'respond',
            status: 200,
            headers: {
              'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws',
              // Registries name the digest of the unsigned payload: never what the bytes hash to.
              'docker-content-digest': `sha256:${'0'.repeat(64)}`,
            },
            body: schema1.toString(),
          }
        : undefined,
    )
    try {
      const r = await runCli(['copy', '--json', `${proxy.host}/lib/old:1`, `${reg.host}/lib/new:1`])
      expect(r.code).toBe(1)
      const doc = JSON.parse(r.stdout)
      expect(doc.error.code).toBe('UNSUPPORTED')
      expect(doc.error.message).toMatch(/schema 1/)
      expect(doc.error.message).not.toMatch(/in transit/)
    } finally {
      await proxy.stop()
      await reg.stop()
    }
  })
})
