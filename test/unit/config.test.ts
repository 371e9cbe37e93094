import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/lib/config/config.js'
import { rejectionOf } from '../helpers/errors.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name)
  await mkdir(join(file, '..'), { recursive: true })
  await writeFile(file, text)
  return file
}

describe('airlock config file', () => {
  it('reads the XDG file when no path is given, and --config / AIRLOCK_CONFIG first', async () => {
    await write(
      'xdg/airlock/config.yaml',
      'harbor:\n  host: harbor.example.org\n  project: MyGroup\nengine: podman\n',
    )
    const other = await write('other.yaml', 'engine: docker\n')
    const env = { XDG_CONFIG_HOME: join(dir, 'xdg'), HOME: dir }
    const cfg = await loadConfig(undefined, env)
    expect(cfg.harbor).toEqual({ host: 'harbor.example.org', project: 'MyGroup' })
    expect(cfg.file).toBe(join(dir, 'xdg/airlock/config.yaml'))
    expect((await loadConfig(undefined, { ...env, AIRLOCK_CONFIG: other })).engine).toBe('docker')
    expect((await loadConfig(other, env)).engine).toBe('docker')
    expect(await loadConfig(undefined, { XDG_CONFIG_HOME: join(dir, 'none'), HOME: dir })).toEqual({})
  })

  it('names file, line, column and what was expected for a wrong value or unknown key', async () => {
    const file = await write('bad.yaml', 'harbor:\n  host: h.org\n  project: 42\nengin: podman\n')
    const err = await rejectionOf(loadConfig(file, {}))
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.message).toContain(`${file}:3:12: harbor.project:`)
    expect(err.message).toMatch(/expected string/)
    expect(err.message).toMatch(/engin/)
  })

  it('reports YAML syntax errors with their position, and a missing explicit file', async () => {
    const file = await write('syntax.yaml', 'harbor:\n  host: [unclosed\n')
    const err = await rejectionOf(loadConfig(file, {}))
    expect(err.message).toMatch(new RegExp(`${file}:\\d+:\\d+: airlock config is not valid YAML`))
    const missing = await rejectionOf(loadConfig(join(dir, 'nope.yaml'), {}))
    expect(missing.code).toBe('INVALID_INPUT')
    expect(missing.message).toContain('nope.yaml')
  })
})
