/**
 * File times outside what squashfs stores (an inode's mtime is an unsigned 32-bit count of seconds):
 * layers written by GNU tar with files dated 1960, 2040 and 2110, converted by `airlock sif build`
 * with tar2sqfs and with mksquashfs, must give the same tree (unsquashfs -lln, times included), the
 * times clamped to 1970-01-01 .. 2106-02-07 as tar2sqfs clamps them. Image creation times outside
 * what the tools take for the root and superblock (Go's zero time 0001-01-01, 2040) with
 * --reproducible. A failing tool's hint quotes the tool, and speaks of free space only on a full
 * filesystem (a real tmpfs).
 */
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeSquashfs, type SquashfsTool } from '../../src/lib/sif/squashfs.js'
import { writeLegacyDockerArchive } from '../helpers/archives.js'
import { isolatedEnv, runCli } from '../helpers/cli.js'
import { blob, type GeneratedImage, MANIFEST_INDENT, MEDIA_TYPES, sha256Digest } from '../helpers/images.js'
import { mountSmallFs } from '../helpers/small-fs.js'

const TOOLS: SquashfsTool[] = ['tar2sqfs', 'mksquashfs']
const T1960 = -315619200 // 1960-01-01T00:00:00Z
const T2040 = 2208988800 // 2040-01-01T00:00:00Z
const T2110 = 4417977600 // 2110-01-01T00:00:00Z
const U32_MAX = 2 ** 32 - 1 // 2106-02-07T06:28:15Z

let dir: string
/** Paths the layers hold, with the seconds squashfs must store for them. */
const EXPECTED: Record<string, number> = {
  d1960: 0,
  'd1960/inside': T2040,
  old: 0,
  new: T2040,
  far: U32_MAX,
  'link-far': U32_MAX,
  'gnu/old': 0,
  'gnu/far': U32_MAX,
}

const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}) =>
  execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, ...opts })

/** Runs GNU tar in `root` and returns the archive. */
function gnuTar(root: string, args: string[]): Buffer {
  return execFileSync('tar', ['-C', root, '--numeric-owner', '-cf', '-', ...args], { maxBuffer: 1 << 26 })
}

/** A docker-archive image of `layerTars` (uncompressed), created at `created`. */
function imageOf(layerTars: Buffer[], created: string): GeneratedImage {
  const mt = MEDIA_TYPES.docker
  const layers = layerTars.map((t) => blob(t, mt.layerTar))
  const config = blob(
    Buffer.from(
      JSON.stringify(
        {
          created,
          architecture: 'amd64',
          os: 'linux',
          config: { Cmd: ['/bin/sh'] },
          rootfs: { type: 'layers', diff_ids: layerTars.map(sha256Digest) },
        },
        null,
        MANIFEST_INDENT,
      ),
    ),
    mt.config,
  )
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mt.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    ),
    mt.manifest,
  )
  return { manifest, config, layers, platform: { os: 'linux', architecture: 'amd64' } }
}

let paxTar: Buffer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-times-'))
  const root = join(dir, 'root')
  await mkdir(join(root, 'd1960'), { recursive: true })
  await mkdir(join(root, 'gnu'), { recursive: true })
  const touch = (t: number, path: string, ...flags: string[]) =>
    sh('touch', [...flags, '-d', `@${t}`, join(root, path)])
  for (const f of ['d1960/inside', 'old', 'new', 'far', 'gnu/old', 'gnu/far']) sh('touch', [join(root, f)])
  sh('ln', ['-s', 'far', join(root, 'link-far')])
  touch(T2040, 'd1960/inside')
  touch(T1960, 'd1960')
  touch(T1960, 'old')
  touch(T2040, 'new')
  touch(T2110, 'far')
  touch(T2110, 'gnu/far')
  touch(T2110, 'link-far', '-h')
  // pax (POSIX.1-2001): GNU tar writes the 1960 time as a pax record "mtime=-315619200".
  paxTar = gnuTar(root, ['--format=pax', 'd1960', 'old', 'new', 'far', 'link-far'])
  expect(paxTar.toString('latin1')).toContain(`mtime=${T1960}\n`)
  // GNU format: GNU tar's --mtime for every member, the 1960 time in base-256 in the header itself.
  const gnuOld = gnuTar(root, ['--format=gnu', `--mtime=@${T1960}`, 'gnu/old'])
  const gnuFar = gnuTar(root, ['--format=gnu', 'gnu/far'])
  expect(gnuOld[136]).toBe(0xff) // base-256, negative
  // Two members in the second layer: the first tar's end-of-archive blocks cut, the second's kept.
  const layers = [paxTar, Buffer.concat([stripEnd(gnuOld), gnuFar])]
  await writeLegacyDockerArchive(join(dir, 'times.tar'), [
    { image: imageOf(layers, '2024-01-01T00:00:00Z'), repoTags: ['times:1'] },
  ])
  await writeLegacyDockerArchive(join(dir, 'zero.tar'), [
    { image: imageOf(layers, '0001-01-01T00:00:00Z'), repoTags: ['zero:1'] },
  ])
  await writeLegacyDockerArchive(join(dir, 'late.tar'), [
    { image: imageOf(layers, '2040-01-01T00:00:00Z'), repoTags: ['late:1'] },
  ])
}, 60_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A GNU tar archive without its end-of-archive zero blocks (GNU tar pads to 10240 bytes). */
function stripEnd(tar: Buffer): Buffer {
  let end = tar.length
  while (end >= 512 && tar.subarray(end - 512, end).every((b) => b === 0)) end -= 512
  return tar.subarray(0, end)
}

