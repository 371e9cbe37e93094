/**
 * The archive writer: temporary file next to FILE, rename on commit, removal on abort, and a failed
 * entry cut back out of the archive so it can be written again. Checked with GNU tar and our index.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { decodeName } from '../../src/lib/tar/names.js'
import { ArchiveFile } from '../../src/lib/transports/archive/archive-file.js'
import { TarFileWriter } from '../../src/lib/transports/archive/tar-writer.js'

const root = mkdtempSync(path.join(tmpdir(), 'airlock-tarwriter-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let n = 0
function dir(): string {
  return mkdtempSync(path.join(root, `${n++}-`))
}

function failing(good: Buffer, error: Error): Readable {
  return Readable.from(
    (async function* () {
      yield good
      throw error
    })(),
  )
}

describe('TarFileWriter', () => {
  it('streams entries into a temporary file and renames it on commit', async () => {
    const d = dir()
    const out = path.join(d, 'x.tar')
    const w = await TarFileWriter.create(out, 'test')
    expect(readdirSync(d)).toEqual([path.basename(w.tmp)])
    expect(path.basename(w.tmp)).toMatch(/^x\.tar\.[0-9a-f]{12}\.tmp$/)
    await w.addDirectory('blobs/')
    await w.addStream(
      'blobs/big',
      3 * 1024 * 1024 + 7,
      Readable.from([Buffer.alloc(3 * 1024 * 1024, 7), Buffer.alloc(7, 8)]),
    )
    await w.addBuffer('manifest.json', Buffer.from('[]'))
    await w.commit()
    expect(readdirSync(d)).toEqual(['x.tar'])
    const listing = execFileSync('tar', ['-tvf', out]).toString()
    expect(listing).toMatch(/blobs\/\n/)
    expect(listing).toMatch(/3145735 1970-01-01 00:00 blobs\/big/)
    const a = await ArchiveFile.open(out, 'test')
    expect(a.file('manifest.json', 't').size).toBe(2)
    await a.close()
  })

  it('cuts a failed entry back out, so the same entry can be written again', async () => {
    const d = dir()
    const out = path.join(d, 'x.tar')
    const w = await TarFileWriter.create(out, 'test')
    await w.addBuffer('first', Buffer.from('one'))
    const boom = new AirlockError('DIGEST_MISMATCH', 'bad blob')
    await expect(w.addStream('blob', 2000, failing(Buffer.alloc(1000, 1), boom))).rejects.toBe(boom)
    expect(w.has('blob')).toBe(false)
    // Too few bytes for the declared size fails too, and leaves nothing behind.
    await expect(w.addStream('blob', 2000, Readable.from([Buffer.alloc(10)]))).rejects.toThrow()
    await w.addStream('blob', 2000, Readable.from([Buffer.alloc(2000, 2)]))
    await w.addBuffer('last', Buffer.from('three'))
    await w.commit()
    expect(execFileSync('tar', ['-tf', out]).toString()).toBe('first\nblob\nlast\n')
    const a = await ArchiveFile.open(out, 'test')
    expect(a.file('blob', 't').size).toBe(2000)
    expect((await a.read(a.file('last', 't'))).toString()).toBe('three')
    await a.close()
  })

  it('abort removes the temporary file and leaves an existing FILE alone; commit replaces it', async () => {
    const d = dir()
    const out = path.join(d, 'x.tar')
    writeFileSync(out, 'old')
    const w = await TarFileWriter.create(out, 'test')
    await w.addBuffer('a', Buffer.from('a'))
    await w.abort()
    expect(readdirSync(d)).toEqual(['x.tar'])
    expect(readFileSync(out, 'utf8')).toBe('old')

    const w2 = await TarFileWriter.create(out, 'test')
    await w2.commit()
    expect(readdirSync(d)).toEqual(['x.tar'])
    expect(readFileSync(out).length).toBe(1024) // an empty archive: the two closing zero blocks
    await w2.abort() // after commit: nothing to do
    expect(readdirSync(d)).toEqual(['x.tar'])
  })

  it('refuses a name holding bytes that are not UTF-8 rather than writing it altered', async () => {
    const d = dir()
    const out = path.join(d, 'x.tar')
    const w = await TarFileWriter.create(out, 'test')
    // An archive member name as the index gives it (src/lib/tar/names.ts): caf\xe9 is not UTF-8.
    const latin1 = decodeName(Buffer.from('caf\xe9', 'latin1'))
    await expect(w.addBuffer(latin1, Buffer.from('x'))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('cannot write member'),
    })
    await w.addBuffer('caf\u00e9', Buffer.from('utf8 is fine'))
    await w.commit()
    const a = await ArchiveFile.open(out, 'test')
    try {
      expect([...a.entries.keys()]).toEqual(['caf\u00e9'])
    } finally {
      await a.close()
    }
  })

  it('says when the directory does not exist', async () => {
    const err = await TarFileWriter.create(path.join(root, 'no', 'such', 'x.tar'), 'docker-archive:x').catch(
      (e) => e,
    )
    expect(err).toBeInstanceOf(AirlockError)
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.message).toMatch(/does not exist/)
    expect(err.hint).toMatch(/create the directory first/)
  })
})
