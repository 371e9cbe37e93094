/**
 * The SIF writer and reader against the reference tools: squashfs partitions made by mksquashfs
 * (copied from a file, or written in place with -offset), SIF files checked with siftool (sylabs
 * reference implementation) and unsquashfs, reproducible output byte for byte, and
 * `airlock sif inspect` on good and damaged files. The CLI runs dist/ (`npm run build` first).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readObject, readSif } from '../../src/lib/sif/sif-reader.js'
import { type SifPlan, writeSif } from '../../src/lib/sif/sif-writer.js'
import { json, runCli } from '../helpers/cli.js'

let root: string
let src: string
let sqfs: string
let dirs = 0
const fresh = () => mkdtempSync(path.join(root, `${dirs++}-`))
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** Deterministic mksquashfs arguments, so squashfs bytes do not depend on when they were made. */
const MKSQ = ['-noappend', '-quiet', '-no-progress', '-all-root', '-mkfs-time', '0', '-all-time', '0']
const mksquashfs = (from: string, to: string, extra: string[] = []) =>
  execFileSync('mksquashfs', [from, to, ...MKSQ, ...extra], { stdio: 'pipe' })

const siftool = (...args: string[]) => execFileSync('siftool', args, { encoding: 'utf8' })
const siftoolBytes = (...args: string[]) => execFileSync('siftool', args, { maxBuffer: 1 << 28 })

/** Rows of `siftool list`: `1    |1       |NONE    |32176-32215               |Def.FILE`. */
function siftoolList(file: string) {
  return siftool('list', file)
    .split('\n')
    .filter((l) => /^\d+\s*\|/.test(l))
    .map((l) => {
      const [id, group, link, pos, type] = l.split('|').map((c) => c.trim())
      const [start, end] = pos.split('-').map(Number)
      return { id: Number(id), group, link, start, end, type }
    })
}

/** `Key:   value` lines of `siftool header` / `siftool info`. */
function siftoolFields(...args: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const l of siftool(...args).split('\n')) {
    const m = /^\s*([^:]+):\s+(.*)$/.exec(l)
    if (m) out[m[1].trim()] = m[2].trim()
  }
  return out
}

const definition = 'bootstrap: docker-archive\nfrom: image.tar\n\n'
const inspectMetadata = {
  data: {
    attributes: { labels: { 'org.opencontainers.image.title': 'demo', maintainer: 'hpc@example.org' } },
  },
  type: 'container',
}
const ociConfig = { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/hello'] }
const plan: SifPlan = {
  definition,
  json: {
    // Given out of order and with an empty one: written sorted, the empty one left out.
    'oci-config.json': Buffer.from(JSON.stringify(ociConfig)),
    'inspect-metadata.json': Buffer.from(JSON.stringify(inspectMetadata)),
    'empty.json': Buffer.alloc(0),
  },
  arch: 'arm64',
}

const noTemps = (dir: string) => expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'airlock-sif-'))
  src = path.join(root, 'rootfs')
  await mkdir(path.join(src, 'bin'), { recursive: true })
  await mkdir(path.join(src, 'etc'), { recursive: true })
  await writeFile(path.join(src, 'bin/hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 })
  await writeFile(path.join(src, 'etc/os-release'), 'NAME=demo\n')
  // Incompressible, several squashfs blocks.
  await writeFile(path.join(src, 'etc/blob'), Buffer.concat([...Array(40)].map((_, i) => sha256Bytes(i))))
  sqfs = path.join(root, 'rootfs.sqfs')
  mksquashfs(src, sqfs)
})

function sha256Bytes(seed: number): Buffer {
  let b = createHash('sha256').update(String(seed)).digest()
  const parts: Buffer[] = []
  for (let i = 0; i < 256; i++) {
    b = createHash('sha256').update(b).digest()
    parts.push(b)
  }
  return Buffer.concat(parts)
}

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true })
})

