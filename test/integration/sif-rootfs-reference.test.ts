/**
 * The built-in converter against the tools that define the result, on layers made with GNU tar
 * (`tar -r` appends a second entry for a path) and python3's tarfile: a path repeated within one
 * layer (the last entry wins) and paths through symlinked directories (resolved inside the root).
 * Each image goes through flattenInto -> tar2sqfs and -> mksquashfs -tar, is unpacked with
 * unsquashfs, and its tree is compared with umoci's unpack of the same layers (what apptainer
 * uses), with GNU tar extracting the layer, and with podman's container (vfs storage) where podman
 * takes the image. Then once through buildSif itself, from an OCI layout.
 *
 * Where the references part ways, the test says so: podman refuses repeated paths ("duplicates of
 * file paths not supported") and a symlink to nothing that a later entry goes through, and its
 * opaque marker below a symlinked directory removes nothing; GNU tar cannot replace a directory
 * that has contents by a file. airlock follows umoci there.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildSif } from '../../src/lib/sif/build-sif.js'
import { flattenInto } from '../../src/lib/sif/flatten.js'
import { readSif } from '../../src/lib/sif/sif-reader.js'
import { makeSquashfs, type SquashfsTool } from '../../src/lib/sif/squashfs.js'
import { makePodman, type Podman } from '../helpers/podman.js'

const exec = promisify(execFile)
const TOOLS: SquashfsTool[] = ['tar2sqfs', 'mksquashfs']
let dir: string
let podman: Podman
let serial = 0
const fresh = (name: string) => join(dir, `${name}-${++serial}`)

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

interface Entry {
  path: string
  type?: 'file' | 'dir' | 'symlink' | 'hardlink'
  data?: string
  target?: string
  mode?: number
}

/** A layer tar written by python3's tarfile (pax), entries exactly as given, in order. */
async function pyLayer(entries: Entry[]): Promise<string> {
  const file = `${fresh('layer')}.tar`
  const script = `
import io, json, sys, tarfile
TYPES = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE}
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
    for e in json.load(sys.stdin):
        kind = e.get('type', 'file')
        i = tarfile.TarInfo(e['path'])
        i.type = TYPES[kind]
        i.mode = e.get('mode', {'dir': 0o755, 'symlink': 0o777}.get(kind, 0o644))
        i.mtime = 1700000000
        i.linkname = e.get('target', '')
        data = e.get('data', '').encode()
        i.size = len(data) if kind == 'file' else 0
        t.addfile(i, io.BytesIO(data) if kind == 'file' else None)
`
  const child = execFile('python3', ['-c', script, file])
  child.stdin?.end(JSON.stringify(entries))
  await new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`python3 exited ${code}`)))),
  )
  return file
}

/**
 * One layer by GNU tar, `tar -c` then `tar -r` appending new versions of the same names: a file then
 * another file (with a hard link to the first one), a file then a directory with contents, a file
 * then a symlink, a directory then the same directory with another mode.
 */
async function gnuTarLayer(): Promise<string> {
  const stage = fresh('stage')
  const file = `${fresh('gnu')}.tar`
  const tar = `tar --format=gnu --owner=0 --group=0 --numeric-owner --mtime=@1700000000 -C ${stage}`
  await mkdir(stage)
  await exec('sh', [
    '-ec',
    `cd ${stage}
echo first > a; ln a l; ${tar} -cf ${file} a l
rm a; echo second > a; ${tar} -rf ${file} a
echo plain > d; ${tar} -rf ${file} d
rm d; mkdir d; echo x > d/x; ${tar} -rf ${file} d
echo plain > s; ${tar} -rf ${file} s
rm s; ln -s elsewhere s; ${tar} -rf ${file} s
mkdir -m 700 e; ${tar} -rf ${file} e
chmod 750 e; ${tar} -rf ${file} e`,
  ])
  const { stdout } = await exec('tar', ['-tvf', file])
  // The appends are there: files `a`, `d` and `s` twice, `l` a hard link to the first `a`.
  expect(stdout.match(/^-.* a$/gm)).toHaveLength(2)
  expect(stdout).toMatch(/^h.* l link to a$/m)
  expect(stdout.match(/ d\/?$/gm)).toHaveLength(2)
  expect(stdout.match(/ s( -> elsewhere)?$/gm)).toHaveLength(2)
  return file
}