const build = (args: string[], env = isolatedEnv()) =>
  runCli(['sif', 'build', '--builder', 'builtin', ...args], { env, timeoutMs: 120_000 })

function partitionOffset(sif: string): string {
  const m = /4\s+\|1\s+\|NONE\s+\|(\d+)-\d+\s+\|FS/.exec(sh('siftool', ['list', sif]))
  if (!m) throw new Error(`no squashfs partition in ${sif}`)
  return m[1]
}

/** unsquashfs -lln of the SIF's partition, in UTC: path -> the listing's line. */
function listing(sif: string): Map<string, string> {
  const out = sh('unsquashfs', ['-UTC', '-o', partitionOffset(sif), '-lln', sif])
  const lines = new Map<string, string>()
  for (const l of out.trim().split('\n')) {
    const m = / squashfs-root(?:\/(.*?))?(?: -> .*)?$/.exec(l)
    if (m) lines.set(m[1] ?? '', l)
  }
  return lines
}

/** Seconds of every EXPECTED path, from the files unsquashfs extracts (which keeps them exactly). */
async function extractedTimes(sif: string): Promise<Record<string, number>> {
  const into = join(dir, `x-${Date.now()}`)
  sh('unsquashfs', ['-n', '-o', partitionOffset(sif), '-d', into, sif])
  try {
    const times: Record<string, number> = {}
    for (const p of Object.keys(EXPECTED)) times[p] = Number(sh('stat', ['-c', '%Y', join(into, p)]).trim())
    return times
  } finally {
    await rm(into, { recursive: true, force: true })
  }
}