/** Everything siftool and the reader must agree on for a SIF written from `plan`. */
function expectApptainerShape(file: string, squashfs: Buffer) {
  const rows = siftoolList(file)
  const defEnd = 32176 + Buffer.byteLength(definition)
  const meta = Buffer.from(JSON.stringify(inspectMetadata))
  const oci = Buffer.from(JSON.stringify(ociConfig))
  expect(rows).toEqual([
    { id: 1, group: '1', link: 'NONE', start: 32176, end: defEnd, type: 'Def.FILE' },
    { id: 2, group: '1', link: 'NONE', start: defEnd, end: defEnd + meta.length, type: 'JSON.Generic' },
    {
      id: 3,
      group: '1',
      link: 'NONE',
      start: defEnd + meta.length,
      end: defEnd + meta.length + oci.length,
      type: 'JSON.Generic',
    },
    {
      id: 4,
      group: '1',
      link: 'NONE',
      start: 32768,
      end: 32768 + squashfs.length,
      type: 'FS (Squashfs/*System/arm64)',
    },
  ])
  expect(siftoolFields('info', '2', file).Name).toBe('inspect-metadata.json')
  expect(siftoolFields('info', '3', file).Name).toBe('oci-config.json')
  const part = siftoolFields('info', '4', file)
  expect(part).toMatchObject({
    'Data Type': 'FS',
    'Filesystem Type': 'Squashfs',
    'Partition Type': '*System',
    Architecture: 'arm64',
    Offset: '32768',
    Size: String(squashfs.length),
  })
  expect(Number(part.Offset) % 4096).toBe(0)
  const header = siftoolFields('header', file)
  expect(header).toMatchObject({
    'Launch Script': '#!/usr/bin/env run-singularity',
    Version: '01',
    'Primary Architecture': 'arm64',
    'Descriptors Free': '44',
    'Descriptors Total': '48',
    'Descriptors Offset': '4096',
    'Data Offset': '32176',
  })
  expect(siftoolBytes('dump', '1', file).toString()).toBe(definition)
  expect(siftoolBytes('dump', '2', file)).toEqual(meta)
  expect(sha256(siftoolBytes('dump', '4', file))).toBe(sha256(squashfs))
  expect(statSync(file).mode & 0o777).toBe(0o755)
  return header
}