/** An OCI image layout holding `layers` (uncompressed, bottom first) as image `t`. */
async function ociLayout(layers: string[]): Promise<string> {
  const root = fresh('oci')
  await mkdir(join(root, 'blobs', 'sha256'), { recursive: true })
  const put = async (bytes: Buffer) => {
    const hex = createHash('sha256').update(bytes).digest('hex')
    await writeFile(join(root, 'blobs', 'sha256', hex), bytes)
    return { digest: `sha256:${hex}`, size: bytes.length }
  }
  const blobs = await Promise.all(layers.map(async (l) => put(await readFile(l))))
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.digest) },
      }),
    ),
  )
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...b })),
      }),
    ),
  )
  await writeFile(
    join(root, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 't' },
        },
      ],
    }),
  )
  await writeFile(join(root, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  return root
}

// ---------------------------------------------------------------------------------------------
// Trees
// ---------------------------------------------------------------------------------------------

interface Tree {
  /** path -> `dir 755`, `file 644 "contents"`, `symlink -> target` */
  paths: Record<string, string>
  /** Names sharing a file, each group sorted. */
  links: string[][]
}

/** A directory on disk as a Tree, the paths under `only` (top-level names) alone when given. */
async function walk(root: string, only?: (top: string) => boolean): Promise<Tree> {
  const paths: Record<string, string> = {}
  const inodes = new Map<number, string[]>()
  const visit = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name
      if (!rel && only && !only(name)) continue
      const st = await lstat(join(root, path))
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isDirectory()) {
        paths[path] = `dir ${mode}`
        await visit(path)
      } else if (st.isSymbolicLink()) paths[path] = `symlink -> ${await readlink(join(root, path))}`
      else {
        paths[path] = `file ${mode} ${JSON.stringify(await readFile(join(root, path), 'utf8'))}`
        inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path])
      }
    }
  }
  await visit('')
  const links = [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort())
  return { paths, links: links.sort() }
}

/** airlock: flattenInto -> the squashfs tool -> unsquashfs. */
async function airlockTree(layers: string[], tool: SquashfsTool, only?: (top: string) => boolean) {
  const img = `${fresh(tool)}.sqfs`
  const opened = layers.map(() => 0)
  await flattenInto(
    layers.map((f, i) => async () => {
      opened[i]++
      return createReadStream(f)
    }),
    {},
    (tar) => makeSquashfs(tar, { file: img }, { tool }),
  )
  const out = fresh('unsquashed')
  await exec('unsquashfs', ['-q', '-n', '-d', out, img])
  return { tree: await walk(out, only), opened }
}

/** umoci unpack (rootless: no ownership to compare, which no case here sets). */
async function umociTree(layout: string, only?: (top: string) => boolean): Promise<Tree> {
  const bundle = fresh('bundle')
  await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:t`, bundle])
  return walk(join(bundle, 'rootfs'), only)
}

/** umoci's refusal, as its last line of output. */
async function umociRefusal(layout: string): Promise<string> {
  const r = await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:t`, fresh('bundle')]).then(
    () => '',
    (err: { stderr?: string }) => String(err.stderr ?? ''),
  )
  expect(r, 'umoci unpacked it').not.toBe('')
  return r
}

/** podman load of the layout as an oci-archive; the tree of a container made from it. */
async function podmanLoad(layout: string): Promise<{ code: number; stderr: string; image?: string }> {
  const archive = `${fresh('oci-archive')}.tar`
  await exec('tar', ['-C', layout, '-cf', archive, '.'])
  const r = await podman.run(['load', '-q', '-i', archive], { reject: false })
  return { code: r.exitCode, stderr: r.stderr, image: /Loaded image: (\S+)/.exec(r.stdout)?.[1] }
}

async function podmanTree(layout: string, only?: (top: string) => boolean): Promise<Tree> {
  const loaded = await podmanLoad(layout)
  expect(loaded.code, loaded.stderr).toBe(0)
  const cid = (await podman.run(['create', loaded.image as string, 'true'])).stdout.trim()
  const exported = `${fresh('export')}.tar`
  await podman.run(['export', '-o', exported, cid])
  await podman.run(['rm', cid])
  const out = fresh('podman-rootfs')
  await mkdir(out)
  await exec('tar', ['-xpf', exported, '-C', out])
  return walk(out, only)
}

