/**
 * apptainer is not packaged for Debian and cannot run here: this is a stand-in executable, not
 * apptainer. It checks the arguments and environment airlock gives it the way `apptainer build`
 * would use them (`build [flags] OUT.sif URI`, the source file exists, APPTAINER_TMPDIR is a
 * writable directory), records them, and either writes a placeholder file at OUT or fails with
 * apptainer's own message style ("FATAL:   ...") when the source is named bad.tar.
 */
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface StandIn {
  /** Directory to put first on PATH. */
  binDir: string
  /** The calls recorded, oldest first. */
  calls(): Promise<Array<{ argv: string[]; tmpdir?: string; name: string }>>
}

const SCRIPT = `#!/usr/bin/env node
const fs = require('node:fs')
const path = require('node:path')
const name = path.basename(process.argv[1])
const argv = process.argv.slice(2)
const prefix = name === 'apptainer' ? 'APPTAINER' : 'SINGULARITY'
const tmp = process.env[prefix + '_TMPDIR']
fs.appendFileSync(process.env.STANDIN_LOG, JSON.stringify({ name, argv, tmpdir: tmp }) + '\\n')
const fatal = (m) => { process.stderr.write('INFO:    Starting build...\\nFATAL:   ' + m + '\\n'); process.exit(255) }
if (argv[0] !== 'build') fatal('unknown command ' + argv[0])
const [out, uri] = argv.slice(-2)
if (!out || !out.endsWith('.sif')) fatal('output must be a .sif path, got ' + out)
const m = /^(docker-archive|oci-archive|oci|docker|docker-daemon):\\/\\/(.+)$/.exec(uri || '')
if (!m) fatal('Unable to parse source URI ' + uri)
if (tmp && !fs.statSync(tmp, { throwIfNoEntry: false })?.isDirectory()) fatal('tmpdir ' + tmp + ' does not exist')
if (m[1] === 'docker-archive' || m[1] === 'oci-archive') {
  const file = m[2].replace(/:[^/]*$/, (s) => (fs.existsSync(m[2]) ? '' : s))
  if (!fs.existsSync(m[2]) && !fs.existsSync(file)) fatal('While performing build: conveyor failed to get: open ' + m[2] + ': no such file or directory')
  if (path.basename(m[2]) === 'bad.tar') fatal('While performing build: conveyor failed to get: unexpected tar manifest.json: expected 1 item, got 2')
}
fs.writeFileSync(out, 'stand-in SIF for ' + uri + '\\n', { mode: 0o755 })
process.stdout.write('INFO:    Build complete: ' + out + '\\n')
`

export async function makeApptainerStandIn(
  names: Array<'apptainer' | 'singularity'> = ['apptainer'],
): Promise<StandIn> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-apptainer-standin-'))
  const binDir = join(dir, 'bin')
  await mkdir(binDir)
  for (const n of names) {
    await writeFile(join(binDir, n), SCRIPT)
    await chmod(join(binDir, n), 0o755)
  }
  const log = join(dir, 'calls.jsonl')
  await writeFile(log, '')
  process.env.STANDIN_LOG = log
  return {
    binDir,
    async calls() {
      const text = await readFile(log, 'utf8')
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    },
  }
}