describe('writeSif', () => {
  it('copies a finished squashfs into a SIF that siftool reads as Apptainer writes it', async () => {
    const dir = fresh()
    const out = path.join(dir, 'app.sif')
    const progress: number[] = []
    const r = await writeSif(out, plan, { file: sqfs }, { onProgress: (n) => progress.push(n) })
    const squashfs = readFileSync(sqfs)
    expect(r).toEqual({
      path: out,
      size: 32768 + squashfs.length,
      sha256: sha256(readFileSync(out)),
      partition: { offset: 32768, size: squashfs.length },
    })
    expect(progress.at(-1)).toBe(squashfs.length)
    const header = expectApptainerShape(out, squashfs)
    expect(header.ID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    noTemps(dir)
  })

  it('lets mksquashfs write the partition in place at the planned offset', async () => {
    const dir = fresh()
    const out = path.join(dir, 'inplace.sif')
    const offsets: number[] = []
    const r = await writeSif(out, plan, {
      writeAt: async (temp, offset) => {
        offsets.push(offset)
        expect(path.dirname(temp)).toBe(dir)
        mksquashfs(src, temp, ['-offset', String(offset)])
      },
    })
    expect(offsets).toEqual([32768])
    expect(r.partition.offset).toBe(32768)
    expect(r.sha256).toBe(sha256(readFileSync(out)))
    // Same deterministic mksquashfs arguments: the partition equals the standalone squashfs.
    expectApptainerShape(out, readFileSync(sqfs))
    const listing = execFileSync('unsquashfs', ['-o', String(r.partition.offset), '-l', '-d', '/r', out], {
      encoding: 'utf8',
    })
    expect(listing.split('\n').filter((l) => l.startsWith('/r'))).toEqual([
      '/r',
      '/r/bin',
      '/r/bin/hello',
      '/r/etc',
      '/r/etc/blob',
      '/r/etc/os-release',
    ])
    noTemps(dir)
  })

  it('with reproducible: true writes identical bytes, a nil UUID and Go zero times, either way', async () => {
    const dir = fresh()
    const a = path.join(dir, 'a.sif')
    const b = path.join(dir, 'b.sif')
    const c = path.join(dir, 'c.sif')
    const p = { ...plan, reproducible: true }
    const ra = await writeSif(a, p, { file: sqfs })
    await new Promise((r) => setTimeout(r, 1100)) // a clock tick must not matter
    const rb = await writeSif(b, p, { file: sqfs })
    const rc = await writeSif(c, p, {
      writeAt: async (t, o) => void mksquashfs(src, t, ['-offset', String(o)]),
    })
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true)
    expect(readFileSync(a).equals(readFileSync(c))).toBe(true)
    expect(new Set([ra.sha256, rb.sha256, rc.sha256]).size).toBe(1)
    // siftool leaves out a nil ID and zero times.
    const header = siftoolFields('header', a)
    expect(header.ID).toBeUndefined()
    expect(header['Created At']).toBeUndefined()
    const info = await readSif(a)
    expect(info.header.id).toBe('00000000-0000-0000-0000-000000000000')
    expect(info.header.createdAt.toISOString()).toBe('0001-01-01T00:00:00.000Z')
    expect(info.objects.every((o) => o.createdAt.getTime() === -62135596800000)).toBe(true)
    expect(readFileSync(a).readBigInt64LE(64)).toBe(-62135596800n)
  })

  it('without reproducible gives each file its own ID and the current time', async () => {
    const dir = fresh()
    const before = Math.floor(Date.now() / 1000)
    await writeSif(path.join(dir, '1.sif'), plan, { file: sqfs })
    await writeSif(path.join(dir, '2.sif'), plan, { file: sqfs })
    const [one, two] = await Promise.all([readSif(path.join(dir, '1.sif')), readSif(path.join(dir, '2.sif'))])
    expect(one.header.id).not.toBe(two.header.id)
    expect(one.header.id).not.toBe('00000000-0000-0000-0000-000000000000')
    expect(one.header.createdAt.getTime() / 1000).toBeGreaterThanOrEqual(before)
    expect(siftoolFields('header', path.join(dir, '1.sif')).ID).toBe(one.header.id)
  })

  it('replaces an existing file only when the new one is complete', async () => {
    const dir = fresh()
    const out = path.join(dir, 'keep.sif')
    writeFileSync(out, 'old')
    await expect(writeSif(out, plan, { file: path.join(dir, 'missing.sqfs') })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
    expect(readFileSync(out, 'utf8')).toBe('old')
    await writeSif(out, plan, { file: sqfs })
    expect(siftoolList(out)).toHaveLength(4)
    noTemps(dir)
  })

  it('leaves no output and no temp file when writeAt fails or writes no squashfs', async () => {
    const dir = fresh()
    const out = path.join(dir, 'fail.sif')
    const boom = new Error('mksquashfs died')
    await expect(
      writeSif(out, plan, {
        writeAt: async (temp, offset) => {
          writeFileSync(temp, Buffer.alloc(offset + 10_000, 1))
          throw boom
        },
      }),
    ).rejects.toBe(boom)
    await expect(
      writeSif(out, plan, { writeAt: async (t) => writeFileSync(t, Buffer.alloc(40_000)) }),
    ).rejects.toMatchObject({ code: 'INTERNAL', message: /no squashfs magic/ })
    await expect(writeSif(out, plan, { writeAt: async () => undefined })).rejects.toMatchObject({
      code: 'INTERNAL',
    })
    const notSqfs = path.join(root, 'not.sqfs')
    writeFileSync(notSqfs, Buffer.alloc(8192, 7))
    await expect(writeSif(out, plan, { file: notSqfs })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(writeSif(out, { ...plan, arch: 'x86_64' }, { file: sqfs })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: /x86_64/,
    })
    const ac = new AbortController()
    ac.abort()
    await expect(writeSif(out, plan, { file: sqfs }, { signal: ac.signal })).rejects.toMatchObject({
      code: 'INTERRUPTED',
    })
    expect(readdirSync(dir)).toEqual([])
  })
})

describe('readSif', () => {
  it('agrees with siftool, also on a SIF that siftool made', async () => {
    const dir = fresh()
    const ours = path.join(dir, 'ours.sif')
    await writeSif(ours, plan, { file: sqfs })
    const theirs = path.join(dir, 'theirs.sif')
    siftool('new', theirs)
    writeFileSync(path.join(dir, 'sig'), 'x')
    siftool('add', '--datatype', '6', '--filename', 'x.json', '--groupid', '2', theirs, path.join(dir, 'sig'))
    siftool(
      'add',
      '--datatype',
      '4',
      '--parttype',
      '3',
      '--partfs',
      '1',
      '--partarch',
      '12',
      '--link',
      '1',
      theirs,
      sqfs,
    )
    for (const file of [ours, theirs]) {
      const info = await readSif(file)
      const rows = siftoolList(file)
      expect(info.objects.map((o) => [o.id, o.offset, o.offset + o.size])).toEqual(
        rows.map((r) => [r.id, r.start, r.end]),
      )
      expect(info.objects.map((o) => String(o.group ?? 'NONE'))).toEqual(rows.map((r) => r.group))
      const header = siftoolFields('header', file)
      expect(info.header.id).toBe(header.ID)
      expect(info.header.descriptorsFree).toBe(Number(header['Descriptors Free']))
      expect(info.fileSize).toBe(statSync(file).size)
    }
    const theirsInfo = await readSif(theirs)
    expect(theirsInfo.header.arch).toBe('unknown') // a Data partition does not set the header arch
    expect(theirsInfo.objects[1]).toMatchObject({
      type: 'FS',
      group: null,
      link: { type: 'object', id: 1 },
      partition: { fsType: 'Squashfs', partType: 'Data', arch: 'riscv64' },
    })
    const oursInfo = await readSif(ours)
    expect(oursInfo.header.arch).toBe('arm64')
    expect(oursInfo.objects.map((o) => [o.type, o.name])).toEqual([
      ['Def.FILE', ''],
      ['JSON.Generic', 'inspect-metadata.json'],
      ['JSON.Generic', 'oci-config.json'],
      ['FS', ''],
    ])
    expect(JSON.parse((await readObject(ours, 3)).toString())).toEqual(ociConfig)
    await expect(readObject(ours, 9)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(readObject(ours, 4, { maxBytes: 100 })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
  })
})

describe('airlock sif inspect', () => {
  let sif: string
  beforeAll(async () => {
    sif = path.join(fresh(), 'inspect.sif')
    await writeSif(sif, plan, { file: sqfs })
    chmodSync(sif, 0o644)
  })

  it('prints one JSON document with header, objects, arch and labels', async () => {
    const r = await runCli(['sif', 'inspect', '--json', sif])
    expect(r.code, r.stderr).toBe(0)
    const doc = json<Awaited<ReturnType<typeof readSif>> & { arch: string; labels: object }>(r)
    const info = await readSif(sif)
    expect(doc.arch).toBe('arm64')
    expect(doc.labels).toEqual(inspectMetadata.data.attributes.labels)
    expect(doc.header).toMatchObject({ arch: 'arm64', archCode: '04', id: info.header.id, dataOffset: 32176 })
    expect(doc.objects).toEqual(JSON.parse(JSON.stringify(info.objects)))
    expect(doc.objects[3]).toMatchObject({
      id: 4,
      type: 'FS',
      group: 1,
      offset: 32768,
      partition: { fsType: 'Squashfs', partType: 'PrimSys', arch: 'arm64' },
    })
  })

  it('prints a table and the labels', async () => {
    const r = await runCli(['sif', 'inspect', sif])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/Architecture:\s+arm64/)
    expect(r.stdout).toMatch(/^4\s+FS\s+-\s+1\s+-\s+32768\s+.*Squashfs\/PrimSys\/arm64$/m)
    expect(r.stdout).toMatch(/^2\s+JSON\.Generic\s+inspect-metadata\.json\s+1/m)
    expect(r.stdout).toContain('org.opencontainers.image.title=demo')
  })

  it('exits 2 for a file that is not SIF, a truncated SIF and a missing file', async () => {
    const dir = fresh()
    const text = path.join(dir, 'notes.txt')
    writeFileSync(text, 'x'.repeat(500))
    const cut = path.join(dir, 'cut.sif')
    writeFileSync(cut, readFileSync(sif).subarray(0, 33000))
    const short = path.join(dir, 'short.sif')
    writeFileSync(short, readFileSync(sif).subarray(0, 10000))
    for (const [file, message] of [
      [text, /notes\.txt is not a SIF file/],
      [cut, /cut\.sif is truncated or damaged: object 4 ends at byte/],
      [short, /short\.sif is truncated or damaged: the descriptor table/],
      [path.join(dir, 'nope.sif'), /nope\.sif does not exist/],
    ] as const) {
      const r = await runCli(['sif', 'inspect', '--json', file])
      expect(r.code, r.stdout + r.stderr).toBe(2)
      expect(json<{ error: { code: string; message: string } }>(r).error).toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(message),
      })
    }
    const plain = await runCli(['sif', 'inspect', text])
    expect(plain.code).toBe(2)
    expect(plain.stderr).toMatch(/^Error: .*not a SIF file/m)
  })
})