describe('file times outside the squashfs range', () => {
  it('tar2sqfs, mksquashfs and auto without tar2sqfs give the same tree: 1960 as 1970-01-01, 2040 kept, 2110 as 2106-02-07T06:28:15Z', async () => {
    const lists: Array<Map<string, string>> = []
    // auto on a machine without tar2sqfs: mksquashfs into a file of its own, then copied into the SIF.
    const bin = join(dir, 'bin-without-tar2sqfs')
    await mkdir(bin)
    for (const t of ['mksquashfs', 'fallocate'])
      await symlink(sh('sh', ['-c', `command -v ${t}`]).trim(), join(bin, t))
    const runs: Array<[string, string, NodeJS.ProcessEnv]> = [
      ['tar2sqfs', 'tar2sqfs', isolatedEnv()],
      ['mksquashfs', 'mksquashfs', isolatedEnv()],
      ['auto', 'mksquashfs', isolatedEnv({ PATH: bin })],
    ]
    for (const [tool, used, env] of runs) {
      const out = join(dir, `times-${tool}.sif`)
      const r = await build([join(dir, 'times.tar'), '-o', out, '--squashfs-tool', tool, '--json'], env)
      expect(r.code, `${tool}: ${r.stderr}`).toBe(0)
      expect(JSON.parse(r.stdout).squashfsTool).toBe(used)
      expect(await extractedTimes(out), tool).toEqual(EXPECTED)
      const list = listing(out)
      expect(list.get('old'), tool).toMatch(/ 1970-01-01 00:00 squashfs-root\/old$/)
      expect(list.get('d1960'), tool).toMatch(/^drwxr-xr-x .* 1970-01-01 00:00 squashfs-root\/d1960$/)
      expect(list.get('new'), tool).toMatch(/ 2040-01-01 00:00 squashfs-root\/new$/)
      expect(list.get('far'), tool).toMatch(/ 2106-02-07 06:28 squashfs-root\/far$/)
      expect(list.get('link-far'), tool).toMatch(
        /^lrwxrwxrwx .* 2106-02-07 06:28 squashfs-root\/link-far -> far$/,
      )
      expect(list.get('gnu/old'), tool).toMatch(/ 1970-01-01 00:00 squashfs-root\/gnu\/old$/)
      lists.push(list)
      await rm(out)
    }
    // Everything the same but the times airlock or the tool take from the clock at build time (the
    // root directory, /.singularity.d and the directories no layer has), which may differ by a minute.
    const masked = (m: Map<string, string>) =>
      [...m].map(([p, l]) => (p in EXPECTED ? l : l.replace(/ \d{4}-\d\d-\d\d \d\d:\d\d /, ' <now> ')))
    expect(masked(lists[1])).toEqual(masked(lists[0]))
    expect(masked(lists[2])).toEqual(masked(lists[0]))
    expect([...lists[1].keys()].filter((p) => p in EXPECTED).length).toBe(Object.keys(EXPECTED).length)
  })

  it('--reproducible with a creation time of 0001-01-01 (Go zero time) or 2040: root and superblock clamped', async () => {
    const cases: Array<[string, number]> = [
      ['zero.tar', 0],
      ['late.tar', 2 ** 31 - 1], // tar2sqfs --defaults mtime takes no more than INT32_MAX
    ]
    for (const [archive, seconds] of cases) {
      for (const tool of TOOLS) {
        const out = join(dir, `repro-${tool}.sif`)
        const r = await build([
          join(dir, archive),
          '-o',
          out,
          '-F',
          '--squashfs-tool',
          tool,
          '--reproducible',
        ])
        expect(r.code, `${archive} ${tool}: ${r.stderr}`).toBe(0)
        const offset = partitionOffset(out)
        expect(sh('unsquashfs', ['-o', offset, '-mkfs-time', out]).trim(), `${archive} ${tool}`).toBe(
          String(seconds),
        )
        // mksquashfs stamps the root with the current time, clamped to SOURCE_DATE_EPOCH only.
        if (tool === 'tar2sqfs' || seconds === 0) {
          const at = new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')
          expect(listing(out).get(''), `${archive} ${tool}`).toContain(` ${at} squashfs-root`)
        }
        await rm(out)
      }
    }
  })
})

describe('a failing squashfs tool', () => {
  it('is quoted in the hint; no word of free space when the disk is not full', async () => {
    // GNU tar's own pax archive, handed to mksquashfs as is: it refuses the negative pax mtime.
    const file = join(dir, 'refused.sqfs')
    let err: { code?: string; message?: string; hint?: string } = {}
    await makeSquashfs(Readable.from([paxTar]), { file }, { tool: 'mksquashfs', jobs: 1 }).catch((e) => {
      err = e
    })
    expect(err.code).toBe('EXEC_FAILED')
    expect(err.message).toMatch(/^mksquashfs failed to write .*refused\.sqfs: /)
    expect(err.hint).toMatch(/^mksquashfs said: .*Failed to parse pax header/)
    expect(err.hint).not.toMatch(/free space|room|full/i)
    expect(await readdir(dir)).not.toContain('refused.sqfs')
  })

  it('says the filesystem is full when it is, for both tools (tar2sqfs only says "I/O error")', async () => {
    const small = mountSmallFs({ bytes: 256 * 1024 })
    try {
      // 2 MB that gzip cannot shrink, in a tar written by python's tarfile.
      const tar = execFileSync(
        'python3',
        [
          '-c',
          'import io, os, sys, tarfile\n' +
            't = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)\n' +
            'i = tarfile.TarInfo("big"); i.size = 2000000\n' +
            't.addfile(i, io.BytesIO(os.urandom(i.size))); t.close()',
        ],
        { maxBuffer: 1 << 23 },
      )
      for (const tool of TOOLS) {
        const file = join(small.dir, `${tool}.sqfs`)
        let err: { code?: string; message?: string; hint?: string } = {}
        await makeSquashfs(Readable.from([tar]), { file }, { tool, jobs: 1 }).catch((e) => {
          err = e
        })
        expect(err.code, tool).toBe('IO_FAILED')
        expect(err.message, tool).toContain('no space left')
        expect(err.hint, tool).toMatch(/make room there/)
        expect(err.hint, tool).toContain(
          tool === 'tar2sqfs'
            ? 'tar2sqfs said: '
            : 'mksquashfs said: Write failed because No space left on device',
        )
        expect(await readdir(small.dir), tool).toEqual([])
      }
    } finally {
      small.unmount()
    }
  })
})
