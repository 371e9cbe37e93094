#!/usr/bin/env node
/**
 * `npm test`: build, lint, type check and the whole suite, on the Node.js LTS the release ships when
 * scripts/setup.sh has fetched it (scripts/lts-node.mjs), else on this Node with a notice. The LTS
 * `node` goes first on PATH, so npm, vitest, its workers and every CLI the tests start run on it.
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ltsNodeDir } from './lts-node.mjs'

const dir = ltsNodeDir()
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '.bin')
const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` }
if (dir) env.PATH = `${dir}${path.delimiter}${env.PATH}`
else
  process.stderr.write(
    `test: the release's Node LTS is not fetched (scripts/setup.sh does it); testing on ${process.version}\n`,
  )
const steps = 'node --version && npm run build && npm run lint && npm run typecheck && vitest run'
const r = spawnSync('sh', ['-c', `${steps} "$@"`, 'sh', ...process.argv.slice(2)], { stdio: 'inherit', env })
process.exit(r.status ?? 1)
