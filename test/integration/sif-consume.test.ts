/**
 * writeSif with a squashfs it may consume: in place (fallocate --insert-range) on ext4/XFS, copied
 * where the filesystem cannot insert (tmpfs), and the result the same either way.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { writeSif } from '../../src/lib/sif/sif-writer.js'

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function squashfsIn(base: string): Promise<{ dir: string; sq: string }> {
  const dir = await mkdtemp(join(base, 'airlock-sif-consume-'))
  dirs.push(dir)
  const content = join(dir, 'content')
  execFileSync('mkdir', ['-p', content])
  await writeFile(join(content, 'hello.txt'), 'hello\n')
  const sq = join(dir, 'rootfs.squashfs')
  execFileSync('mksquashfs', [
    content,
    sq,
    '-noappend',
    '-quiet',
    '-no-progress',
    '-all-root',
    '-mkfs-time',
    '0',
    '-all-time',
    '0',
  ])
  return { dir, sq }
}

const plan = {
  definition: 'bootstrap: docker-archive\nfrom: x.tar\n\n',
  json: {},
  arch: 'amd64',
  reproducible: true,
}

describe('writeSif consuming its squashfs', () => {
  it('gives the same SIF in place (ext4) as by copying (tmpfs), and leaves no squashfs behind', async () => {
    const outs: string[] = []
    for (const base of [tmpdir(), '/dev/shm']) {
      const { dir, sq } = await squashfsIn(base)
      const out = join(dir, 'out.sif')
      const r = await writeSif(out, plan, { file: sq, consume: true })
      await expect(stat(sq)).rejects.toThrow()
      expect(execFileSync('siftool', ['list', out], { encoding: 'utf8' })).toMatch(
        /FS \(Squashfs\/\*System\/amd64\)/,
      )
      expect(
        execFileSync('unsquashfs', ['-o', String(r.partition.offset), '-l', out], { encoding: 'utf8' }),
      ).toContain('squashfs-root/hello.txt')
      expect(r.sha256).toBe(execFileSync('sha256sum', [out], { encoding: 'utf8' }).split(' ')[0])
      outs.push(r.sha256)
    }
    expect(outs[0]).toBe(outs[1])
  })
})
