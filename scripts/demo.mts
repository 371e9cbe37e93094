/**
 * The main job end to end on local defaults: start two registries on 127.0.0.1 (Debian's
 * docker-registry), generate a multi-arch image, copy it into the first registry and on to the
 * second with the airlock CLI, and show that the digests match byte for byte. Then the podman
 * user's flow: pull into podman (vfs storage in a temporary root), tag by short image ID into a
 * Harbor-style `<registry>/<group>/name:tag`, push, save a docker-archive and load it back; then turn
 * the archive into a SIF file with the built-in converter.
 *
 *   npm run demo            (after scripts/setup.sh)
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { makeIndex, writeOciLayout } from '../test/helpers/images.js'
import { makePodman } from '../test/helpers/podman.js'
import { startRegistry } from '../test/helpers/registry.js'

const bin = path.resolve(import.meta.dirname, '../bin/run.js')

function airlock(args: string[], env?: NodeJS.ProcessEnv): string {
  console.log(`\n$ airlock ${args.join(' ')}`)
  const out = execFileSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  })
  if (!args.includes('--raw')) process.stdout.write(out)
  return out
}

const work = mkdtempSync(path.join(tmpdir(), 'airlock-demo-'))
const [one, two] = await Promise.all([startRegistry(), startRegistry()])
try {
  console.log(`registry one: ${one.host}   registry two: ${two.host}`)
  const image = await makeIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ],
    layerSizes: [4_000_000, 1_000_000, 100_000],
    seed: Date.now() % 100000,
  })
  await writeOciLayout(path.join(work, 'layout'), [{ tag: 'demo', index: image }])
  console.log(`generated a 2-platform image in ${path.join(work, 'layout')} (digest ${image.index.digest})`)

  airlock(['copy', `oci:${path.join(work, 'layout')}:demo`, `docker://${one.host}/demo/app:1.0`])
  airlock(['copy', `docker://${one.host}/demo/app:1.0`, `docker://${two.host}/mirror/app:1.0`])
  airlock(['copy', `docker://${one.host}/demo/app:1.0`, `docker://${two.host}/mirror/app:1.0`])
  airlock(['inspect', `docker://${two.host}/mirror/app:1.0`, '--no-config'])

  const digest = (ref: string) =>
    `sha256:${createHash('sha256')
      .update(execFileSync(process.execPath, [bin, 'inspect', '--raw', ref]))
      .digest('hex')}`
  const a = digest(`docker://${one.host}/demo/app:1.0`)
  const b = digest(`docker://${two.host}/mirror/app:1.0`)
  console.log(`\nsha256 of the manifest bytes (airlock inspect --raw | sha256sum):`)
  console.log(`  generated          ${image.index.digest}`)
  console.log(`  registry one       ${a}`)
  console.log(`  registry two       ${b}`)
  if (a !== image.index.digest || b !== image.index.digest) {
    console.error('DIGESTS DIFFER')
    process.exitCode = 1
  } else console.log('digests match: the copy kept the image byte for byte')

  // The air gap: one bundle file out of registry one, checked, pushed into a project of registry two.
  const bundle = path.join(work, 'images.tar')
  airlock(['bundle', 'create', '-o', bundle, `docker://${one.host}/demo/app:1.0`])
  airlock(['bundle', 'verify', bundle])
  airlock(['bundle', 'push', bundle, '--to', `${two.host}/offline`])
  const c = digest(`docker://${two.host}/offline/app:1.0`)
  console.log(`  after the bundle   ${c}`)
  if (c !== image.index.digest) {
    console.error('DIGESTS DIFFER')
    process.exitCode = 1
  }

  // The podman user's flow (ERISXdl guide), with podman's storage in a temporary root.
  const podman = await makePodman()
  try {
    console.log(
      `\npodman storage for the demo: ${podman.root} (vfs; CONTAINERS_STORAGE_CONF=${podman.storageConf})`,
    )
    const env = { ...podman.env, TMPDIR: podman.dir }
    airlock(['pull', `${one.host}/demo/app:1.0`], env)
    const pulledId = `sha256:${(await podman.images())[0].Id}`
    const shortId = pulledId.slice(7, 19)
    airlock(['tag', shortId, `${two.host}/mygroup/app:demo-copy`], env)
    airlock(['push', `${two.host}/mygroup/app:demo-copy`], env)
    airlock(['push', shortId, 'app:v2', '--harbor', two.host, '--project', 'MyGroup'], env)
    airlock(['save', `${two.host}/mygroup/app:demo-copy`, '-o', path.join(work, 'app.tar')], env)
    await podman.run(['rmi', '-f', shortId])
    airlock(['load', path.join(work, 'app.tar')], env)
    const images = await podman.images()
    const back = images.find((i) => (i.Names ?? []).includes(`${two.host}/mygroup/app:demo-copy`))
    console.log(`\nimage ID after pull:          ${pulledId}`)
    console.log(`image ID after save + load:   sha256:${back?.Id}`)
    if (`sha256:${back?.Id}` !== pulledId) {
      console.error('IMAGE IDS DIFFER')
      process.exitCode = 1
    } else console.log('image IDs match: config and layers survived pull, push, save and load')

    // The batch-system step: the docker-archive into a SIF, without root and without apptainer.
    const sif = path.join(work, 'app.sif')
    airlock(['sif', 'build', path.join(work, 'app.tar'), '-o', sif, '--builder', 'builtin'], env)
    airlock(['sif', 'inspect', sif], env)
  } finally {
    await podman.cleanup()
  }
} finally {
  await Promise.all([one.stop(), two.stop()])
  rmSync(work, { recursive: true, force: true })
}
