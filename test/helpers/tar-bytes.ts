/**
 * Fixtures and checks for names and xattrs as bytes: a tree described with Buffer names, made on disk
 * (for GNU tar) or written by Python's tarfile (PAX format, names and xattr values that are not UTF-8
 * given as surrogateescape text, which tarfile writes back as the original bytes with
 * `hdrcharset=BINARY`); and the trees unsquashfs extracts, read back as bytes (readdir with Buffer
 * names, sha256 of contents, `getfattr -e hex` for xattrs).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/** Bytes of a string written with \x escapes, one char per byte. */
export const b = (latin1: string): Buffer => Buffer.from(latin1, 'latin1')

export interface TreeNode {
  path: Buffer
  type: 'dir' | 'file' | 'symlink'
  data?: Buffer
  target?: Buffer
  /** xattr name -> raw value. */
  xattrs?: Record<string, Buffer>
}

/** What a tree holds, path (latin1) -> `dir`, `file sha256 [xattrs]`, `symlink -> target (latin1)`. */
export type TreeSummary = Record<string, string>

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')

function describe(type: TreeNode['type'], data: Buffer | undefined, target: Buffer | undefined): string {
  if (type === 'file') return `file ${sha(data ?? Buffer.alloc(0))}`
  if (type === 'symlink') return `symlink -> ${(target ?? Buffer.alloc(0)).toString('latin1')}`
  return 'dir'
}

export function summaryOf(nodes: TreeNode[]): TreeSummary {
  const out: TreeSummary = {}
  for (const n of nodes) {
    const parts = n.path.toString('latin1').split('/')
    for (let i = 1; i < parts.length; i++) out[parts.slice(0, i).join('/')] ??= 'dir'
    out[n.path.toString('latin1')] = describe(n.type, n.data, n.target)
  }
  return out
}

/** Expected xattrs, path (latin1) -> name -> hex. */
export function xattrsOf(nodes: TreeNode[], keep: (name: string) => boolean = () => true) {
  const out: Record<string, Record<string, string>> = {}
  for (const n of nodes) {
    const entries = Object.entries(n.xattrs ?? {}).filter(([k]) => keep(k))
    if (entries.length)
      out[n.path.toString('latin1')] = Object.fromEntries(entries.map(([k, v]) => [k, v.toString('hex')]))
  }
  return out
}

/** The tree on disk under `dir` (xattrs set with setfattr, which `keep` may narrow). */
export async function writeTree(
  dir: string,
  nodes: TreeNode[],
  keep: (name: string) => boolean,
): Promise<void> {
  const root = Buffer.from(dir)
  const at = (p: Buffer) => Buffer.concat([root, b('/'), p])
  for (const n of nodes) {
    const slash = n.path.lastIndexOf(0x2f)
    if (slash > 0) mkdirSync(at(n.path.subarray(0, slash)), { recursive: true })
    if (n.type === 'dir') mkdirSync(at(n.path), { recursive: true })
    else if (n.type === 'file') writeFileSync(at(n.path), n.data ?? Buffer.alloc(0))
    else symlinkSync(n.target ?? Buffer.alloc(0), at(n.path))
    for (const [k, v] of Object.entries(n.xattrs ?? {})) {
      // setfattr takes the path as an argument: only ASCII-named files carry xattrs here.
      if (keep(k))
        await exec('setfattr', [
          '-n',
          k,
          '-v',
          `0x${v.toString('hex')}`,
          join(dir, n.path.toString('latin1')),
        ])
    }
  }
}

export interface PythonTarOptions {
  /** 'g' headers, each written before the entry at index `before`. */
  globals?: Array<{ before: number; records: Record<string, Buffer> }>
  /** More records of an entry's own 'x' header, by path (latin1). */
  pax?: Record<string, Record<string, Buffer>>
}

/**
 * A Python script writing `nodes` as a PAX tar with tarfile: names, link targets and record values
 * as surrogateescape text (tarfile writes them back as their bytes, with hdrcharset=BINARY).
 */
