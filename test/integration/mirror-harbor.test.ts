/**
 * `airlock mirror` into a Harbor project and with signatures. Harbor cannot run here: the target is
 * the Harbor stand-in of test/helpers/harbor.ts (built from the API description, backed by a real
 * docker-registry). Sources are a real registry on 127.0.0.1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MirrorReport } from '../../src/lib/mirror/types.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { type HarborStandIn, startHarborStandIn } from '../helpers/harbor.js'
import { fetchManifestRaw, type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let src: TestRegistry
let harbor: HarborStandIn
let dir: string
let signed: GeneratedImage
let sigTag: string

beforeAll(async () => {
  ;[src, harbor] = await Promise.all([
    startRegistry(),
    startHarborStandIn({ users: { admin: 'Harbor12345' } }),
  ])
  dir = await mkdtemp(join(tmpdir(), 'airlock-mirror-harbor-'))
  signed = await makeImage({ layerSizes: [4000], seed: 601 })
  await pushRaw(src, 'lib/signed', '1', signed)
  // A cosign-style signature: an image manifest under the tag sha256-<hex of the signed digest>.sig.
  sigTag = `${signed.manifest.digest.replace(':', '-')}.sig`
  await pushRaw(src, 'lib/signed', sigTag, await makeImage({ layerSizes: [300], seed: 602 }))
  await pushRaw(src, 'lib/signed', 'unrelated', await makeImage({ layerSizes: [300], seed: 603 }))
  // The referrers tag schema (distribution-spec 1.1 fallback): sha256-<hex> with no suffix.
  await pushRaw(
    src,
    'lib/signed',
    sigTag.replace(/\.sig$/, ''),
    await makeImage({ layerSizes: [200], seed: 604 }),
  )
}, 60_000)

afterAll(async () => {
  await Promise.all([src?.stop(), harbor?.stop()])
  await rm(dir, { recursive: true, force: true })
})

describe('airlock mirror into Harbor', () => {
  it('creates the project with its storage limit, then mirrors the image with its signature', async () => {
    const file = join(dir, 'harbor.yaml')
    await writeFile(
      file,
      `defaults:
  target: ${harbor.host}
  project: Chem-Lab
  harbor:
    url: ${harbor.url}
    createProject: true
    storageLimit: 10MiB
    credentials: { username: admin, passwordEnv: HARBOR_PASSWORD }
  referrers: true
registries:
  ${harbor.host}: { credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  - source: ${src.host}/lib/signed
    tags: ["1"]
`,
    )
    const env = isolatedEnv({ HARBOR_PASSWORD: 'Harbor12345' })
    const r = await runCli(['mirror', file, '--json'], { env, timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(0)
    const report = json<MirrorReport>(r)
    expect(report.images).toHaveLength(1)
    expect(report.images[0].target).toBe(`docker://${harbor.host}/chem-lab/signed:1`)
    expect(report.images[0].referrers?.sort()).toEqual(
      [
        `${harbor.host}/chem-lab/signed:${sigTag}`,
        `${harbor.host}/chem-lab/signed:${sigTag.replace(/\.sig$/, '')}`,
      ].sort(),
    )
    const project = harbor.projects.get('chem-lab')
    expect(project?.storageLimit).toBe(10 * 1024 * 1024)
    const backing = harbor.registry
    expect((await fetchManifestRaw(backing, 'chem-lab/signed', '1')).digest).toBe(signed.manifest.digest)
    expect((await fetchManifestRaw(backing, 'chem-lab/signed', sigTag)).status).toBe(200)
    expect((await fetchManifestRaw(backing, 'chem-lab/signed', 'unrelated')).status).toBe(404)
    // The secret never shows, even in the JSON report.
    expect(r.stdout + r.stderr).not.toContain('Harbor12345')
  })

  it('refuses to run without the project when the spec does not allow creating it', async () => {
    const file = join(dir, 'no-create.yaml')
    await writeFile(
      file,
      `defaults:
  target: ${harbor.host}
  project: absent
  harbor: { url: ${harbor.url}, credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  - "${src.host}/lib/signed:1"
`,
    )
    const r = await runCli(['mirror', file], { env: isolatedEnv({ HARBOR_PASSWORD: 'Harbor12345' }) })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/absent/)
    expect(r.stderr).toMatch(/createProject/)
    expect(harbor.projects.has('absent')).toBe(false)
  })
})
