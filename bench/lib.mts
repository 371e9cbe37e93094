/**
 * Shared code of the benchmarks: running and timing the two CLIs, the build under test, fresh
 * registries, the source image and interleaved copy trials. Statistics, the result table, machine
 * facts, results files and the stand-alone entry point are in report.mts, re-exported here.
 *
 * Every benchmark compares airlock with skopeo on the same machine in the same run and reports
 * ratios (airlock / skopeo), so the figures mean something on any machine.
 */
import { spawn } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import {
  fetchManifestRaw,
  type GeneratedImage,
  type MakeImageOptions,
  makeImage,
  pushRaw,
} from '../test/helpers/images.js'
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js'
import { log, ROOT, round } from './report.mjs'

export * from './report.mjs'

export type Tool = 'airlock' | 'skopeo'

// ---------------------------------------------------------------------------------------------------
// Environments: neither tool may read the developer's auth files.
// ---------------------------------------------------------------------------------------------------

const home = mkdtempSync(path.join(tmpdir(), 'airlock-bench-home-'))
process.on('exit', () => rmSync(home, { recursive: true, force: true }))
const baseEnv: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') }
for (const k of ['XDG_RUNTIME_DIR', 'REGISTRY_AUTH_FILE', 'DOCKER_CONFIG']) delete baseEnv[k]
export const ENV: NodeJS.ProcessEnv = {
  ...baseEnv,
  // skopeo: a missing auth file counts as empty.
  REGISTRY_AUTH_FILE: path.join(home, 'auth.json'),
  DOCKER_CONFIG: path.join(home, '.docker'),
}

/**
 * The CLI under test is a snapshot of the build (bin/, dist/, package.json, oclif manifest; node_modules
 * linked) taken when the benchmark starts, so a `npm run build` running meanwhile cannot change or break
 * what is measured half way.
 */
function snapshotBuild(): string {
  const dir = path.join(home, 'airlock')
  mkdirSync(dir)
  for (const f of ['bin', 'dist', 'package.json', 'oclif.manifest.json']) {
    if (existsSync(path.join(ROOT, f))) cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true })
  }
  if (!existsSync(path.join(dir, 'dist', 'commands', 'copy.js'))) {
    throw new Error('dist/ is missing or incomplete: run `npm run build` first (or `npm run bench`)')
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  return path.join(dir, 'bin', 'run.js')
}

export const BIN = snapshotBuild()

const SKOPEO_COPY = ['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false']

/** The command line of a registry-to-registry copy with each tool. */
export function copyCommand(tool: Tool, src: string, dst: string): [string, string[]] {
  if (tool === 'airlock') return [process.execPath, [BIN, 'copy', '--json', src, dst]]
  return ['skopeo', [...SKOPEO_COPY, `docker://${src}`, `docker://${dst}`]]
}

/** Bytes of the regular files under `dir`; files removed while it looks are skipped. */
export function dirBytes(dir: string): number {
  let n = 0
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile())
      n +=
        statSync(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name), {
          throwIfNoEntry: false,
        })?.size ?? 0
  }
  return n
}

// ---------------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------------

export interface Timed {
  code: number | null
  stdout: string
  stderr: string
  /** Wall time from spawn to exit of the whole process. */
  seconds: number
  /** From /usr/bin/time -v, when the command ran under it (see measured()). */
  userSeconds?: number
  systemSeconds?: number
  maxRssKB?: number
}

export function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(cmd, args, { env: opts.env ?? ENV, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-64 * 1024)
    })
    child.on('error', reject)
    child.on('close', (code) => {
      resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - start) / 1e9 })
    })
  })
}

export const TIME_BIN = '/usr/bin/time'

/**
 * Runs the command under `/usr/bin/time -v` (report to a file, so the command's own output stays
 * apart) and adds its CPU times and peak RSS. Throws on a non-zero exit.
 */
