#!/usr/bin/env -S node --import tsx --no-warnings
// Development entry: runs the TypeScript sources directly (through tsx), no build needed.
// Output is redacted from the start, as in bin/run.js (src/ui/redact.ts).
const { guardOutput } = await import('../src/ui/redact.ts')
guardOutput(process.argv.slice(2), process.env)
const { execute } = await import('@oclif/core')
await execute({ development: true, dir: import.meta.url })
