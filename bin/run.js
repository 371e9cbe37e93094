#!/usr/bin/env node
// Fast path: `airlock --version` answers without loading oclif (cold start matters on login nodes).
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const { readFileSync } = await import('node:fs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`airlock/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // Before anything can print (oclif's DEBUG logging prints argv): every write to stdout and
  // stderr is redacted, with the secrets of argv and the environment known (src/ui/redact.ts).
  const { guardOutput } = await import('../dist/ui/redact.js')
  guardOutput(argv, process.env)
  const { execute, settings } = await import('@oclif/core')
  // The built CLI runs dist/ only: never look for TypeScript sources (oclif would, and warn on
  // stderr, whenever NODE_ENV is "test" or "development"; bin/dev.js is for the sources).
  settings.enableAutoTranspile = false
  await execute({ dir: import.meta.url })
}