export async function measured(cmd: string, args: string[], env = ENV): Promise<Timed> {
  if (!existsSync(TIME_BIN)) throw new Error(`${TIME_BIN} is missing: apt-get install time`)
  const report = path.join(home, `time-${process.hrtime.bigint()}.txt`)
  const r = await timed(TIME_BIN, ['-v', '-o', report, cmd, ...args], { env })
  const text = existsSync(report) ? readFileSync(report, 'utf8') : ''
  rmSync(report, { force: true })
  if (r.code !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}\n${text}`,
    )
  }
  const field = (name: string) => Number(new RegExp(`${name}: ([\\d.]+)`).exec(text)?.[1] ?? Number.NaN)
  return {
    ...r,
    userSeconds: field('User time \\(seconds\\)'),
    systemSeconds: field('System time \\(seconds\\)'),
    maxRssKB: field('Maximum resident set size \\(kbytes\\)'),
  }
}

/** Copies src → dst with `tool` under /usr/bin/time -v. */
export function copyWith(tool: Tool, src: string, dst: string): Promise<Timed> {
  const [cmd, args] = copyCommand(tool, src, dst)
  return measured(cmd, args)
}

/** What the benchmarks need to know about the source image once its bytes are pushed and dropped. */
export interface SourceImage {
  reg: TestRegistry
  /** `127.0.0.1:PORT/bench/NAME:v1` */
  ref: string
  repo: string
  tag: string
  digest: string
  /** Config + layers. */
  bytes: number
  blobs: number
  layerSizes: number[]
  generateSeconds: number
  pushSeconds: number
}

/**
 * Generates an image once (pseudo-random, so incompressible; a fresh seed per run so nothing can be
 * cached between runs), pushes it to a new source registry, and lets go of its bytes.
 */
export async function prepareSource(name: string, opts: MakeImageOptions): Promise<SourceImage> {
  const reg = await startRegistry()
  const repo = `bench/${name}`
  const tag = 'v1'
  let t = performance.now()
  let image: GeneratedImage | undefined = await makeImage({ seed: Date.now() % 1e9, ...opts })
  const generateSeconds = (performance.now() - t) / 1000
  t = performance.now()
  await pushRaw(reg, repo, tag, image)
  const pushSeconds = (performance.now() - t) / 1000
  const src: SourceImage = {
    reg,
    ref: `${reg.host}/${repo}:${tag}`,
    repo,
    tag,
    digest: image.manifest.digest,
    bytes: image.layers.reduce((n, l) => n + l.size, image.config.size),
    blobs: image.layers.length + 1,
    layerSizes: image.layers.map((l) => l.size),
    generateSeconds: round(generateSeconds, 2),
    pushSeconds: round(pushSeconds, 2),
  }
  image = undefined
  return src
}

/** Checks the destination now holds the source image under the same tag, byte for byte (same digest). */
export async function verifyCopy(dst: TestRegistry, src: SourceImage): Promise<void> {
  const m = await fetchManifestRaw(dst, src.repo, src.tag)
  if (m.status !== 200 || m.digest !== src.digest) {
    throw new Error(
      `copy to ${dst.host}/${src.repo}:${src.tag} left ${m.status} ${m.digest}, wanted ${src.digest}`,
    )
  }
}

/**
 * One copy of `src` into a registry started for this copy alone (so no blob can be skipped or
 * mounted), checked afterwards. The registry's start and stop are not timed.
 */
export async function copyToFresh(tool: Tool, src: SourceImage): Promise<Timed> {
  const dst = await startRegistry()
  try {
    const r = await copyWith(tool, src.ref, `${dst.host}/${src.repo}:${src.tag}`)
    await verifyCopy(dst, src)
    const copied =
      tool === 'airlock' ? (JSON.parse(r.stdout) as { blobs: { copied: number } }).blobs.copied : 0
    if (tool === 'airlock' && copied !== src.blobs)
      throw new Error(`airlock copied ${copied} of ${src.blobs} blobs`)
    return r
  } finally {
    await dst.stop()
  }
}

/** Trial order: A B, B A, A B, … so neither tool always runs first (warm caches, CPU boost). */
export function orderFor(trial: number): Tool[] {
  return trial % 2 === 0 ? ['airlock', 'skopeo'] : ['skopeo', 'airlock']
}

/** `trials` interleaved copies of `src` per tool, each into a fresh registry; logs every copy. */
export async function copyTrials(
  name: string,
  src: SourceImage,
  trials: number,
): Promise<Record<Tool, Timed[]>> {
  const runs: Record<Tool, Timed[]> = { airlock: [], skopeo: [] }
  for (let trial = 0; trial < trials; trial++) {
    for (const tool of orderFor(trial)) {
      const r = await copyToFresh(tool, src)
      runs[tool].push(r)
      const cpu = (r.userSeconds! + r.systemSeconds!).toFixed(2)
      const rss = ((r.maxRssKB! * 1024) / 1e6).toFixed(0)
      log(
        `${name}: ${trial + 1}/${trials} ${tool.padEnd(7)} ${r.seconds.toFixed(3)} s, cpu ${cpu} s, max RSS ${rss} MB`,
      )
    }
  }
  return runs
}

/** airlock's own measure of the copy (`seconds` in its --json output), without start-up and exit. */
export const airlockInnerSeconds = (r: Timed) => (JSON.parse(r.stdout) as { seconds: number }).seconds
