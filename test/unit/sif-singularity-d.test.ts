// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text with ${VAR} expansions
/**
 * /.singularity.d for a docker-archive build (src/lib/sif/singularity-d.ts, singularity-scripts.ts):
 * the file set and modes of apptainer's internal/pkg/build/sources/base_environment.go, the env script
 * and runscript run by a real POSIX sh (dash), labels.json, the def text, and the SIF JSON objects.
 */
import { execFile } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExtraEntry } from '../../src/lib/sif/flatten.js'
import { buildDate, defSource, singularityFiles } from '../../src/lib/sif/singularity-d.js'

const exec = promisify(execFile)
const created = new Date('2024-05-06T07:08:09Z')
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sd-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function files(config: Parameters<typeof singularityFiles>[0]) {
  return singularityFiles(config, { from: 'app.tar', arch: 'amd64', created })
}

function entry(list: ExtraEntry[] | undefined, path: string): ExtraEntry {
  const e = list?.find((x) => x.path === path)
  if (!e) throw new Error(`no ${path}`)
  return e
}

/** Runs `script` (a file's text) with sh, with arguments and environment. */
async function sh(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const file = join(dir, `s${Math.random().toString(36).slice(2)}`)
  await writeFile(file, script)
  await chmod(file, 0o755)
  return exec('/bin/sh', [file, ...args], { env: { PATH: '/usr/bin:/bin', HOME: '/home/u', ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  )
}

describe('singularityFiles', () => {
  it('writes the file set of apptainer docker-archive builds, root-owned, at the build time', () => {
    const { extra } = files({})
    const over = Object.fromEntries((extra.override ?? []).map((e) => [e.path, e.mode.toString(8)]))
    expect(over).toEqual({
      '.singularity.d/actions/exec': '755',
      '.singularity.d/actions/run': '755',
      '.singularity.d/actions/shell': '755',
      '.singularity.d/actions/start': '755',
      '.singularity.d/actions/test': '755',
      '.singularity.d/env/01-base.sh': '755',
      '.singularity.d/env/10-docker2singularity.sh': '755',
      '.singularity.d/env/90-environment.sh': '755',
      '.singularity.d/env/95-apps.sh': '755',
      '.singularity.d/env/99-base.sh': '755',
      '.singularity.d/env/99-runtimevars.sh': '755',
      '.singularity.d/runscript': '755',
      '.singularity.d/startscript': '755',
      '.singularity.d/labels.json': '644',
      '.singularity.d/Singularity': '644',
      'etc/hosts': '644',
      'etc/resolv.conf': '644',
    })
    expect(entry(extra.override, 'etc/hosts').data?.length).toBe(0)
    const missing = Object.fromEntries(
      (extra.ifMissing ?? []).map((e) => [e.path, e.type === 'symlink' ? `-> ${e.target}` : e.type]),
    )
    expect(missing).toEqual({
      '.singularity.d': 'directory',
      '.singularity.d/actions': 'directory',
      '.singularity.d/env': 'directory',
      '.singularity.d/libs': 'directory',
      dev: 'directory',
      proc: 'directory',
      root: 'directory',
      var: 'directory',
      'var/tmp': 'directory',
      tmp: 'directory',
      etc: 'directory',
      sys: 'directory',
      home: 'directory',
      singularity: '-> .singularity.d/runscript',
      '.run': '-> .singularity.d/actions/run',
      '.exec': '-> .singularity.d/actions/exec',
      '.test': '-> .singularity.d/actions/test',
      '.shell': '-> .singularity.d/actions/shell',
      environment: '-> .singularity.d/env/90-environment.sh',
    })
    for (const e of [...(extra.override ?? []), ...(extra.ifMissing ?? [])]) {
      expect(e.uid ?? 0).toBe(0)
      expect(e.mtime).toEqual(created)
    }
  })

  it('every script is valid sh and bash', async () => {
    const { extra } = files({ Env: ['A=1'], Entrypoint: ['/x'], Cmd: ['y'] })
    for (const e of extra.override ?? []) {
      if (!e.data?.toString().startsWith('#!/bin/sh')) continue
      const file = join(dir, 'syntax.sh')
      await writeFile(file, e.data)
      await exec('dash', ['-n', file])
      await exec('bash', ['-n', file])
    }
  })

  it('env script: PATH set, other variables default to the image value, odd names skipped', async () => {
    const env = [
      'PATH=/opt/bin:/usr/bin:/bin',
      'LANG=C.UTF-8',
      'EMPTY=',
      'BARE',
      "TRICKY=a\"b $HOME `id` \\n'q' }",
      'WITH_EQ=x=y',
      '1BAD=x',
      'with-dash=y',
    ]
    const script =
      entry(
        files({ Env: env }).extra.override,
        '.singularity.d/env/10-docker2singularity.sh',
      ).data?.toString() ?? ''
    expect(script.split('\n')).toEqual([
      '#!/bin/sh',
      'export PATH="/opt/bin:/usr/bin:/bin"',
      'export LANG="${LANG:-"C.UTF-8"}"',
      'export EMPTY="${EMPTY:-""}"',
      'export BARE="${BARE:-}"',
      'export TRICKY="${TRICKY:-"a\\"b \\$HOME \\`id\\` \\\\n\'q\' }"}"',
      'export WITH_EQ="${WITH_EQ:-"x=y"}"',
      '',
    ])
    const show = `. ${join(dir, 'env.sh')}\nprintf '%s|' "$PATH" "$LANG" "$TRICKY" "$WITH_EQ" "\${BARE-unset}"\n`
    await writeFile(join(dir, 'env.sh'), script)
    expect((await sh(show)).stdout).toBe("/opt/bin:/usr/bin:/bin|C.UTF-8|a\"b $HOME `id` \\n'q' }|x=y||")
    expect((await sh(show, [], { LANG: 'de_DE', PATH: '/host' })).stdout).toMatch(
      /^\/opt\/bin:\/usr\/bin:\/bin\|de_DE\|/,
    )
  })

  it('runscript: ENTRYPOINT then CMD or the arguments, evaluated by default, literal with --no-eval', async () => {
    const run = (config: Parameters<typeof files>[0]) =>
      entry(files(config).extra.override, '.singularity.d/runscript').data?.toString() ?? ''
    const both = run({ Entrypoint: ['printf', '%s|'], Cmd: ['a b', "it's", '$HOME'] })
    expect(both).toContain(`OCI_ENTRYPOINT='"printf" "%s|"'\n`)
    expect(both).toContain(`OCI_CMD='"a b" "it'"'"'s" "\\$HOME"'\n`)
    expect((await sh(both)).stdout).toBe("a b|it's|$HOME|")
    expect((await sh(both, ['x y', '$HOME'])).stdout).toBe('x y|/home/u|')
    expect((await sh(both, ['x y', '$HOME'], { APPTAINER_NO_EVAL: '1' })).stdout).toBe('x y|$HOME|')
    expect((await sh(both, [], { SINGULARITY_NO_EVAL: '1' })).stdout).toBe("a b|it's|$HOME|")

    const cmdOnly = run({ Cmd: ['printf', '%s-', 'c'] })
    expect((await sh(cmdOnly)).stdout).toBe('c-')
    expect((await sh(cmdOnly, ['printf', '[%s]', 'args win'])).stdout).toBe('[args win]')
    const epOnly = run({ Entrypoint: ['printf', '<%s>'] })
    expect((await sh(epOnly, ['z'])).stdout).toBe('<z>')

    const nothing = await sh(run({}))
    expect(nothing.code).toBe(1)
    expect(nothing.stderr).toContain('no ENTRYPOINT or CMD')
  })

  it('labels.json: image labels, build labels over them, tab-indented and sorted like Go', () => {
    const out = singularityFiles(
      { Labels: { 'org.label-schema.schema-version': '0.9', zeta: 'last', maintainer: 'a <b@c>' } },
      { from: 'x.tar', arch: 'arm64', variant: 'v8', created, apptainerVersion: '1.3.4' },
    )
    const text =
      out.extra.override?.find((e) => e.path === '.singularity.d/labels.json')?.data?.toString() ?? ''
    expect(text.startsWith('{\n\t"maintainer": "a \\u003cb@c\\u003e",\n')).toBe(true)
    expect(JSON.parse(text)).toEqual({
      maintainer: 'a <b@c>',
      zeta: 'last',
      'org.label-schema.schema-version': '1.0',
      'org.opencontainers.image.created': '2024-05-06T07:08:09Z',
      'org.label-schema.build-date': 'Monday_6_May_2024_7:8:9_UTC',
      'org.label-schema.usage.apptainer.version': '1.3.4',
      'org.label-schema.usage.singularity.deffile.bootstrap': 'docker-archive',
      'org.label-schema.usage.singularity.deffile.from': 'x.tar',
      'org.opencontainers.image.architecture': 'arm64',
      'org.opencontainers.image.variant': 'v8',
      'org.label-schema.build-arch': 'arm64',
    })
    expect(Object.keys(JSON.parse(text))).toEqual(Object.keys(JSON.parse(text)).sort())
    expect(buildDate(new Date('2023-12-31T23:59:05Z'))).toBe('Sunday_31_December_2023_23:59:5_UTC')
  })

  it('bootstrap and from name the real source, as apptainer writes them for the same URI', () => {
    expect(defSource('docker://127.0.0.1:5000/lab/app:1')).toEqual({
      bootstrap: 'docker',
      from: '127.0.0.1:5000/lab/app:1',
    })
    expect(defSource('alpine:3.20')).toEqual({ bootstrap: 'docker', from: 'alpine:3.20' })
    expect(defSource('docker-archive:/scratch/build/app.tar')).toEqual({
      bootstrap: 'docker-archive',
      from: 'app.tar',
    })
    expect(defSource('oci-archive:/scratch/app.oci.tar')).toEqual({
      bootstrap: 'oci-archive',
      from: 'app.oci.tar',
    })
    expect(defSource('oci:/scratch/layout:1')).toEqual({ bootstrap: 'oci', from: '/scratch/layout:1' })
    expect(defSource('docker-daemon:app:1')).toEqual({ bootstrap: 'docker-daemon', from: 'app:1' })
    expect(defSource('containers-storage:localhost/app:1')).toEqual({
      bootstrap: 'containers-storage',
      from: 'localhost/app:1',
    })
    const out = singularityFiles({}, { ...defSource('docker://alpine:3.20'), arch: 'amd64', created })
    expect(out.deffile.toString()).toBe('bootstrap: docker\nfrom: alpine:3.20\n\n')
    expect(out.labels).toMatchObject({
      'org.label-schema.usage.singularity.deffile.bootstrap': 'docker',
      'org.label-schema.usage.singularity.deffile.from': 'alpine:3.20',
    })
  })

  it('def text, oci-config.json and inspect-metadata.json', () => {
    const config = { Env: ['A=1'], Cmd: ['/bin/sh'], WorkingDir: '/w', Labels: { k: 'v' } }
    const out = files(config)
    expect(out.deffile.toString()).toBe('bootstrap: docker-archive\nfrom: app.tar\n\n')
    expect(entry(out.extra.override, '.singularity.d/Singularity').data?.toString()).toBe(
      out.deffile.toString(),
    )
    expect(JSON.parse(out.ociConfigJson.toString())).toEqual(config)
    const meta = JSON.parse(out.inspectMetadataJson.toString())
    expect(meta.type).toBe('container')
    expect(Object.keys(meta.data.attributes)).toEqual([
      'environment',
      'labels',
      'runscript',
      'deffile',
      'startscript',
    ])
    expect(meta.data.attributes.labels.k).toBe('v')
    expect(meta.data.attributes.deffile).toBe('bootstrap: docker-archive\nfrom: app.tar')
    expect(meta.data.attributes.runscript).toMatch(/^#!\/bin\/sh\nOCI_ENTRYPOINT=''\nOCI_CMD='"\/bin\/sh"'\n/)
    expect(meta.data.attributes.environment['/.singularity.d/env/10-docker2singularity.sh']).toBe(
      '#!/bin/sh\nexport A="${A:-"1"}"',
    )
    expect(Object.keys(meta.data.attributes.environment)).toEqual([
      '/.singularity.d/env/10-docker2singularity.sh',
      '/.singularity.d/env/90-environment.sh',
    ])
  })
})
