#!/usr/bin/env node
// Fast path: `airlock --version` answers without loading oclif (cold start matters on login nodes).
const argv = process.argv.slice(2)
const isVersion = (a) => a === '--version' || a === '-v'
if (
  (argv.length === 1 && isVersion(argv[0])) ||
  (argv.length === 2 && argv.some(isVersion) && argv.includes('--json'))
) {
  const { readFileSync } = await import('node:fs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const info = { version: pkg.version, node: process.version, platform: process.platform, arch: process.arch }
  process.stdout.write(
    argv.includes('--json')
      ? `${JSON.stringify(info, null, 2)}\n`
      : `airlock/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`,
  )
} else {
  // Global flags given before the command (`airlock --debug copy ...`, as podman allows) move
  // after it, where oclif parses them.
  const GLOBAL = ['--debug', '--json']
  let lead = 0
  while (lead < argv.length && GLOBAL.includes(argv[lead])) lead++
  if (lead > 0 && lead < argv.length) {
    const globals = argv.splice(0, lead)
    const end = argv.indexOf('--')
    argv.splice(end === -1 ? argv.length : end, 0, ...globals)
    process.argv.splice(2, process.argv.length - 2, ...argv)
  }
  // Before anything can print (oclif's DEBUG logging prints argv): every write to stdout and
  // stderr is redacted, with the secrets of argv and the environment known (src/ui/redact.ts).
  const { guardOutput } = await import('../dist/ui/redact.js')
  guardOutput(argv, process.env)
  const { execute, settings } = await import('@oclif/core')
  // The built CLI runs dist/ only: never look for TypeScript sources (oclif would, and warn on
  // stderr, whenever NODE_ENV is "test" or "development"; bin/dev.js is for the sources).
  settings.enableAutoTranspile = false
  await execute({ dir: import.meta.url, args: argv })
}
