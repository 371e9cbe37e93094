/**
 * The podman/docker user's flow (ERISXdl guide) through the airlock CLI, against real parts: podman
 * 4.3 on vfs in temporary roots, the Docker Engine API of `podman system service`, and two real
 * registries on 127.0.0.1 (the second stands in for Harbor's registry: `<host>/<project>/name:tag`).
 * The CLI runs dist/ (`npm run build` first).
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { diffIdsOf, fetchManifestRaw, type GeneratedImage, makeIndex, pushRaw } from '../helpers/images.js'
import { makePodman, type Podman, type PodmanService, startPodmanService } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let hub: TestRegistry
let harbor: TestRegistry
let podman: Podman
let svc: PodmanService
let amd64: GeneratedImage

/** The CLI with podman's storage from CONTAINERS_STORAGE_CONF, as a user with storage.conf has it. */
function airlock(args: string[], extra: NodeJS.ProcessEnv = {}) {
  return runCli(args, {
    env: isolatedEnv({ ...podman.env, TMPDIR: podman.dir, ...extra }),
    timeoutMs: 120_000,
  })
}

beforeAll(async () => {
  ;[hub, harbor, podman] = await Promise.all([startRegistry(), startRegistry(), makePodman()])
  svc = await startPodmanService(podman)
  const index = await makeIndex({
    layerSizes: [60_000, 20_000],
    seed: 401,
    format: 'docker',
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
  })
  amd64 = index.images[0]
  await pushRaw(hub, 'library/alpine', 'latest', index)
}, 60_000)

afterAll(async () => {
  await svc?.stop()
  await Promise.all([hub?.stop(), harbor?.stop(), podman?.cleanup()])
})

