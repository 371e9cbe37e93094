/**
 * One table of exit codes for the same mistakes across commands (the built CLI): a file or directory
 * the user named that is not there is bad input (2); a disk or permission failure during the work is
 * IO_FAILED (1), naming the path with a hint; when every image of a mirror or bundle failed the run
 * failed (1), not "partly failed" (3). Read-only disks are real tmpfs mounts; the unreachable registry
 * is a closed port on 127.0.0.1.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTempDir } from '../../src/lib/engine/temp-dir.js'
import { isolatedEnv, runCli } from '../helpers/cli.js'
import { makeImage, writeOciLayout } from '../helpers/images.js'
import { mountSmallFs, type SmallFs } from '../helpers/small-fs.js'

let work: string
let layout: string
let ro: SmallFs
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'airlock-exit-codes-'))
  layout = join(work, 'layout')
  await writeOciLayout(layout, [
    { tag: 'x', image: await makeImage({ layerSizes: [1000], format: 'oci', seed: 901 }) },
  ])
  ro = mountSmallFs({ bytes: 1024 * 1024, readOnly: true })
})
afterAll(async () => {
  ro?.unmount()
  await rm(work, { recursive: true, force: true })
})

describe('a path the user gave that is not there: exit 2, naming it, with a hint', () => {
  it('a missing mirror spec, as a missing archive', async () => {
    const spec = join(work, 'no-such-mirror.yaml')
    const r = await runCli(['mirror', spec])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toContain(`cannot read mirror spec ${spec}: no such file`)
    expect(r.stderr).toMatch(/\nHint: check the path of the mirror spec/)
    const archive = join(work, 'no-such.tar')
    const a = await runCli(['copy', `oci-archive:${archive}`, `oci:${join(work, 'out')}:x`])
    expect(a.code, a.stderr).toBe(2)
    expect(a.stderr).toContain(`${archive} does not exist`)
  })

  it('save -o and sif build -o into a directory that does not exist', async () => {
    const save = await runCli(['save', `oci:${layout}:x`, '-o', '/nodir-airlock/x.tar'])
    expect(save.code, save.stderr).toBe(2)
    expect(save.stderr).toContain('cannot write /nodir-airlock/x.tar: /nodir-airlock does not exist')
    expect(save.stderr).toMatch(/\nHint: create the directory first/)
    const archive = join(work, 'img.tar')
    expect((await runCli(['save', `oci:${layout}:x`, '--format', 'oci-archive', '-o', archive])).code).toBe(0)
    const sif = await runCli(['sif', 'build', `oci-archive:${archive}`, '-o', '/nodir-airlock/x.sif'])
    expect(sif.code, sif.stderr).toBe(2)
    expect(sif.stderr).toContain('/nodir-airlock')
    expect(sif.stderr).toMatch(/\nHint: create the directory first/)
  })
})

describe('a disk or permission failure: exit 1, IO_FAILED naming the path, with a hint', () => {
  it('save -o onto a read-only file system', async () => {
    const out = join(ro.dir, 'x.tar')
    const r = await runCli(['save', `oci:${layout}:x`, '-o', out])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`${ro.dir}/x\\.tar\\S* failed: read-only file system \\(EROFS\\)`))
    expect(r.stderr).toContain('Hint: write to a writable directory')
    const j = await runCli(['save', `oci:${layout}:x`, '-o', out, '--json'])
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'IO_FAILED' } })
  })

  it('logout writing an auth file on a read-only file system', async () => {
    const fs = mountSmallFs({ bytes: 1024 * 1024 })
    try {
      const auth = join(fs.dir, 'auth.json')
      await writeFile(auth, JSON.stringify({ auths: { '127.0.0.1:1': { auth: 'YTpi' } } }))
      const { execFileSync } = await import('node:child_process')
      execFileSync('mount', ['-o', 'remount,ro', fs.dir])
      const r = await runCli(['logout', '--authfile', auth, '127.0.0.1:1'])
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toMatch(
        new RegExp(`creating ${fs.dir}/auth\\.json\\S* failed: read-only file system \\(EROFS\\)`),
      )
      expect(r.stderr).toContain('Hint: write to a writable directory')
    } finally {
      fs.unmount()
    }
  })

  it('a temporary directory on a read-only file system is IO_FAILED; one that is not there is bad input', async () => {
    await expect(makeTempDir({ tmpDir: ro.dir }, 'test')).rejects.toMatchObject({
      code: 'IO_FAILED',
      message: expect.stringContaining(`${ro.dir}/airlock-test-`),
      hint: expect.stringContaining('TMPDIR'),
    })
    await expect(makeTempDir({ tmpDir: join(work, 'not-there') }, 'test')).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining(`${join(work, 'not-there')}: it does not exist`),
    })
  })
})

describe('every image failed: exit 1, not "partly failed" (3)', () => {
  it('a mirror whose every image fails', async () => {
    const spec = join(work, 'all-fail.yaml')
    await writeFile(
      spec,
      'defaults:\n  target: 127.0.0.1:1\n  retries: 0\nimages:\n  - "127.0.0.1:1/lib/a:1"\n  - "127.0.0.1:1/lib/b:1"\n',
    )
    const home = join(work, 'home-mirror')
    await mkdir(home, { recursive: true })
    const r = await runCli(['mirror', spec, '--json'], { env: isolatedEnv({ HOME: home }) })
    expect(r.code, r.stderr).toBe(1)
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 1 })
  })

  it('a bundle create whose every image fails', async () => {
    const r = await runCli(['bundle', 'create', '-o', join(work, 'all-fail.tar'), '127.0.0.1:1/lib/a:1'])
    expect(r.code, r.stderr).toBe(1)
  })
})
