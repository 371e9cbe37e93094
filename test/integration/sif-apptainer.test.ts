/**
 * The apptainer/singularity builder adapter, against a stand-in executable (apptainer is not
 * packaged for this machine; see test/helpers/apptainer-standin.ts).
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { apptainerUri, buildWithApptainer, findBuilder } from '../../src/lib/sif/apptainer-builder.js'
import { makeApptainerStandIn, type StandIn } from '../helpers/apptainer-standin.js'

let standin: StandIn
let dir: string
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  standin = await makeApptainerStandIn(['apptainer', 'singularity'])
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-apptainer-'))
  env = { ...process.env, PATH: `${standin.binDir}:/usr/bin:/bin` }
})

describe('apptainer builder adapter', () => {
  it('maps airlock references to the URIs apptainer reads', () => {
    expect(apptainerUri('docker-archive:/x/c7.tar')).toBe('docker-archive:///x/c7.tar')
    expect(apptainerUri('oci-archive:/x/a.tar')).toBe('oci-archive:///x/a.tar')
    expect(apptainerUri('oci:/layouts/a:1.0')).toBe('oci:///layouts/a:1.0')
    expect(apptainerUri('docker-daemon:centos:7')).toBe('docker-daemon://centos:7')
    expect(apptainerUri('docker://docker.io/library/alpine:3')).toBe('docker://docker.io/library/alpine:3')
    expect(apptainerUri('containers-storage:alpine')).toBeUndefined()
  })

  it('prefers apptainer, runs `build OUT URI` with the tmpdir setting, and checks the output', async () => {
    const builder = await findBuilder(env)
    expect(builder?.name).toBe('apptainer')
    const archive = join(dir, 'c7.tar')
    await writeFile(archive, 'not really a tar: the stand-in only checks it exists')
    const out = join(dir, 'c7.sif')
    const r = await buildWithApptainer(`docker-archive://${archive}`, out, {
      builder: builder!,
      tmpDir: dir,
      env,
    })
    expect(r.size).toBeGreaterThan(0)
    expect(await readFile(out, 'utf8')).toContain(`docker-archive://${archive}`)
    const calls = await standin.calls()
    expect(calls.at(-1)).toEqual({
      name: 'apptainer',
      argv: ['build', out, `docker-archive://${archive}`],
      tmpdir: dir,
    })
  })

  it('uses singularity when apptainer is absent, with SINGULARITY_TMPDIR', async () => {
    const onlySingularity = await makeApptainerStandIn(['singularity'])
    const env2 = { ...process.env, PATH: `${onlySingularity.binDir}:/usr/bin:/bin` }
    const builder = await findBuilder(env2)
    expect(builder?.name).toBe('singularity')
    const archive = join(dir, 's.tar')
    await writeFile(archive, 'x')
    await buildWithApptainer(`docker-archive://${archive}`, join(dir, 's.sif'), {
      builder: builder!,
      tmpDir: dir,
      env: env2,
    })
    expect((await onlySingularity.calls()).at(-1)?.tmpdir).toBe(dir)
  })

  it("reports the tool's own error text when it fails", async () => {
    const builder = (await findBuilder(env))!
    const archive = join(dir, 'bad.tar')
    await writeFile(archive, 'x')
    let err: unknown
    try {
      await buildWithApptainer(`docker-archive://${archive}`, join(dir, 'bad.sif'), { builder, env })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('EXEC_FAILED')
    expect((err as AirlockError).message).toContain(
      'FATAL:   While performing build: conveyor failed to get: unexpected tar manifest.json: expected 1 item, got 2',
    )
    expect((err as AirlockError).hint).toContain('--builder builtin')
  })
})
