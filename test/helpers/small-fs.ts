/**
 * Small or read-only file systems for tests of disk errors (ENOSPC, EROFS): a tmpfs mounted on a
 * temporary directory. Needs root (CI and the development machines run as root); a test that needs
 * one fails with that reason rather than being skipped.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface SmallFs {
  dir: string
  unmount(): void
}

export function mountSmallFs(opts: { bytes: number; readOnly?: boolean }): SmallFs {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-smallfs-'))
  const options = `size=${opts.bytes},mode=0755${opts.readOnly ? ',ro' : ''}`
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'airlock-test', dir], { stdio: 'pipe' })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `mounting a ${opts.bytes}-byte tmpfs on ${dir} failed (this test needs root): ${(err as Error).message}`,
    )
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
