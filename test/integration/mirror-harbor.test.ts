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

async function writeSpec(name: string, text: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, text)
  return file
}

/** A fresh environment holding the Harbor admin's password, as the specs name it. */
const withPassword = () => isolatedEnv({ HARBOR_PASSWORD: 'Harbor12345' })

describe('airlock mirror into Harbor', () => {
  it('creates the project with its storage limit, then mirrors the image with its signature', async () => {
    const file = await writeSpec(
      'harbor.yaml',
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
    const env = withPassword()
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
    const file = await writeSpec(
      'no-create.yaml',
      `defaults:
  target: ${harbor.host}
  project: absent
  harbor: { url: ${harbor.url}, credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  - "${src.host}/lib/signed:1"
`,
    )
    const r = await runCli(['mirror', file], { env: withPassword() })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/absent/)
    expect(r.stderr).toMatch(/createProject/)
    expect(harbor.projects.has('absent')).toBe(false)
  })

  it('--dry-run before the project exists plans every tag without asking the target', async () => {
    const file = await writeSpec(
      'first-dry-run.yaml',
      `defaults:
  target: ${harbor.host}
  project: Not-Yet
  harbor:
    url: ${harbor.url}
    createProject: true
    credentials: { username: admin, passwordEnv: HARBOR_PASSWORD }
registries:
  ${harbor.host}: { credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  - source: ${src.host}/lib/signed
    tags: ["1", unrelated]
`,
    )
    const before = harbor.requests.length
    const env = withPassword()
    const r = await runCli(['mirror', file, '--dry-run', '--json'], { env, timeoutMs: 60_000 })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const report = json<MirrorReport>(r)
    expect(report.images.map((i) => [i.target, i.action, i.reason])).toEqual([
      [
        `docker://${harbor.host}/not-yet/signed:1`,
        'planned',
        'not at the target: the project will be created',
      ],
      [
        `docker://${harbor.host}/not-yet/signed:unrelated`,
        'planned',
        'not at the target: the project will be created',
      ],
    ])
    expect(report.images[0].sourceDigest).toBe(signed.manifest.digest)
    // Harbor was asked whether the project exists, and nothing else; nothing was made.
    const asked = harbor.requests.slice(before)
    expect(asked.filter((q) => q.url.startsWith('/v2/'))).toEqual([])
    expect(asked.every((q) => q.method === 'HEAD' || q.method === 'GET')).toBe(true)
    expect(harbor.projects.has('not-yet')).toBe(false)
    // The same in words, as the guide shows it.
    const text = await runCli(['mirror', file, '--dry-run'], { env, timeoutMs: 60_000 })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(
      `planned docker://${src.host}/lib/signed:1 -> docker://${harbor.host}/not-yet/signed:1: not at the target: the project will be created`,
    )
    expect(text.stdout).toMatch(/^plan: 2 images, 2 to copy, 0 up to date, 0 failed in /m)
  })

  it("reads Harbor's credentials from defaults.harbor.credentials.authfile", async () => {
    const authfile = join(dir, 'harbor-auth.json')
    const auth = Buffer.from('admin:Harbor12345').toString('base64')
    await writeFile(authfile, JSON.stringify({ auths: { [harbor.host]: { auth } } }))
    const file = await writeSpec(
      'harbor-authfile.yaml',
      `defaults:
  target: ${harbor.host}
  project: library
  harbor: { url: ${harbor.url}, credentials: { authfile: ${authfile} } }
registries:
  ${harbor.host}: { credentials: { authfile: ${authfile} } }
images:
  - "${src.host}/lib/signed:1"
`,
    )
    const before = harbor.requests.length
    const r = await runCli(['mirror', file, '--dry-run', '--json'], { env: isolatedEnv(), timeoutMs: 60_000 })
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(json<MirrorReport>(r).images.map((i) => i.action)).toEqual(['planned'])
    const api = harbor.requests.slice(before).filter((q) => q.url.startsWith('/api/v2.0/projects'))
    expect(api.length).toBeGreaterThan(0)
    expect(api.every((q) => q.user === 'admin' && q.status === 200)).toBe(true)
  })

  it('refuses to start when the Harbor password variable is not set (exit 2), before sending anything', async () => {
    const file = await writeSpec(
      'no-secret.yaml',
      `defaults:
  target: ${harbor.host}
  project: chem-lab
  harbor: { url: ${harbor.url}, credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  - "${src.host}/lib/signed:1"
`,
    )
    const before = harbor.requests.length
    for (const args of [
      ['mirror', file],
      ['mirror', file, '--dry-run'],
    ]) {
      const r = await runCli(args, { env: isolatedEnv() })
      expect(r.code, r.stderr).toBe(2)
      expect(r.stderr).toContain(
        'defaults.harbor.credentials.passwordEnv names HARBOR_PASSWORD, which is not set',
      )
      expect(r.stderr).not.toMatch(/refused user/)
    }
    expect(harbor.requests.length).toBe(before)
  })

  it('refuses to start when a registry password variable is not set (exit 2), before copying anything', async () => {
    const file = await writeSpec(
      'no-registry-secret.yaml',
      `defaults:
  target: ${harbor.host}
  project: library
registries:
  ${src.host}: { credentials: { username: puller, passwordEnv: SOURCE_TOKEN } }
  ${harbor.host}: { credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  - "${src.host}/lib/signed:1"
`,
    )
    const before = harbor.requests.length
    const r = await runCli(['mirror', file], {
      env: withPassword(),
    })
    expect(r.code, r.stdout + r.stderr).toBe(2)
    expect(r.stderr).toContain(
      `${file}: registries.${src.host}.credentials.passwordEnv names SOURCE_TOKEN, which is not set`,
    )
    expect(harbor.requests.length).toBe(before)
    expect((await fetchManifestRaw(harbor.registry, 'library/signed', '1')).status).toBe(404)
  })

  it('reports an exact tag the source lacks as missing, the same whether or not the source was listed', async () => {
    const file = await writeSpec(
      'missing.yaml',
      `defaults:
  target: ${harbor.host}
  project: library
registries:
  ${harbor.host}: { credentials: { username: admin, passwordEnv: HARBOR_PASSWORD } }
images:
  # Exact tags only: not listed, each tag asked for by itself.
  - source: ${src.host}/lib/plain
    tags: ["1", "9.9"]
  # With a regex the source is listed, and the plan finds the exact tag missing.
  - source: ${src.host}/lib/signed
    include: ['^unrelated$']
    tags: ["9.8"]
`,
    )
    await pushRaw(src, 'lib/plain', '1', await makeImage({ layerSizes: [300], seed: 605 }))
    const r = await runCli(['mirror', file, '--json'], {
      env: withPassword(),
      timeoutMs: 60_000,
    })
    expect(r.code, r.stderr).toBe(3)
    const report = json<MirrorReport>(r)
    const unlisted = report.images.find((i) => i.source.endsWith(':9.9'))
    expect(unlisted).toMatchObject({
      action: 'failed',
      attempts: 1,
      error: { code: 'NOT_FOUND', message: `tag 9.9 is missing from ${src.host}/lib/plain` },
    })
    expect(report.errors).toEqual([
      {
        source: `${src.host}/lib/signed`,
        code: 'NOT_FOUND',
        message: `tag 9.8 is missing from ${src.host}/lib/signed`,
      },
    ])
    // The others were mirrored.
    expect(
      report.images
        .filter((i) => i.action === 'copied')
        .map((i) => i.target)
        .sort(),
    ).toEqual([`docker://${harbor.host}/library/plain:1`, `docker://${harbor.host}/library/signed:unrelated`])
  })
})
