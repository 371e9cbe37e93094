/**
 * The quota preflight through the CLI, against real parts: podman 4.3 on vfs in temporary roots, a
 * real registry for pulls, and the Harbor stand-in (test/helpers/harbor.ts: Harbor cannot run here)
 * with project storage limits over its own real registry. A refused pull leaves podman's storage as it
 * was; a refused push sends no blob; Harbor's refusal half way is explained with the numbers.
 * What vfs really needs (every layer a full copy of the layers under it) is measured on a small tmpfs
 * (the tests run as root) holding a podman graphroot.
 * The CLI runs dist/ (`npm run build` first).
 */
import { chmod, mkdir, stat, statfs, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { measureUsage } from '../../src/lib/quota/usage.js'
import { isolatedEnv, json, runCli } from '../helpers/cli.js'
import { type HarborStandIn, startHarborStandIn } from '../helpers/harbor.js'
import { type GeneratedImage, makeImage, pushRaw } from '../helpers/images.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

const MiB = 1024 * 1024
const ADMIN = 'admin:Harbor12345'

let hub: TestRegistry
let harbor: HarborStandIn
let podman: Podman
let limited: string

interface ErrorJson {
  error: { code: string; message: string; hint?: string }
}

function airlock(args: string[]) {
  return runCli(args, { env: isolatedEnv({ ...podman.env, TMPDIR: podman.dir }), timeoutMs: 120_000 })
}

async function storageState(): Promise<{ images: string[]; bytes: number | undefined }> {
  const images = (await podman.images()).map((i) => i.Id).sort()
  return { images, bytes: (await measureUsage(podman.root)).bytes }
}

/** Requests that upload blob bytes or manifests (POST/PATCH/PUT under /v2/), since `from`. */
function writes(from: number) {
  return harbor.requests
    .slice(from)
    .filter((r) => r.url.startsWith('/v2/') && r.method !== 'GET' && r.method !== 'HEAD')
}

beforeAll(async () => {
  ;[hub, podman] = await Promise.all([startRegistry(), makePodman()])
  harbor = await startHarborStandIn({
    users: { admin: 'Harbor12345' },
    projects: [
      { name: 'tiny', storageLimit: 50_000 },
      { name: 'roomy', storageLimit: 100 * MiB },
    ],
  })
  // Random bytes do not compress: the gzip'd layers are as big as their contents.
  await pushRaw(hub, 'tools/small', '1', await makeImage({ layerSizes: [40_000], seed: 801 }))
  await pushRaw(hub, 'tools/big', '1', await makeImage({ layerSizes: [1_500_000, 1_500_000], seed: 802 }))
  // Plain tar layers: their unpacked size is known exactly (no estimate).
  const plain = await makeImage({
    layerSizes: [1_500_000, 1_500_000],
    seed: 803,
    compress: false,
    format: 'docker',
  })
  await pushRaw(hub, 'tools/plain', '1', plain)
  limited = join(podman.dir, 'airlock-limited.yaml')
  await writeFile(limited, 'quota:\n  limit: 2M\n')
  const small = await airlock(['pull', '--json', `${hub.host}/tools/small:1`])
  expect(small.code, small.stderr).toBe(0)
}, 120_000)

afterAll(async () => {
  await harbor?.stop()
  await Promise.all([hub?.stop(), podman?.cleanup()])
})

describe('pull: podman storage against the limit', () => {
  it('refuses a pull bigger than the room left, with the numbers, and leaves storage untouched', async () => {
    const before = await storageState()
    const r = await airlock(['pull', '--json', '--config', limited, `${hub.host}/tools/big:1`])
    expect(r.code, r.stderr).toBe(4)
    const e = json<ErrorJson>(r).error
    expect(e.code).toBe('QUOTA_EXCEEDED')
    // ~2.9 MiB of gzip'd layers, estimated ×2 unpacked; vfs keeps layer 1 twice: 2.9 + 5.7 MiB.
    expect(e.message).toMatch(
      /pulling .*tools\/big:1 needs about 8\.\d MiB in .*root \(podman's vfs driver: every layer a full copy of the layers under it\), but only/,
    )
    expect(e.message).toMatch(
      /only [\d.]+ [KM]iB is available: limit 2\.0 MiB \(airlock config quota\.limit\), used [\d.]+ KiB/,
    )
    expect(e.message).toMatch(/free on the filesystem/)
    expect(e.hint).toMatch(/largest images here: .*tools\/small:1 \([\d.]+ KiB\)/)
    expect(e.hint).toMatch(/the overlay driver .*would need 5\.\d MiB/)
    expect(e.hint).toMatch(/--force/)
    expect(await storageState()).toEqual(before)
  })

  it('without a limit, the pull goes through and says how much room it checked', async () => {
    const r = await airlock(['pull', '--json', `${hub.host}/tools/small:1`])
    expect(r.code, r.stderr).toBe(0)
    const p = json<{ preflight: { checked: boolean; needed: number; available: number } }>(r).preflight
    expect(p.checked).toBe(true)
    expect(p.available).toBeGreaterThan(p.needed)
  })

  it('--force goes through', async () => {
    const r = await airlock(['pull', '--json', '--force', '--config', limited, `${hub.host}/tools/big:1`])
    expect(r.code, r.stderr).toBe(0)
    expect(json<{ preflight: { forced: boolean } }>(r).preflight.forced).toBe(true)
    expect((await podman.images()).some((i) => i.Names?.some((n) => n.includes('tools/big:1')))).toBe(true)
  })

  it('an image the store holds already needs no room', async () => {
    const r = await airlock(['pull', '--json', '--config', limited, `${hub.host}/tools/big:1`])
    expect(r.code, r.stderr).toBe(0)
  })
})

describe('load: every image of the archive against the limit', () => {
  it('refuses an archive bigger than the room left (plain layers: exact size), --force loads it', async () => {
    const file = join(podman.dir, 'plain.tar')
    const saved = await airlock(['save', `docker://${hub.host}/tools/plain:1`, '-o', file])
    expect(saved.code, saved.stderr).toBe(0)
    const before = await storageState()
    const r = await airlock(['load', '--json', '--config', limited, file])
    expect(r.code, r.stderr).toBe(4)
    const e = json<ErrorJson>(r).error
    expect(e.message).toMatch(
      /^loading .*plain\.tar needs 4\.\d MiB in .*root \(podman's vfs driver: every layer a full copy of the layers under it\), but only [\d.]+ (B|KiB|MiB) is available: limit 2\.0 MiB \(airlock config quota\.limit\), used [\d.]+ MiB/,
    )
    expect(await storageState()).toEqual(before)
    const forced = await airlock(['load', '--json', '--force', '--config', limited, file])
    expect(forced.code, forced.stderr).toBe(0)
    expect(json<{ preflight: { forced: boolean } }>(forced).preflight.forced).toBe(true)
  })
})

describe('vfs on a small filesystem: every layer a full copy of the layers under it', () => {
  const SIZE = 32 * MiB
  let small: Podman
  // Plain tar layers: the unpacked sizes are exact, so the figures can be compared with du.
  let tall: GeneratedImage // 5 × 3 MiB: 15 MiB of layers, 45 MiB in vfs
  let short: GeneratedImage // 3 × 2 MiB: 6 MiB of layers, 12 MiB in vfs
  let shortPlus: GeneratedImage // short's 3 layers and two of 1 MiB: 7 + 8 MiB more in vfs

  /** The CLI on the small store, with a HOME of its own inside small.dir (removed with it). */
  function airlockSmall(args: string[]) {
    const home = join(small.dir, 'home')
    const env: NodeJS.ProcessEnv = {
      ...small.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      TMPDIR: small.dir,
    }
    for (const name of ['XDG_RUNTIME_DIR', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG']) delete env[name]
    return runCli(args, { env, timeoutMs: 120_000 })
  }
  const vfsBytes = async () =>
    Number((await execa('du', ['-sb', join(small.root, 'vfs')])).stdout.split('\t')[0])
  const freeBytes = async () => {
    const s = await statfs(small.root)
    return s.bavail * s.bsize
  }
  const layerBytes = (img: GeneratedImage) => img.layers.reduce((n, l) => n + l.bytes.length, 0)
  const state = async () => ({
    images: (await small.images()).map((i) => i.Id).sort(),
    bytes: (await measureUsage(small.root)).bytes,
  })

  beforeAll(async () => {
    small = await makePodman()
    await mkdir(small.root, { recursive: true })
    await mkdir(join(small.dir, 'home'))
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${SIZE}`, 'tmpfs', small.root])
    await small.run(['images']) // an existing, empty store, as a user's is
    const plain = { compress: false }
    tall = await makeImage({ layerSizes: [3, 3, 3, 3, 3].map((n) => n * MiB), seed: 811, ...plain })
    short = await makeImage({ layerSizes: [2, 2, 2].map((n) => n * MiB), seed: 812, ...plain })
    shortPlus = await makeImage({ layerSizes: [2, 2, 2, 1, 1].map((n) => n * MiB), seed: 812, ...plain })
    await pushRaw(hub, 'tools/tall', '1', tall)
    await pushRaw(hub, 'tools/short', '1', short)
    await pushRaw(hub, 'tools/short', 'plus', shortPlus)
  }, 120_000)

  afterAll(async () => {
    if (!small) return
    await execa('umount', [small.root], { reject: false })
    await small.cleanup()
  })

  it('refuses an image whose vfs need exceeds the free space, though its layers alone would fit', async () => {
    const free = await freeBytes()
    // What the preflight counted before: the layers once. It fits...
    expect(layerBytes(tall) + tall.config.bytes.length).toBeLessThan(free)
    const before = await state()
    const r = await airlockSmall(['pull', '--json', `${hub.host}/tools/tall:1`])
    expect(r.code, r.stderr).toBe(4)
    const e = json<ErrorJson>(r).error
    expect(e.code).toBe('QUOTA_EXCEEDED')
    // ...but vfs stores 3 + 6 + 9 + 12 + 15 MiB.
    expect(e.message).toMatch(
      /^pulling .*tools\/tall:1 needs 45\.0 MiB in .*root \(podman's vfs driver: every layer a full copy of the layers under it\), but only 3\d\.\d MiB is available: 3\d\.\d MiB free on the filesystem$/,
    )
    expect(e.hint).toMatch(/the overlay driver .*would need 15\.0 MiB/)
    expect(await state()).toEqual(before)
  })

  it('the estimate covers what vfs really stores, and says which driver it assumed', async () => {
    const from = await vfsBytes()
    const r = await airlockSmall(['pull', '--json', `${hub.host}/tools/short:1`])
    expect(r.code, r.stderr).toBe(0)
    const p = json<{ preflight: { needed: number; driver: string; driverFrom: string; estimated: boolean } }>(
      r,
    ).preflight
    expect(p).toMatchObject({ driver: 'vfs', driverFrom: small.storageConf, estimated: false })
    const used = (await vfsBytes()) - from
    expect(p.needed).toBeGreaterThanOrEqual(used)
    expect(p.needed).toBeLessThan(used * 1.01)
    // The layers once are half of it.
    expect(layerBytes(short)).toBeLessThan(used * 0.51)
  })

  it('layers the store holds already are not counted, but vfs still copies them into the layers above', async () => {
    const free = await freeBytes()
    const fresh = (2 + 4 + 6 + 7 + 8) * MiB
    expect(fresh).toBeGreaterThan(free) // as a new image it would not fit
    const from = await vfsBytes()
    const r = await airlockSmall(['pull', '--json', `${hub.host}/tools/short:plus`])
    expect(r.code, r.stderr).toBe(0)
    const needed = json<{ preflight: { needed: number } }>(r).preflight.needed
    const used = (await vfsBytes()) - from
    // The new layers hold the 6 MiB under them and their own: 7 + 8 MiB, where their own are 2 MiB.
    expect(used).toBeGreaterThan(15 * MiB)
    expect(layerBytes(shortPlus)).toBeLessThan(used * 0.6)
    expect(needed).toBeGreaterThanOrEqual(used)
    expect(needed).toBeLessThan(used * 1.01)
  })

  it('forced past the preflight, the refused image does not fit in fact', async () => {
    const r = await airlockSmall(['pull', '--json', '--force', `${hub.host}/tools/tall:1`])
    expect(r.code, r.stderr).not.toBe(0)
    expect(r.stdout + r.stderr).toMatch(/no space left on device/i)
    expect(await small.inspect(`${hub.host}/tools/tall:1`)).toBeUndefined()
  })
})

describe('sif build: the output filesystem’s quota', () => {
  it('refuses a SIF that does not fit in the quota `quota -vs` reports for the output directory', async () => {
    const file = join(podman.dir, 'plain.tar')
    const device = (await execa('df', ['-P', podman.dir])).stdout.trim().split('\n')[1]!.split(/\s+/)[0]!
    const bin = join(podman.dir, 'fake-bin')
    await mkdir(bin, { recursive: true })
    // 1 MiB left of 9001 MiB on the output's filesystem, as quota-tools prints it (wrapped line).
    await writeFile(
      join(bin, 'quota'),
      `#!/bin/sh\ncat <<'EOF'\nDisk quotas for user root (uid 0):\n     Filesystem   space   quota   limit   grace   files   quota   limit   grace\n${device}\n                  9000M   9001M   9001M              10       0       0\nEOF\n`,
    )
    await chmod(join(bin, 'quota'), 0o755)
    const env = isolatedEnv({ ...podman.env, PATH: `${bin}:${process.env.PATH}` })
    const out = join(podman.dir, 'plain.sif')
    const r = await runCli(['sif', 'build', file, '-o', out, '--builder', 'builtin', '--json'], { env })
    expect(r.code, r.stderr).toBe(4)
    expect(json<ErrorJson>(r).error.message).toMatch(
      /building .*plain\.sif needs about \d\.\d MiB in .*, but only 1\.0 MiB is available: limit 8\.8 GiB \(quota -vs\), used 8\.8 GiB/,
    )
    await expect(stat(out)).rejects.toThrow()
    const forced = await runCli(
      ['sif', 'build', file, '-o', out, '--builder', 'builtin', '--ignore-free-space'],
      { env },
    )
    expect(forced.code, forced.stderr).toBe(0)
  })
})

describe('push and copy into a Harbor project against its quota', () => {
  it('refuses a push over the project quota before any blob is sent', async () => {
    const from = harbor.requests.length
    const r = await airlock([
      'push',
      '--json',
      '--creds',
      ADMIN,
      '--harbor',
      harbor.host,
      `${hub.host}/tools/big:1`,
      `${harbor.host}/tiny/big:1`,
    ])
    expect(r.code, r.stderr).toBe(4)
    const e = json<ErrorJson>(r).error
    expect(e.code).toBe('QUOTA_EXCEEDED')
    expect(e.message).toMatch(
      /needs 2\.\d MiB in Harbor project tiny, but only 48\.8 KiB is available: limit 48\.8 KiB \(Harbor project quota\), used 0 B/,
    )
    expect(e.hint).toMatch(/tiny.*--force/)
    expect(writes(from)).toEqual([])
  })

  it('refuses a registry-to-Harbor copy the same way', async () => {
    const from = harbor.requests.length
    const r = await airlock([
      'copy',
      '--json',
      '--dest-creds',
      ADMIN,
      '--harbor',
      harbor.host,
      `docker://${hub.host}/tools/big:1`,
      `docker://${harbor.host}/tiny/big:1`,
    ])
    expect(r.code, r.stderr).toBe(4)
    expect(json<ErrorJson>(r).error.message).toMatch(/copying .* needs 2\.\d MiB in Harbor project tiny/)
    expect(writes(from)).toEqual([])
  })

  it('a copy that fits goes through, and counts only what the repository lacks the next time', async () => {
    const args = [
      'copy',
      '--json',
      '--dest-creds',
      ADMIN,
      '--harbor',
      harbor.host,
      `docker://${hub.host}/tools/big:1`,
      `docker://${harbor.host}/roomy/big:1`,
    ]
    const first = await airlock(args)
    expect(first.code, first.stderr).toBe(0)
    expect(json<{ preflight: { needed: number } }>(first).preflight.needed).toBeGreaterThan(2 * MiB)
    const again = await airlock(args)
    expect(again.code, again.stderr).toBe(0)
    expect(json<{ preflight: { needed: number } }>(again).preflight.needed).toBe(0)
  })

  it("Harbor's quota refusal half way (--force past the preflight) is exit 4 with the numbers", async () => {
    const r = await airlock([
      'push',
      '--json',
      '--force',
      '--creds',
      ADMIN,
      '--harbor',
      harbor.host,
      `${hub.host}/tools/big:1`,
      `${harbor.host}/tiny/big:1`,
    ])
    expect(r.code, r.stderr).toBe(4)
    const e = json<ErrorJson>(r).error
    expect(e.code).toBe('QUOTA_EXCEEDED')
    expect(e.message).toMatch(
      /refused by Harbor: project "tiny" is over its storage quota: needed 2\.\d MiB, available [\d.]+ [K]?i?B, limit 48\.8 KiB, used [\d.]+ K?i?B/,
    )
    expect(e.message).toMatch(/\(Harbor: adding .* would exceed 48\.8 KiB\)/)
  })
})
