/**
 * GNU sparse files (GNU tar manual, "Sparse Formats") from layer to squashfs: a 1 MiB file with data
 * at 0, at 512 KiB and at the end and holes between, archived by GNU tar in the three pax sparse
 * formats (`--sparse --format=pax --sparse-version=0.0|0.1|1.0`) and the old GNU one (type 'S',
 * `--sparse --format=gnu`), flattened and made into a squashfs by tar2sqfs and by mksquashfs -tar:
 * the file comes out under its real name with its real size and contents (sha256 of the file on
 * disk), no `GNUSparseFile.NNN` entry. Malformed sparse maps are refused naming the file.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { flattenLayers } from '../../src/lib/sif/flatten.js'
import { makeSquashfs, type SquashfsTool } from '../../src/lib/sif/squashfs.js'
import { opener } from '../helpers/layers.js'
import { b, listing, typeflags } from '../helpers/tar-bytes.js'

const exec = promisify(execFile)
const TOOLS: SquashfsTool[] = ['tar2sqfs', 'mksquashfs']
const MiB = 1 << 20
/** Under a Latin-1 directory, so the real name (GNU.sparse.name for 1.0) is checked as bytes too. */
const NAME = b('caf\xe9dir/sparse\xe9.bin')
const FORMATS: Record<string, string[]> = {
  'pax 0.0': ['--format=pax', '--sparse-version=0.0'],
  'pax 0.1': ['--format=pax', '--sparse-version=0.1'],
  'pax 1.0': ['--format=pax', '--sparse-version=1.0'],
  "old GNU (type 'S')": ['--format=gnu'],
}

let dir: string
let content: Buffer
const layers: Record<string, Buffer> = {}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-sparse-'))
  const src = Buffer.from(join(dir, 'src'))
  mkdirSync(Buffer.concat([src, b('/caf\xe9dir')]), { recursive: true })
  const file = Buffer.concat([src, b('/'), NAME])
  const fd = openSync(file, 'w')
  ftruncateSync(fd, MiB)
  for (const [at, fill] of [
    [0, 0x41],
    [512 * 1024, 0x42],
    [MiB - 4096, 0x43],
  ]) {
    writeSync(fd, Buffer.alloc(4096, fill), 0, 4096, at)
  }
  closeSync(fd)
  content = await readFile(file)
  for (const [name, args] of Object.entries(FORMATS)) {
    const out = join(dir, `${name.replace(/\W+/g, '-')}.tar`)
    await exec('tar', ['--sparse', ...args, '-C', join(dir, 'src'), '-cf', out, '.'])
    layers[name] = await readFile(out)
    // Stored sparse: far less than the file's MiB, and the old format as type 'S'.
    expect(layers[name].length, name).toBeLessThan(MiB / 4)
  }
  expect(typeflags(layers["old GNU (type 'S')"])).toContain('S')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

describe.each(TOOLS)('GNU sparse files through %s', (tool) => {
  it.each(Object.keys(FORMATS))('%s: the real file, holes as zeros', async (format) => {
    const img = join(dir, `${format.replace(/\W+/g, '-')}-${tool}.sqfs`)
    await makeSquashfs(flattenLayers([opener(layers[format])]), { file: img }, { tool })
    const list = await listing(img)
    expect(Object.keys(list).sort()).toEqual(['caf\xe9dir', NAME.toString('latin1')])
    expect(list[NAME.toString('latin1')]).toMatch(new RegExp(`^-\\S+ ${MiB}$`))
    const out = join(dir, `${format.replace(/\W+/g, '-')}-${tool}`)
    await exec('unsquashfs', ['-q', '-n', '-d', out, img])
    const got = await readFile(Buffer.concat([Buffer.from(out), b('/'), NAME]))
    expect(got.length).toBe(MiB)
    expect(sha256(got)).toBe(sha256(content))
  })
})

/** The layer of `format` with `from` replaced by `to` (same length: record lengths stay right). */
function edited(format: string, from: string, to: string): Buffer {
  const bytes = Buffer.from(layers[format])
  const at = bytes.indexOf(from)
  expect(at, `${from} in the ${format} layer`).toBeGreaterThan(0)
  expect(to.length).toBe(from.length)
  bytes.write(to, at, 'latin1')
  return bytes
}

describe('malformed sparse files', () => {
  it('are refused, naming the file', async () => {
    const cases: Array<[Buffer, RegExp]> = [
      // Regions out of order.
      [edited('pax 0.1', 'map=0,4096,524288', 'map=0,4096,000000'), /overlap or are out of order/],
      // A region past the real size.
      [edited('pax 0.0', 'GNU.sparse.size=1048576', 'GNU.sparse.size=1000000'), /beyond the file's size/],
      // More data regions than the data holds.
      [
        edited('pax 1.0', '4\n0\n4096\n524288', '4\n0\n4095\n524288'),
        /names 12287 bytes of data, but 12288 are stored/,
      ],
      // A format GNU tar does not define.
      [edited('pax 1.0', 'GNU.sparse.major=1', 'GNU.sparse.major=7'), /sparse format 7\.0/],
    ]
    for (const [layer, why] of cases) {
      await expect(
        makeSquashfs(flattenLayers([opener(layer)]), { file: join(dir, 'bad.sqfs') }, { tool: 'tar2sqfs' }),
      ).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(
          new RegExp(
            `^layer 1/1 cannot be read: entry "(\\./)?caf\\\\xe9dir/sparse\\\\xe9\\.bin": .*${why.source}`,
          ),
        ),
      })
    }
  })
})
