/**
 * Progress goes to stderr, always, and says what is true (issue 16, items 1 and 9).
 *
 * Under a real pseudo-terminal (util-linux `script`), with stdout redirected to a file: the file
 * holds exactly one JSON document and the terminal transcript (stderr) the listr2 progress. listr2
 * picks its renderer by stdout alone and used to print through its simple renderer to stdout when
 * stdout was a file (src/ui/listr-stderr.ts). And in-process: the copy progress total is known
 * before any blob starts, never changes, and is the bytes of the blobs sent or checked.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { copyImage } from '../../src/lib/copy/copy-image.js'
import type { CopyEvent } from '../../src/lib/copy/events.js'
import { byteLine } from '../../src/ui/byte-progress.js'
import { CopyProgressModel } from '../../src/ui/copy-progress.js'
import { BIN, isolatedEnv, runCli } from '../helpers/cli.js'
import {
  blob,
  type GeneratedIndex,
  MANIFEST_INDENT,
  MEDIA_TYPES,
  makeImagesSharingBase,
  pushRaw,
} from '../helpers/images.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let reg: TestRegistry
let podman: Podman
let dir: string
let shared: GeneratedIndex

beforeAll(async () => {
  ;[reg, podman, dir] = await Promise.all([
    startRegistry(),
    makePodman(),
    mkdtemp(join(tmpdir(), 'airlock-cli-tty-')),
  ])
  // Two platforms sharing their two base layers (1 MB and 2 MB), one layer of their own each.
  const [amd, arm] = await makeImagesSharingBase({
    count: 2,
    baseSizes: [1_000_000, 2_000_000],
    topSize: 500_000,
  })
  const images = [
    { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
    { ...arm, platform: { os: 'linux', architecture: 'arm64' } },
  ]
  const mt = MEDIA_TYPES.oci
  const indexJson = {
    schemaVersion: 2,
    mediaType: mt.index,
    manifests: images.map((img) => ({
      mediaType: mt.manifest,
      digest: img.manifest.digest,
      size: img.manifest.bytes.length,
      platform: img.platform,
    })),
  }
  shared = { index: blob(Buffer.from(JSON.stringify(indexJson, null, MANIFEST_INDENT)), mt.index), images }
  await pushRaw(reg, 'tty/app', '1', shared)
}, 120_000)

afterAll(async () => {
  await Promise.all([reg?.stop(), podman?.cleanup()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

/**
 * Runs the CLI on a terminal (script's pseudo-terminal, 120 columns: a bar needs 40) with stdout
 * redirected to a file: stderr is the terminal. Returns the transcript and the file.
 */
async function onTerminal(
  args: string[],
  name: string,
  env: NodeJS.ProcessEnv = isolatedEnv(),
): Promise<{ code: number; transcript: string; stdout: string }> {
  const out = join(dir, `${name}.out`)
  const cmd = `stty cols 120; exec ${process.execPath} ${BIN} ${args.join(' ')} > ${out}`
  const r = await new Promise<{ code: number; transcript: string }>((resolve) => {
    execFile('script', ['-qefc', cmd, '/dev/null'], { env, timeout: 120_000 }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, transcript: String(stdout) })
    })
  })
  return { ...r, stdout: await readFile(out, 'utf8') }
}

/** The file holds one JSON document and nothing else (JSON.parse refuses anything after it). */
function oneJson(text: string): Record<string, unknown> {
  const doc = JSON.parse(text)
  expect(typeof doc).toBe('object')
  return doc
}

