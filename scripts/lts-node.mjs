#!/usr/bin/env node
/**
 * The Node.js LTS that the release ships (NODE_VERSION in scripts/release.mjs), for running the test
 * suite on it: a Debian machine's own Node may be older (Debian 12's Node 20 is past its end of life).
 * It is the npm registry's node-linux-<arch>@NODE_VERSION, the package the release tarball takes its
 * runtime from, fetched into the same cache (release/.cache, checked against the registry's integrity)
 * and unpacked once into release/.cache/node-<version>-<arch>/.
 *
 *   node scripts/lts-node.mjs           fetch if needed; print the directory that holds `node`
 *   node scripts/lts-node.mjs --check   print it only if it is already there (exit 1 otherwise)
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_VERSION, runtimePackage } from './release.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CACHE = path.join(ROOT, 'release', '.cache')
const ARCH = { x64: 'x64', arm64: 'arm64' }[process.arch]

/** The directory holding the LTS `node`, or undefined when it is not unpacked yet. */
export function ltsNodeDir() {
  if (!ARCH) return undefined
  const bin = path.join(CACHE, `node-${NODE_VERSION}-${ARCH}`, 'bin')
  return existsSync(path.join(bin, 'node')) ? bin : undefined
}

/** Fetches and unpacks the LTS `node` when missing; returns its directory. */
export function ensureLtsNode() {
  if (!ARCH) throw new Error(`no node-linux package for ${process.arch}`)
  const have = ltsNodeDir()
  if (have) return have
  const tgz = runtimePackage(ARCH, CACHE)
  const dir = path.join(CACHE, `node-${NODE_VERSION}-${ARCH}`)
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  execFileSync('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1', 'package/bin/node'])
  const version = execFileSync(path.join(tmp, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim()
  if (version !== `v${NODE_VERSION}`)
    throw new Error(`the unpacked node says ${version}, not v${NODE_VERSION}`)
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return path.join(dir, 'bin')
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const dir = ltsNodeDir()
    if (!dir) process.exit(1)
    process.stdout.write(`${dir}\n`)
  } else {
    process.stdout.write(`${ensureLtsNode()}\n`)
  }
}