describe('pull, tag by image ID, push into a Harbor project (podman)', () => {
  it('follows the ERISXdl flow end to end and the image comes back identical', async () => {
    const pulled = await airlock(['pull', '--json', `${hub.host}/library/alpine`])
    expect(pulled.code, pulled.stderr).toBe(0)
    const p = json<{ engine: string; id: string; reference: string }>(pulled)
    expect(p.engine).toBe('podman')
    // This machine's platform out of the 2-platform index; image ID = config digest.
    expect(p.id).toBe(amd64.config.digest)
    expect(p.reference).toBe(`${hub.host}/library/alpine:latest`)

    const shortId = p.id.slice(7, 19)
    const target = `${harbor.host}/mygroup/alpine:demo-copy`
    const tagged = await airlock(['tag', shortId, target])
    expect(tagged.code, tagged.stderr).toBe(0)
    expect(tagged.stdout).toContain(`${target} -> ${p.id} (podman)`)
    expect((await podman.inspect(target))?.Id).toBe(p.id.slice(7))

    const pushed = await airlock(['push', '--json', target])
    expect(pushed.code, pushed.stderr).toBe(0)
    const r = json<{
      destination: string
      digest: string
      digestsPreserved: boolean
      image: { repoDigests: string[] }
      notices: { code: string; message: string }[]
    }>(pushed)
    expect(r.destination).toBe(target)
    expect((await fetchManifestRaw(harbor, 'mygroup/alpine', 'demo-copy')).digest).toBe(r.digest)
    // podman recompressed the layers: said in --json and on stderr in text mode.
    expect(r.digestsPreserved).toBe(false)
    expect(r.notices.map((n) => n.code)).toContain('DIGESTS_CHANGED')
    // After `airlock pull`, podman lists the registry's digest, as after `podman pull`; the notice
    // names it as what podman lists, next to the new digest the push made.
    const listed = r.image.repoDigests.map((d) => d.slice(d.indexOf('@') + 1))
    expect([...new Set(listed)]).toEqual([amd64.manifest.digest])
    expect(r.digest).not.toBe(amd64.manifest.digest)
    const notice = r.notices.find((n) => n.code === 'DIGESTS_CHANGED')!.message
    expect(notice).toContain(`podman lists it as ${listed[0]}`)
    expect(notice).not.toMatch(/pulled as/)

    await podman.run(['rmi', '-f', p.id.slice(7)])
    await podman.run(['pull', '-q', '--tls-verify=false', target])
    const back = await podman.inspect(target)
    expect(back?.Id).toBe(p.id.slice(7))
    expect(back?.RootFS.Layers).toEqual(diffIdsOf(amd64))
  })

  it('puts bare names into <harbor>/<project>/ with the group lowercased, from flags or the config file', async () => {
    await podman.run(['tag', `${harbor.host}/mygroup/alpine:demo-copy`, 'localhost/alpine:demo-copy'])
    const r = await airlock([
      'push',
      'localhost/alpine:demo-copy',
      '--harbor',
      harbor.host,
      '--project',
      'MyGroup',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/using "mygroup" for "MyGroup"/)
    expect(r.stdout).toContain(`to ${harbor.host}/mygroup/alpine:demo-copy`)
    expect((await fetchManifestRaw(harbor, 'mygroup/alpine', 'demo-copy')).status).toBe(200)

    const cfg = join(podman.dir, 'airlock.yaml')
    await writeFile(cfg, `harbor:\n  host: ${harbor.host}\n  project: lab-2\n`)
    const viaConfig = await airlock(['push', '--json', 'localhost/alpine:demo-copy', 'tools:1'], {
      AIRLOCK_CONFIG: cfg,
    })
    if (viaConfig.code !== 0) console.error('VIACONFIG', viaConfig.stderr, viaConfig.stdout)
    expect(viaConfig.code, viaConfig.stderr).toBe(0)
    expect(json<{ destination: string }>(viaConfig).destination).toBe(`${harbor.host}/lab-2/tools:1`)
    expect((await fetchManifestRaw(harbor, 'lab-2/tools', '1')).status).toBe(200)
  })

  it('pushes a name already in the configured Harbor as it is, with no notice about the project', async () => {
    const cfg = join(podman.dir, 'airlock-capitals.yaml')
    await writeFile(cfg, `harbor:\n  host: ${harbor.host}\n  project: MyGroup\n`)
    const name = `${harbor.host}/mygroup/alpine:demo-copy`
    type Pushed = { destination: string; notices: { code: string }[] }
    const same = await airlock(['push', '--json', name], { AIRLOCK_CONFIG: cfg })
    expect(same.code, same.stderr).toBe(0)
    expect(json<Pushed>(same).destination).toBe(name)
    expect(json<Pushed>(same).notices.map((n) => n.code)).not.toContain('PROJECT_LOWERCASED')
    // Another project of the same Harbor (a deeper path too): pushed where the name says.
    const other = `${harbor.host}/other-lab/tools/alpine:2`
    await podman.run(['tag', name, other])
    const elsewhere = await airlock(['push', '--json', other], { AIRLOCK_CONFIG: cfg })
    expect(elsewhere.code, elsewhere.stderr).toBe(0)
    expect(json<Pushed>(elsewhere).destination).toBe(other)
    expect(json<Pushed>(elsewhere).notices.map((n) => n.code)).not.toContain('PROJECT_LOWERCASED')
    expect((await fetchManifestRaw(harbor, 'other-lab/tools/alpine', '2')).status).toBe(200)
    // An explicit full destination, in text mode: no word about lowercasing either.
    const explicit = await airlock(
      ['push', 'localhost/alpine:demo-copy', `${harbor.host}/mygroup/alpine:explicit`],
      {
        AIRLOCK_CONFIG: cfg,
      },
    )
    expect(explicit.code, explicit.stderr).toBe(0)
    expect(explicit.stderr).not.toMatch(/lowercase/)
    // A name outside that Harbor still goes into the project, lowercased with the notice.
    const mapped = await airlock(['push', '--json', 'localhost/alpine:demo-copy'], { AIRLOCK_CONFIG: cfg })
    expect(json<Pushed>(mapped).destination).toBe(`${harbor.host}/mygroup/alpine:demo-copy`)
    expect(json<Pushed>(mapped).notices.map((n) => n.code)).toContain('PROJECT_LOWERCASED')
  })

  it('refuses an illegal project name before anything is pushed (exit 2, the rule named)', async () => {
    const r = await airlock([
      'push',
      'localhost/alpine:demo-copy',
      '--harbor',
      harbor.host,
      '--project',
      'my group!',
    ])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('"my group!" is not a valid Harbor project name')
    expect(r.stderr).toContain('^[a-z0-9]+(?:[._-][a-z0-9]+)*$')
    const catalog = await fetch(`${harbor.url}/v2/_catalog`).then(
      (x) => x.json() as Promise<{ repositories: string[] }>,
    )
    expect(catalog.repositories.filter((x) => x.includes('group'))).toEqual(['mygroup/alpine'])
  })

  it('still retags inside a registry for docker:// sources', async () => {
    const r = await airlock(['tag', '--json', `docker://${harbor.host}/mygroup/alpine:demo-copy`, 'stable'])
    expect(r.code, r.stderr).toBe(0)
    expect(json<{ where: string }>(r).where).toBe('registry')
    const a = await fetchManifestRaw(harbor, 'mygroup/alpine', 'demo-copy')
    expect((await fetchManifestRaw(harbor, 'mygroup/alpine', 'stable')).digest).toBe(a.digest)
  })
})

describe('save and load', () => {
  it('saves a podman image to a docker-archive that loads back with the same image ID and layers', async () => {
    // A ":" in the path must not be taken for the start of an image name.
    const file = join(podman.dir, 'alpine:saved.tar')
    expect((await airlock(['pull', '-q', `${hub.host}/library/alpine:latest`])).code).toBe(0)
    const saved = await airlock(['save', `${hub.host}/library/alpine:latest`, '-o', file, '--json'])
    expect(saved.code, saved.stderr).toBe(0)
    expect(json<{ name: string }>(saved).name).toBe(`${hub.host}/library/alpine:latest`)
    await podman.run(['rmi', '-f', amd64.config.digest.slice(7)])
    const loaded = await airlock(['load', file, '--json'])
    expect(loaded.code, loaded.stderr).toBe(0)
    const l = json<{ images: { names: string[]; id: string }[] }>(loaded)
    expect(l.images).toHaveLength(1)
    expect(l.images[0].names).toEqual([`${hub.host}/library/alpine:latest`])
    expect(l.images[0].id).toBe(amd64.config.digest)
    expect((await podman.inspect(`${hub.host}/library/alpine:latest`))?.RootFS.Layers).toEqual(
      diffIdsOf(amd64),
    )
  })

  it('saves straight from a registry (no engine) and refuses a missing output flag', async () => {
    const file = join(podman.dir, 'arm.tar')
    const r = await airlock([
      'save',
      `docker://${hub.host}/library/alpine`,
      '-o',
      file,
      '--platform',
      'linux/arm64',
    ])
    expect(r.code, r.stderr).toBe(0)
    const podmanLoad = await podman.run(['load', '-q', '-i', file])
    expect(podmanLoad.stdout).toContain(`${hub.host}/library/alpine:latest`)
    const missing = await airlock(['load', join(podman.dir, 'missing.tar')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('missing.tar does not exist')
    const noOut = await airlock(['save', 'alpine'])
    expect(noOut.code).toBe(2)
    expect(noOut.stderr).toMatch(/output/)
  })
})

describe('the same through the Docker Engine API', () => {
  it('pulls, tags by short ID and pushes with --engine docker', async () => {
    const env = { DOCKER_HOST: svc.dockerHost }
    const pulled = await airlock(
      ['pull', '--engine', 'docker', '--json', `${hub.host}/library/alpine:latest`],
      env,
    )
    expect(pulled.code, pulled.stderr).toBe(0)
    const id = json<{ id: string }>(pulled).id
    expect(id).toBe(amd64.config.digest)
    const target = `${harbor.host}/dockergroup/alpine:via-api`
    const tagged = await airlock(['tag', '--engine', 'docker', id.slice(7, 19), target], env)
    expect(tagged.code, tagged.stderr).toBe(0)
    const pushed = await airlock(['push', '--engine', 'docker', '--json', target], env)
    expect(pushed.code, pushed.stderr).toBe(0)
    const m = await fetchManifestRaw(harbor, 'dockergroup/alpine', 'via-api')
    expect(m.status).toBe(200)
    const config = JSON.parse(m.bytes.toString('utf8')).config.digest
    expect(config).toBe(amd64.config.digest)
  })
})