describe('--json with stdout redirected and stderr on a terminal', () => {
  it('copy: one JSON document in the file, the listr2 bar with totals, speed and phases on the terminal', async () => {
    const r = await onTerminal(['copy', '--json', `${reg.host}/tty/app:1`, `${reg.host}/tty/copy:1`], 'copy')
    expect(r.code, r.transcript + r.stdout).toBe(0)
    const doc = oneJson(r.stdout)
    expect(doc.destinationDigest).toBe(shared.index.digest)
    expect(r.stdout).not.toContain('[#')
    // The bar, drawn on the terminal: per platform, and the distinct bytes of the whole copy.
    expect(r.transcript).toMatch(/linux\/amd64\s+\[#+\] [\d.]+ MiB \/ [\d.]+ MiB/)
    expect(r.transcript).toContain('Copying')
    expect(r.transcript).toMatch(/done: [\d.]+ MiB sent or checked/)
    expect(r.transcript).not.toContain('0 B / 0 B')
    expect(r.transcript).not.toContain('{')
  })

  it('pull into podman: one JSON document in the file, progress on the terminal', async () => {
    const env = isolatedEnv({ ...podman.env, TMPDIR: podman.dir })
    const r = await onTerminal(
      ['pull', '--json', '--engine', 'podman', '--tls-verify=false', `${reg.host}/tty/app:1`],
      'pull',
      env,
    )
    expect(r.code, r.transcript + r.stdout).toBe(0)
    oneJson(r.stdout)
    expect(r.transcript).toContain('Pulling')
    expect(r.transcript).toMatch(/\[#+\]/)
  })

  it('bundle load: one JSON document in the file, progress on the terminal', async () => {
    const bundle = join(dir, 'b.tar')
    const c = await runCli(['bundle', 'create', '-o', bundle, '--tls-verify=false', `${reg.host}/tty/app:1`])
    expect(c.code, c.stderr).toBe(0)
    await podman.run(['rmi', '--all', '--force']) // the pull above loaded the same image
    const env = isolatedEnv({ ...podman.env, TMPDIR: podman.dir })
    const r = await onTerminal(['bundle', 'load', '--json', bundle], 'bundle-load', env)
    expect(r.code, r.transcript + r.stdout).toBe(0)
    const doc = oneJson(r.stdout)
    expect(doc.engine).toBe('podman')
    expect(r.transcript).toContain(`Loading ${bundle}`)
    expect(r.transcript).toMatch(/\[#+\]/)
  })
})

describe('sif build names its steps instead of a bar that fills at the compressed size', () => {
  it('plain lines name each step; a terminal shows the step at once and no bar', async () => {
    const archive = join(dir, 'app.tar')
    const c = await runCli([
      'copy',
      '--platform',
      'linux/amd64',
      `${reg.host}/tty/app:1`,
      `docker-archive:${archive}`,
    ])
    expect(c.code, c.stderr).toBe(0)
    const plain = await runCli(
      ['sif', 'build', '--builder', 'builtin', archive, '-o', join(dir, 'plain.sif')],
      {
        timeoutMs: 120_000,
      },
    )
    expect(plain.code, plain.stderr).toBe(0)
    const steps = plain.stderr
      .split('\n')
      .filter((l) => /^ {2}(reading layers|building squashfs|writing SIF)$/.test(l))
    expect(steps.at(-1)).toBe('  writing SIF')
    expect(steps).toContain('  building squashfs')
    expect(plain.stderr).not.toContain('(compressed)')

    const r = await onTerminal(
      ['sif', 'build', '--builder', 'builtin', archive, '-o', join(dir, 'tty.sif')],
      'sif',
    )
    expect(r.code, r.transcript).toBe(0)
    expect(r.transcript).not.toMatch(/\[#+-*\]/)
    // What the terminal line says (drawn every 100 ms, so a build this small ends before the first).
    expect(
      byteLine(
        { done: 0, total: 3_000_000, phase: 'reading layers' },
        undefined,
        'of the root filesystem',
        false,
      ),
    ).toBe('reading layers…')
    expect(
      byteLine(
        { done: 9_000_000, total: 3_000_000, phase: 'building squashfs' },
        2_000_000,
        'of the root filesystem',
        false,
      ),
    ).toMatch(/^building squashfs: [\d.]+ MiB of the root filesystem, [\d.]+ MiB\/s$/)
    // With a real total (uploads, bundles): a bar, speed and time left; nothing before bytes move.
    expect(byteLine({ done: 1_048_576, total: 4_194_304 }, 1_048_576, 'sent', true)).toMatch(
      /^\[#{6}-{18}\] 1(\.00?)? MiB \/ 4(\.00?)? MiB sent, 1(\.00?)? MiB\/s, 3s left$/,
    )
    expect(byteLine({ done: 0, total: 0 }, undefined, 'sent', true)).toBe('starting…')
  })
})

describe('copy progress tells the truth', () => {
  it('knows the total before any blob starts, never changes it, and ends at the bytes sent', async () => {
    const model = new CopyProgressModel()
    const seen: Array<{ type: CopyEvent['type']; total: number; done: number }> = []
    const result = await copyImage(`docker://${reg.host}/tty/app:1`, `oci:${join(dir, 'layout')}:1`, {
      source: { registry: { tlsVerify: false } },
      onEvent: (e) => {
        model.onEvent(e)
        seen.push({ type: e.type, total: model.total, done: model.done })
      },
    })
    // Distinct blobs: two configs, two top layers, the two shared base layers once.
    const distinct = new Map<string, number>()
    for (const img of shared.images)
      for (const b of [img.config, ...img.layers]) distinct.set(b.digest, b.bytes.length)
    const bytes = [...distinct.values()].reduce((a, b) => a + b, 0)
    expect(result.bytes.copied).toBe(bytes)
    const firstBlob = seen.findIndex((s) => s.type === 'blob-start')
    expect(firstBlob).toBeGreaterThan(0)
    // From the first blob on, the total is the whole: it neither grows nor shrinks.
    for (const s of seen.slice(firstBlob)) expect(s.total).toBe(bytes)
    for (let i = 1; i < seen.length; i++) expect(seen[i].total).toBeGreaterThanOrEqual(seen[i - 1].total)
    expect(model.done).toBe(bytes)
    // Each platform's line ends full: its own blobs, shared ones included.
    for (const img of shared.images) {
      const line = model.images.get(img.manifest.digest)
      const own = [img.config, ...img.layers].reduce((a, b) => a + b.bytes.length, 0)
      expect(line && [line.done, line.total]).toEqual([own, own])
    }
    expect(model.lines().at(-1)).toMatch(/^done: /)
  })

  it('counts blobs mounted from another repository as checked, so that copy also ends full', async () => {
    const model = new CopyProgressModel()
    const r = await copyImage(`docker://${reg.host}/tty/app:1`, `docker://${reg.host}/tty/again:1`, {
      source: { registry: { tlsVerify: false } },
      destination: { registry: { tlsVerify: false } },
      onEvent: model.onEvent,
    })
    expect(r.bytes.copied).toBe(0)
    expect(r.blobs.mounted).toBe(6)
    expect(model.total).toBeGreaterThan(3_000_000)
    expect(model.done).toBe(model.total)
    expect(model.lines().join('\n')).not.toContain('0 B / 0 B')
  })

  it('shows the phase at once, before anything is known, and never "0 B / 0 B"', () => {
    const model = new CopyProgressModel()
    expect(model.lines()).toEqual(['resolving'])
  })
})
