/**
 * The layer reader (src/lib/sif/flatten-layer.ts over src/lib/tar/) on archives GNU tar and Python's
 * tarfile write: sparse maps longer than a header holds (old GNU extension blocks, a 1.0 map of
 * several blocks), a large sparse file expanded in bounded chunks, libarchive's xattr records, pax
 * records deleted by an empty value, and the input read to its end after the archive's zero blocks
 * (so a digest check at the end of the stream still runs).
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { readLayer } from '../../src/lib/sif/flatten-layer.js'
import type { TarEntry } from '../../src/lib/sif/flatten-tar-out.js'
import { b, pythonTarScript } from '../helpers/tar-bytes.js'

const root = mkdtempSync(join(tmpdir(), 'airlock-tar-reader-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

interface Read {
  entry: TarEntry
  sha256: string
  size: number
  maxChunk: number
}

/** Every entry of a layer (bodies hashed as they stream). */
async function read(bytes: Buffer | (() => Readable)): Promise<Read[]> {
  const open = typeof bytes === 'function' ? bytes : () => Readable.from([bytes])
  const out: Read[] = []
  for await (const { entry, body } of readLayer({ label: 'layer', open: async () => open() })) {
    const hash = createHash('sha256')
    let size = 0
    let maxChunk = 0
    for await (const chunk of body) {
      hash.update(chunk)
      size += chunk.length
      maxChunk = Math.max(maxChunk, chunk.length)
    }
    if (entry) out.push({ entry, sha256: hash.digest('hex'), size, maxChunk })
  }
  return out
}

/** A sparse file of `size` bytes with 4 KiB of data at each offset; its contents. */
function sparseFile(path: string, size: number, offsets: number[]): Buffer | undefined {
  const fd = openSync(path, 'w')
  ftruncateSync(fd, size)
  for (const [i, at] of offsets.entries()) writeSync(fd, Buffer.alloc(4096, 0x30 + (i % 64)), 0, 4096, at)
  closeSync(fd)
  return size <= 64 << 20 ? readFileSync(path) : undefined
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

describe('GNU sparse maps longer than one block', () => {
  // 60 data regions: 15 extension blocks of old GNU 'S' entries, a 1.0 map of two blocks.
  const src = join(root, 'many')
  mkdirSync(src)
  const content = sparseFile(
    join(src, 'holes.bin'),
    8 << 20,
    Array.from({ length: 60 }, (_, i) => i * 131072),
  )

  it.each([
    ["old GNU (type 'S')", ['--format=gnu']],
    ['pax 1.0', ['--format=pax', '--sparse-version=1.0']],
    ['pax 0.1', ['--format=pax', '--sparse-version=0.1']],
  ])('%s', async (name, args) => {
    const tar = join(root, `${name.replace(/\W+/g, '-')}.tar`)
    execFileSync('tar', ['--sparse', ...args, '-C', src, '-cf', tar, 'holes.bin'])
    const bytes = readFileSync(tar)
    expect(bytes.length).toBeLessThan(1 << 20)
    const [file] = await read(bytes)
    expect(file.entry).toMatchObject({ path: 'holes.bin', type: 'file', size: 8 << 20 })
    expect(file.size).toBe(8 << 20)
    expect(file.sha256).toBe(sha256(content as Buffer))
  })

  it('a 1 GiB sparse file is expanded in bounded chunks, never buffered', async () => {
    const dir = join(root, 'huge')
    mkdirSync(dir)
    const size = 1024 ** 3
    sparseFile(join(dir, 'huge.bin'), size, [0, size - 4096])
    const tar = join(root, 'huge.tar')
    execFileSync('tar', ['--sparse', '--format=pax', '-C', dir, '-cf', tar, 'huge.bin'])
    const [file] = await read(readFileSync(tar))
    expect(file.size).toBe(size)
    expect(file.maxChunk).toBeLessThanOrEqual(64 * 1024)
  })
})

describe('pax records', () => {
  it("libarchive's LIBARCHIVE.xattr records (%-encoded name, base64 value) as bytes; SCHILY wins", async () => {
    const out = join(root, 'libarchive.tar')
    const script = join(root, 'libarchive.py')
    writeFileSync(
      script,
      pythonTarScript(out, [{ path: b('f'), type: 'file', data: Buffer.from('x') }], {
        pax: {
          f: {
            'LIBARCHIVE.xattr.user.caf%E9%3D': Buffer.from(
              Buffer.from([0xff, 0x00, 0x0a]).toString('base64'),
            ),
            'LIBARCHIVE.xattr.user.both': Buffer.from(Buffer.from('libarchive').toString('base64')),
            'SCHILY.xattr.user.both': Buffer.from('schily'),
          },
        },
      }),
    )
    execFileSync('python3', [script])
    const [file] = await read(readFileSync(out))
    const xattrs = Object.fromEntries([...(file.entry.xattrs ?? [])].map(([k, v]) => [k, v.toString('hex')]))
    expect(xattrs).toEqual({
      [b('user.caf\xe9=').toString('latin1')]: 'ff000a',
      'user.both': Buffer.from('schily').toString('hex'),
    })
  })

  it("an empty value in an 'x' header deletes a 'g' record: the ustar field counts again", async () => {
    const out = join(root, 'deleted.tar')
    const script = join(root, 'deleted.py')
    writeFileSync(
      script,
      pythonTarScript(
        out,
        [
          { path: b('a'), type: 'symlink', target: b('ustar-a') },
          { path: b('b'), type: 'symlink', target: b('ustar-b') },
        ],
        {
          globals: [{ before: 0, records: { linkpath: b('caf\xe9') } }],
          pax: { b: { linkpath: Buffer.alloc(0) } },
        },
      ),
    )
    execFileSync('python3', [script])
    const entries = await read(readFileSync(out))
    expect(entries.map((e) => [e.entry.path, e.entry.linkname])).toEqual([
      ['a', 'caf\xe9'],
      ['b', 'ustar-b'],
    ])
  })
})

describe('the end of the archive', () => {
  it('reads the input to its end after the zero blocks, bodies read or not', async () => {
    const dir = join(root, 'end')
    mkdirSync(dir)
    writeFileSync(join(dir, 'f'), Buffer.alloc(100_000, 1))
    const tar = join(root, 'end.tar')
    execFileSync('tar', ['--format=pax', '-C', dir, '-cf', tar, 'f'])
    // What follows the end of the archive (GNU tar pads to 10 KiB records; here more) is read too.
    const bytes = Buffer.concat([readFileSync(tar), Buffer.alloc(1 << 20, 0x55)])
    let served = 0
    let ended = false
    const open = () =>
      Readable.from(
        (async function* () {
          for (let at = 0; at < bytes.length; at += 65536) {
            served += Math.min(65536, bytes.length - at)
            yield bytes.subarray(at, at + 65536)
          }
          ended = true
        })(),
      )
    const names: string[] = []
    for await (const { entry } of readLayer({ label: 'layer', open: async () => open() })) {
      if (entry) names.push(entry.path)
    }
    expect(names).toEqual(['f'])
    expect(served).toBe(bytes.length)
    expect(ended).toBe(true)
  })
})