export function pythonTarScript(out: string, nodes: TreeNode[], opts: PythonTarOptions = {}): string {
  const hex = (v: Buffer | undefined) => (v ?? Buffer.alloc(0)).toString('hex')
  const spec = nodes.map((n) => ({
    path: hex(n.path),
    type: n.type,
    data: hex(n.data),
    target: hex(n.target),
    pax: {
      ...Object.fromEntries(Object.entries(n.xattrs ?? {}).map(([k, v]) => [`SCHILY.xattr.${k}`, hex(v)])),
      ...Object.fromEntries(
        Object.entries(opts.pax?.[n.path.toString('latin1')] ?? {}).map(([k, v]) => [k, hex(v)]),
      ),
    },
  }))
  const globals = Object.fromEntries(
    (opts.globals ?? []).map((g) => [
      g.before,
      Object.fromEntries(Object.entries(g.records).map(([k, v]) => [k, hex(v)])),
    ]),
  )
  return `import io, json, tarfile
spec = json.loads(${JSON.stringify(JSON.stringify(spec))})
globals_ = json.loads(${JSON.stringify(JSON.stringify(globals))})
text = lambda h: bytes.fromhex(h).decode('utf-8', 'surrogateescape')
with tarfile.open(${JSON.stringify(out)}, 'w', format=tarfile.PAX_FORMAT, encoding='utf-8', errors='surrogateescape') as t:
    for i, n in enumerate(spec):
        if str(i) in globals_:
            buf = tarfile.TarInfo.create_pax_global_header({k: text(v) for k, v in globals_[str(i)].items()})
            t.fileobj.write(buf)
            t.offset += len(buf)
        info = tarfile.TarInfo(text(n['path']))
        info.mtime = 1700000000
        info.pax_headers = {k: text(v) for k, v in n['pax'].items()}
        data = bytes.fromhex(n['data'])
        if n['type'] == 'dir':
            info.type, info.mode = tarfile.DIRTYPE, 0o755
        elif n['type'] == 'symlink':
            info.type, info.linkname = tarfile.SYMTYPE, text(n['target'])
        else:
            info.size, info.mode = len(data), 0o755
        t.addfile(info, io.BytesIO(data) if n['type'] == 'file' else None)
`
}

/** The typeflags of a tar's headers in order (to check that a fixture has the records it is about). */
export function typeflags(tar: Buffer): string {
  let out = ''
  for (let pos = 0; pos + 512 <= tar.length; ) {
    const h = tar.subarray(pos, pos + 512)
    if (h.every((x) => x === 0)) break
    const size = Number.parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8)
    out += String.fromCharCode(h[156])
    pos += 512 + Math.ceil(size / 512) * 512
  }
  return out
}

/** The tree unsquashfs extracted under `dir`, read back as bytes. */
export function readTree(dir: string): TreeSummary {
  const out: TreeSummary = {}
  const walk = (abs: Buffer, rel: string) => {
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const p = Buffer.concat([abs, b('/'), name])
      const r = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1')
      const st = lstatSync(p)
      if (st.isDirectory()) {
        out[r] = 'dir'
        walk(p, r)
      } else if (st.isSymbolicLink())
        out[r] = describe('symlink', undefined, readlinkSync(p, { encoding: 'buffer' }))
      else out[r] = describe('file', readFileSync(p), undefined)
    }
  }
  walk(Buffer.from(dir), '')
  return out
}

/** Every xattr under `dir` (symlinks not followed): path (latin1) -> name -> hex. */
export async function readXattrs(dir: string): Promise<Record<string, Record<string, string>>> {
  const { stdout } = await exec('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], {
    cwd: dir,
    encoding: 'buffer',
  })
  const out: Record<string, Record<string, string>> = {}
  let file = ''
  for (const line of stdout.toString('latin1').split('\n')) {
    // getfattr escapes unusual bytes of names as \ooo (octal).
    const f = /^# file: (?:\.\/)?(.*)$/.exec(line)
    if (f) file = f[1].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)))
    const a = /^([^=#][^=]*)=0x([0-9a-f]*)$/.exec(line)
    if (a) {
      out[file] ??= {}
      out[file][a[1]] = a[2]
    }
  }
  return out
}

/** `unsquashfs -lln` as path (latin1) -> `perms size[ -> target]`, owners and times left out. */
export async function listing(img: string): Promise<Record<string, string>> {
  const { stdout } = await exec('unsquashfs', ['-lln', img], { encoding: 'buffer', maxBuffer: 1 << 26 })
  const out: Record<string, string> = {}
  for (const line of stdout.toString('latin1').split('\n')) {
    const m = /^(\S{10}) \S+\s+(\d+) \S+ \S+ squashfs-root\/(.+?)(?: -> (.*))?$/.exec(line)
    if (m)
      out[m[3]] = `${m[1]} ${m[1][0] === '-' ? m[2] : ''}${m[4] !== undefined ? `-> ${m[4]}` : ''}`.trim()
  }
  return out
}

/** Extracts `img` into `dir`: all xattrs as root, else only user.* (others need CAP_SETFCAP). */
export async function extract(img: string, dir: string): Promise<void> {
  const root = process.getuid?.() === 0
  await exec('unsquashfs', ['-q', '-n', ...(root ? [] : ['-user-xattrs']), '-d', dir, img], {
    maxBuffer: 1 << 26,
  })
}
