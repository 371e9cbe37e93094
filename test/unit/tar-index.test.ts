/**
 * The seekable tar index against archives written by GNU tar (gnu, ustar and pax formats) and
 * tar-stream: long names, links, hostile entries, truncated and compressed files.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { decodeName, encodeName } from '../../src/lib/tar/names.js'
import { ArchiveFile } from '../../src/lib/transports/archive/archive-file.js'
import { tarBytes, writeTar } from '../helpers/archives.js'
import { pythonTarScript } from '../helpers/tar-bytes.js'

const root = mkdtempSync(path.join(tmpdir(), 'airlock-tarindex-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let n = 0
const file = (name = 'a.tar') => path.join(root, `${n++}-${name}`)

async function text(a: ArchiveFile, name: string): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of a.stream(a.file(name, 'test'))) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString()
}

async function refusal(p: string): Promise<AirlockError> {
  try {
    const a = await ArchiveFile.open(p, `test:${p}`)
    await a.close()
  } catch (err) {
    if (err instanceof AirlockError) return err
    throw err
  }
  throw new Error('expected the archive to be refused')
}

describe('tar index', () => {
  const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`
  const longName = `${longDir}/${'f'.repeat(90)}.txt`

  for (const format of ['gnu', 'ustar', 'pax'] as const) {
    it(`reads GNU tar --format=${format}: long names, symlinks, hard links, bodies by offset`, async () => {
      const src = path.join(root, `src-${format}`)
      mkdirSync(path.join(src, longDir), { recursive: true })
      writeFileSync(path.join(src, longName), 'long one\n')
      writeFileSync(path.join(src, 'small.txt'), 'x'.repeat(1500))
      writeFileSync(path.join(src, 'empty'), '')
      symlinkSync('small.txt', path.join(src, 'link'))
      execFileSync('ln', [path.join(src, 'small.txt'), path.join(src, 'hard')])
      const out = file()
      execFileSync('tar', [`--format=${format}`, '-C', src, '-cf', out, '.'])
      const a = await ArchiveFile.open(out, 'test')
      try {
        expect(await text(a, longName)).toBe('long one\n')
        expect(await text(a, 'small.txt')).toBe('x'.repeat(1500))
        expect(await text(a, 'link')).toBe('x'.repeat(1500))
        expect(await text(a, 'empty')).toBe('')
        // GNU tar stores the second name of a hard-linked file as a link to the first.
        expect(await text(a, 'hard')).toBe('x'.repeat(1500))
        expect(a.entries.get(longDir)?.kind).toBe('directory')
        expect((await a.head(a.file('small.txt', 't'), 3)).toString()).toBe('xxx')
      } finally {
        await a.close()
      }
    })
  }

  it('keeps member names that are not UTF-8 apart and finds them by their bytes', async () => {
    const src = Buffer.from(path.join(root, 'src-latin1'))
    const at = (p: string) => Buffer.concat([src, Buffer.from('/'), Buffer.from(p, 'latin1')])
    for (const [dir, body] of [
      ['caf\xe9', 'e9'],
      ['caf\xe8', 'e8'],
      ['caf\xc3\xa9', 'utf8'],
    ]) {
      mkdirSync(at(dir), { recursive: true })
      writeFileSync(at(`${dir}/blob`), body)
    }
    symlinkSync(Buffer.from('caf\xe9/blob', 'latin1'), at('link'))
    const name = (latin1: string) => decodeName(Buffer.from(latin1, 'latin1'))
    const archives = ['gnu', 'pax'].map((format) => {
      const out = file()
      execFileSync('tar', [`--format=${format}`, '-C', path.join(root, 'src-latin1'), '-cf', out, '.'])
      return out
    })
    const py = file('py.tar')
    const script = file('py.py')
    writeFileSync(
      script,
      pythonTarScript(py, [
        { path: Buffer.from('caf\xe9/blob', 'latin1'), type: 'file', data: Buffer.from('e9') },
        { path: Buffer.from('caf\xe8/blob', 'latin1'), type: 'file', data: Buffer.from('e8') },
        { path: Buffer.from('caf\xc3\xa9/blob', 'latin1'), type: 'file', data: Buffer.from('utf8') },
        { path: Buffer.from('link'), type: 'symlink', target: Buffer.from('caf\xe9/blob', 'latin1') },
      ]),
    )
    execFileSync('python3', [script])
    for (const out of [...archives, py]) {
      const a = await ArchiveFile.open(out, 'test')
      try {
        expect(await text(a, name('caf\xe9/blob'))).toBe('e9')
        expect(await text(a, name('caf\xe8/blob'))).toBe('e8')
        expect(await text(a, 'caf\u00e9/blob')).toBe('utf8')
        expect(await text(a, 'link')).toBe('e9')
        expect(encodeName(a.file(name('caf\xe9/blob'), 't').name)).toEqual(
          Buffer.from('caf\xe9/blob', 'latin1'),
        )
      } finally {
        await a.close()
      }
    }
  })

  it('indexes a GNU sparse member under its real name, and refuses to read its stored map as the file', async () => {
    const src = path.join(root, 'src-sparse')
    mkdirSync(src)
    // 30 data regions: the old GNU header holds 4, extension blocks the rest (skipped by the index).
    const fd = openSync(path.join(src, 'holes.bin'), 'w')
    ftruncateSync(fd, 4 << 20)
    for (let i = 0; i < 30; i++) writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, i * 131072)
    closeSync(fd)
    writeFileSync(path.join(src, 'after'), 'after')
    for (const args of [['--format=pax', '--sparse-version=1.0'], ['--format=gnu']]) {
      const out = file()
      execFileSync('tar', ['--sparse', ...args, '-C', src, '-cf', out, 'holes.bin', 'after'])
      const a = await ArchiveFile.open(out, 'test')
      try {
        expect([...a.entries.keys()]).toEqual(['holes.bin', 'after'])
        expect(() => a.file('holes.bin', 'Layers[0]')).toThrow(/not a regular file \(.*GNU sparse file\)/)
        expect(await text(a, 'after')).toBe('after')
      } finally {
        await a.close()
      }
    }
  })

  it('reads tar-stream pax headers and follows chains of links', async () => {
    const out = file()
    await writeTar(out, [
      { name: 'b'.repeat(150), data: Buffer.from('pax name') },
      { name: 'dir/real', data: Buffer.from('real') },
      { name: 'dir/one', type: 'symlink', linkname: 'real' },
      { name: 'two', type: 'symlink', linkname: 'dir/one' },
      { name: 'three', type: 'link', linkname: 'two' },
      { name: './dot/./slashes//x', data: Buffer.from('normalized') },
    ])
    const a = await ArchiveFile.open(out, 'test')
    expect(await text(a, 'b'.repeat(150))).toBe('pax name')
    expect(await text(a, 'three')).toBe('real')
    expect(await text(a, 'dot/slashes/x')).toBe('normalized')
    expect(a.file('three', 't').name).toBe('dir/real')
    expect(await a.sha256(a.file('dir/real', 't'))).toBe(
      `sha256:${createHash('sha256').update('real').digest('hex')}`,
    )
    await a.close()
  })

  it.each([
    ['a ".." component', [{ name: 'ok/../../evil', data: Buffer.from('x') }], 'ok/../../evil'],
    ['an absolute name', [{ name: '/etc/evil', data: Buffer.from('x') }], '/etc/evil'],
    [
      'a symlink out of the archive',
      [{ name: 'layer.tar', type: 'symlink', linkname: '../../etc/passwd' }],
      'layer.tar',
    ],
    ['an absolute symlink', [{ name: 'abs', type: 'symlink', linkname: '/etc/passwd' }], 'abs'],
    ['a hard link out of the archive', [{ name: 'hl', type: 'link', linkname: '../outside' }], 'hl'],
  ] as const)('refuses an entry with %s, naming it', async (_what, members, named) => {
    const out = file()
    await writeTar(out, [{ name: 'fine', data: Buffer.from('ok') }, ...members])
    const err = await refusal(out)
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.exitCode).toBe(2)
    expect(err.message).toContain(JSON.stringify(named))
  })

  it('refuses link loops and links to nothing when they are used', async () => {
    const out = file()
    await writeTar(out, [
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
      { name: 'c', type: 'symlink', linkname: 'missing' },
    ])
    const a = await ArchiveFile.open(out, 'test')
    expect(() => a.file('a', 'Layers[0]')).toThrow(/link loop/)
    expect(() => a.file('c', 'Layers[0]')).toThrow(/"c" is not in the archive/)
    expect(() => a.file('nothing', 'Config')).toThrow(/Config "nothing" is not in the archive/)
    await a.close()
  })

  it('refuses truncated archives, non-tar files, compressed archives and missing files', async () => {
    const good = await tarBytes([{ name: 'big', data: Buffer.alloc(5000, 1) }])
    const cut = file()
    writeFileSync(cut, good.subarray(0, 2048))
    expect((await refusal(cut)).message).toMatch(/cut short/)

    const junk = file('junk')
    writeFileSync(junk, Buffer.alloc(4096, 0x41))
    expect((await refusal(junk)).message).toMatch(/is not a tar archive/)

    const gz = file('a.tar.gz')
    writeFileSync(gz, gzipSync(good))
    const e = await refusal(gz)
    expect(e.message).toMatch(/gzip-compressed/)
    expect(e.hint).toMatch(/gunzip/)

    const missing = await refusal(path.join(root, 'no-such.tar'))
    expect(missing.code).toBe('INVALID_INPUT')
  })
})

describe('ArchiveFile streams', () => {
  it('share the open file: destroying one leaves the others and later reads working', async () => {
    const out = file()
    await writeTar(out, [
      { name: 'one', data: Buffer.alloc(3 << 20, 1) },
      { name: 'two', data: Buffer.from('second') },
    ])
    const a = await ArchiveFile.open(out, 'test')
    const s = a.stream(a.file('one', 't'))
    await new Promise((resolve) => s.once('data', resolve))
    s.destroy()
    await new Promise((resolve) => s.once('close', resolve))
    expect(await text(a, 'two')).toBe('second')
    let total = 0
    for await (const c of a.stream(a.file('one', 't'))) total += (c as Buffer).length
    expect(total).toBe(3 << 20)
    const ac = new AbortController()
    const aborted = a.stream(a.file('one', 't'), ac.signal)
    ac.abort()
    await expect(async () => {
      for await (const _ of aborted) {
        // drain
      }
    }).rejects.toThrow(/abort/i)
    await a.close()
  })
})
