/**
 * The main job end to end on local defaults: start two registries on 127.0.0.1 (Debian's
 * docker-registry), generate a multi-arch image, copy it into the first registry and on to the
 * second with the airlock CLI, and show that the digests match byte for byte.
 *
 *   npm run demo            (after scripts/setup.sh)
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { makeIndex, writeOciLayout } from '../test/helpers/images.js'
import { startRegistry } from '../test/helpers/registry.js'

const bin = path.resolve(import.meta.dirname, '../bin/run.js')

function airlock(args: string[]): string {
  console.log(`\n$ airlock ${args.join(' ')}`)
  const out = execFileSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
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
} finally {
  await Promise.all([one.stop(), two.stop()])
  rmSync(work, { recursive: true, force: true })
}