/** GNU tar extracting the layers in order into an empty directory. */
async function gnuTarTree(layers: string[]): Promise<Tree> {
  const out = fresh('extracted')
  await mkdir(out)
  for (const l of layers) await exec('tar', ['-xpf', l, '-C', out])
  return walk(out)
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-reference-'))
  podman = await makePodman()
})
afterAll(async () => {
  await podman?.cleanup()
  await rm(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------------
// The cases, each in its own top-level directory so that one image holds many
// ---------------------------------------------------------------------------------------------

const REPEATED: Entry[][] = [
  [
    { path: 'a3b/a', type: 'dir' },
    { path: 'a3b/a/low', data: 'low' },
    { path: 'a10/a', type: 'dir' },
    { path: 'a10/a/low', data: 'low' },
  ],
  [
    { path: 'a1/a', data: 'first' },
    { path: 'a1/a', data: 'second' },
    { path: 'a2/a', data: 'first' },
    { path: 'a2/a', type: 'dir' },
    { path: 'a2/a/x', data: 'x' },
    // a directory (with contents, some from the layer below) then a file: GNU tar cannot do this one
    { path: 'a3/a', type: 'dir' },
    { path: 'a3/a/x', data: 'x' },
    { path: 'a3/a', data: 'file' },
    { path: 'a3b/a', type: 'dir' },
    { path: 'a3b/a/x', data: 'x' },
    { path: 'a3b/a', data: 'file' },
    { path: 'a4/a', data: 'first' },
    { path: 'a4/a', type: 'symlink', target: 'elsewhere' },
    { path: 'a5/a', data: 'first' },
    { path: 'a5/l', type: 'hardlink', target: 'a5/a' },
    { path: 'a5/a', data: 'second' },
    { path: 'a6/a', data: 'first' },
    { path: 'a6/a', data: 'second' },
    { path: 'a6/l', type: 'hardlink', target: 'a6/a' },
    { path: 'a7/d', type: 'dir', mode: 0o700 },
    { path: 'a7/d/x', data: 'x' },
    { path: 'a7/d', type: 'dir', mode: 0o750 },
    { path: 'a8/d/x', data: 'x' },
    { path: 'a8/d', data: 'file' },
    { path: 'a10/a', data: 'f' },
    { path: 'a10/a', type: 'dir', mode: 0o700 },
    { path: 'a10/a/x', data: 'x' },
  ],
  [{ path: 'up/u', type: 'hardlink', target: 'a1/a' }],
]

/** Cases podman does not take as umoci does (see the top): in their own image. */
const PODMAN_DIFFERS = new Set(['b7', 'b12'])
const usrLib = (c: string, target: string, extra: Entry[] = []): Entry[] => [
  { path: `${c}/usr/lib`, type: 'dir' },
  ...extra,
  { path: `${c}/lib`, type: 'symlink', target },
]
const SYMLINKED: Record<string, Entry[][]> = {
  b1: [usrLib('b1', 'usr/lib'), [{ path: 'b1/lib/x.so', data: 'X' }]],
  b2: [[...usrLib('b2', 'usr/lib'), { path: 'b2/lib/x.so', data: 'X' }]],
  b3: [usrLib('b3', '/b3/usr/lib'), [{ path: 'b3/lib/x.so', data: 'X' }]],
  b4: [usrLib('b4', '../../../b4/usr/lib'), [{ path: 'b4/lib/x.so', data: 'X' }]],
  b5: [
    [
      { path: 'b5/c', type: 'dir' },
      { path: 'b5/b', type: 'symlink', target: 'c' },
      { path: 'b5/a', type: 'symlink', target: '/b5/b' },
    ],
    [{ path: 'b5/a/x', data: 'X' }],
  ],
  b7: [[{ path: 'b7/lib', type: 'symlink', target: 'usr/lib' }], [{ path: 'b7/lib/x', data: 'X' }]],
  b8: [
    usrLib('b8', 'usr/lib', [
      { path: 'b8/usr/lib/y', data: 'y' },
      { path: 'b8/usr/lib/z', data: 'z' },
    ]),
    [{ path: 'b8/lib/.wh.y', data: '' }],
  ],
  b9: [
    usrLib('b9', 'usr/lib', [{ path: 'b9/usr/lib/x.so', data: 'X' }]),
    [{ path: 'b9/l', type: 'hardlink', target: 'b9/lib/x.so' }],
  ],
  b10: [usrLib('b10', 'usr/lib'), [{ path: 'b10/lib', type: 'dir' }], [{ path: 'b10/lib/x', data: 'X' }]],
  b12: [
    usrLib('b12', 'usr/lib', [{ path: 'b12/usr/lib/y', data: 'y' }]),
    [
      { path: 'b12/lib/.wh..wh..opq', data: '' },
      { path: 'b12/lib/n', data: 'n' },
    ],
  ],
  b13: [
    usrLib('b13', 'usr/lib'),
    [
      { path: 'b13/lib/sub', type: 'dir', mode: 0o700 },
      { path: 'b13/lib/sub/f', data: 'f' },
    ],
  ],
  b15: [
    [
      { path: 'b15/opt/u/lib', type: 'dir' },
      { path: 'b15/usr', type: 'symlink', target: '/b15/opt/u' },
      { path: 'b15/lib', type: 'symlink', target: 'usr/lib' },
    ],
    [{ path: 'b15/lib/x', data: 'X' }],
  ],
  b16: [
    [
      { path: 'b16/usr/lib', type: 'dir' },
      { path: 'b16/usr/lib64', type: 'symlink', target: 'lib' },
    ],
    [
      { path: 'b16/usr/lib64/x', data: 'X' },
      { path: 'b16/usr/lib64/sub/y', data: 'Y' },
    ],
  ],
  b17: [usrLib('b17', 'usr/lib'), [{ path: 'b17/lib', data: 'now a file' }]],
  b19: [
    usrLib('b19', 'usr/lib'),
    [
      { path: 'b19/lib/x', data: 'X' },
      { path: 'b19/lib', type: 'dir' },
    ],
  ],
  b20: [
    usrLib('b20', 'usr/share/../lib', [{ path: 'b20/usr/share', type: 'dir' }]),
    [{ path: 'b20/lib/x', data: 'X' }],
  ],
}

/** The cases' layers merged layer by layer (case i's layer k in image layer k). */
function stack(cases: Entry[][][]): Entry[][] {
  const out: Entry[][] = []
  for (const layers of cases) for (const [k, l] of layers.entries()) out[k] = [...(out[k] ?? []), ...l]
  return out
}

describe('a path repeated within one layer: the last entry wins', () => {
  it('layers by GNU tar -r: airlock (both tools) = GNU tar extraction = umoci', async () => {
    const layers = [await gnuTarLayer()]
    const gnu = await gnuTarTree(layers)
    expect(gnu.paths).toMatchObject({
      a: 'file 644 "second\\n"',
      l: 'file 644 "first\\n"',
      d: 'dir 755',
      'd/x': 'file 644 "x\\n"',
      s: 'symlink -> elsewhere',
      e: 'dir 750',
    })
    expect(await umociTree(await ociLayout(layers))).toEqual(gnu)
    for (const tool of TOOLS) {
      const { tree, opened } = await airlockTree(layers, tool)
      expect(tree, tool).toEqual(gnu)
      expect(opened).toEqual([4]) // the pass, the plan, the pass with it, `l`'s first file again
    }
  })

  it('every type after every other (python tarfile): airlock (both tools) = umoci', async () => {
    const layers = await Promise.all(REPEATED.map(pyLayer))
    const ref = await umociTree(await ociLayout(layers))
    expect(ref.paths).toMatchObject({
      'a1/a': 'file 644 "second"',
      'a2/a': 'dir 755',
      'a3/a': 'file 644 "file"',
      'a3b/a': 'file 644 "file"',
      'a4/a': 'symlink -> elsewhere',
      'a5/a': 'file 644 "second"',
      'a5/l': 'file 644 "first"',
      'a7/d': 'dir 750',
      'a8/d': 'file 644 "file"',
      'a10/a': 'dir 700',
      'up/u': 'file 644 "second"',
    })
    expect(ref.paths['a10/a/low']).toBeUndefined()
    expect(ref.links).toEqual([
      ['a1/a', 'up/u'],
      ['a6/a', 'a6/l'],
    ])
    for (const tool of TOOLS) expect((await airlockTree(layers, tool)).tree, tool).toEqual(ref)
    // podman refuses such layers outright.
    const loaded = await podmanLoad(await ociLayout(layers))
    expect(loaded.code).not.toBe(0)
    expect(loaded.stderr).toContain('duplicates of file paths not supported')
  })
})

describe('paths through symlinked directories, resolved inside the root', () => {
  it('in the same layer or from lower ones: airlock (both tools) = umoci = podman', async () => {
    const all = await Promise.all(stack(Object.values(SYMLINKED)).map(pyLayer))
    const ref = await umociTree(await ociLayout(all))
    expect(ref.paths).toMatchObject({
      'b1/lib': 'symlink -> usr/lib',
      'b1/usr/lib/x.so': 'file 644 "X"',
      'b2/usr/lib/x.so': 'file 644 "X"',
      'b3/usr/lib/x.so': 'file 644 "X"',
      'b4/usr/lib/x.so': 'file 644 "X"',
      'b5/c/x': 'file 644 "X"',
      'b7/usr/lib/x': 'file 644 "X"',
      'b8/usr/lib/z': 'file 644 "z"',
      'b10/lib/x': 'file 644 "X"',
      'b12/usr/lib/n': 'file 644 "n"',
      'b13/usr/lib/sub': 'dir 700',
      'b15/opt/u/lib/x': 'file 644 "X"',
      'b16/usr/lib/sub/y': 'file 644 "Y"',
      'b17/lib': 'file 644 "now a file"',
      'b19/lib': 'dir 755',
      'b19/usr/lib/x': 'file 644 "X"',
      'b20/usr/lib/x': 'file 644 "X"',
    })
    for (const gone of ['b1/lib/x.so', 'b8/usr/lib/y', 'b12/usr/lib/y', 'b19/lib/x']) {
      expect(ref.paths[gone], gone).toBeUndefined()
    }
    expect(ref.links).toEqual([['b9/l', 'b9/usr/lib/x.so']])
    for (const tool of TOOLS) {
      const { tree, opened } = await airlockTree(all, tool)
      expect(tree, tool).toEqual(ref)
      expect(opened).toEqual([3, 3, 3])
    }
    // podman, on the cases it takes as umoci does.
    const same = (top: string) => !PODMAN_DIFFERS.has(top)
    const some = await Promise.all(
      stack(
        Object.entries(SYMLINKED)
          .filter(([c]) => same(c))
          .map(([, l]) => l),
      ).map(pyLayer),
    )
    const fromPodman = await podmanTree(await ociLayout(some))
    expect(fromPodman).toEqual(await umociTree(await ociLayout(some)))
    expect(fromPodman.paths['b1/usr/lib/x.so']).toBe('file 644 "X"')
    for (const tool of TOOLS) expect((await airlockTree(some, tool)).tree, tool).toEqual(fromPodman)
  })

  it('a loop of symlinks: umoci, podman and airlock refuse it, airlock naming the entry', async () => {
    const layers = await Promise.all(
      [
        [
          { path: 'a', type: 'symlink', target: 'b' },
          { path: 'b', type: 'symlink', target: '/a' },
        ],
        [{ path: 'a/x', data: 'X' }],
      ].map((l) => pyLayer(l as Entry[])),
    )
    const layout = await ociLayout(layers)
    expect(await umociRefusal(layout)).toContain('too many levels of symbolic links')
    const loaded = await podmanLoad(layout)
    expect(loaded.code).not.toBe(0)
    expect(loaded.stderr).toContain('too many levels of symbolic links')
    for (const tool of TOOLS) {
      await expect(airlockTree(layers, tool)).rejects.toMatchObject({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(
          /^layer 2\/2: entry "a\/x": more than 255 symbolic links to follow \(a loop\)/,
        ),
      })
    }
  })
})

describe('buildSif from an OCI layout that needs a plan', () => {
  it.each(TOOLS)("with %s: the SIF partition holds umoci's tree", async (tool) => {
    const cases = (top: string) => /^(a\d+b?|up|b\d+)$/.test(top)
    const layers = await Promise.all(stack([REPEATED, ...Object.values(SYMLINKED)]).map(pyLayer))
    const layout = await ociLayout(layers)
    const out = `${fresh('image')}.sif`
    const res = await buildSif(`oci:${layout}:t`, out, { builder: 'builtin', squashfsTool: tool })
    expect(res.squashfsTool).toBe(tool)
    const part = (await readSif(out)).objects.find((o) => o.partition)
    const root = fresh('sif-rootfs')
    await exec('unsquashfs', ['-q', '-n', '-o', String(part?.offset), '-d', root, out])
    expect(await walk(root, cases)).toEqual(await umociTree(layout, cases))
  })
})
