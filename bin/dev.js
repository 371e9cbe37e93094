#!/usr/bin/env -S node --import tsx --no-warnings
// Development entry: runs the TypeScript sources directly (through tsx), no build needed.
// Output is redacted before oclif runs, as in bin/run.js (src/ui/redact.ts). Static imports only:
// with dynamic imports, tsx failed to parse this file (Parse error at its last line).
import { execute } from '@oclif/core'
import { guardOutput } from '../src/ui/redact.ts'

guardOutput(process.argv.slice(2), process.env)
await execute({ development: true, dir: import.meta.url })
