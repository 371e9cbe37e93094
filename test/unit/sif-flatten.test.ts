/**
 * Rootfs flattening (src/lib/sif/flatten*.ts): OCI layer semantics checked against a reference that
 * applies the layers bottom-up the way an extracting unpacker (umoci) does, on hand-written cases and
 * on seeded random layer stacks; plus the output tar's own rules (targets before links, no whiteout
 * markers, each path once), hostile and corrupt layers, extra entries, and the tar encoder.
 */
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib, { gzipSync } from 'node:zlib'
import { extract } from 'tar-stream'
import { describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { flattenInto, flattenLayers } from '../../src/lib/sif/flatten.js'
import { encodeHeader } from '../../src/lib/sif/flatten-tar-out.js'
import { LAYER_MTIME, type LayerEntrySpec, layerBytes, opaque, opener, whiteout } from '../helpers/layers.js'

interface OutEntry {
  name: string
  type: string
  linkname?: string
  mode: number
  uid: number
  gid: number
  uname?: string
  mtime: number
  data: Buffer
  pax?: Record<string, string>
  devmajor?: number
}

/** Every entry of a tar stream, names as bytes (latin1), contents read. */
async function readTar(stream: Readable): Promise<OutEntry[]> {
  const ex = extract({ filenameEncoding: 'latin1' } as Parameters<typeof extract>[0])
  const feed = pipeline(stream, ex as unknown as NodeJS.WritableStream).catch(() => undefined)
  const out: OutEntry[] = []
  for await (const e of ex) {
    const chunks: Buffer[] = []
    for await (const c of e) chunks.push(c as Buffer)
    const h = e.header
    out.push({
      name: h.name.replace(/\/$/, ''),
      type: h.type,
      linkname: h.linkname || undefined,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      uname: h.uname,
      mtime: Math.floor(h.mtime.getTime() / 1000),
      data: Buffer.concat(chunks),
      pax: (h.pax ?? undefined) as Record<string, string> | undefined,
      devmajor: h.devmajor,
    })
  }
  await feed
  return out
}

/** Through flattenInto, which reads the layers again with a plan when they need one. */
async function flatten(layers: LayerEntrySpec[][], gzip = false): Promise<OutEntry[]> {
  const blobs = await Promise.all(layers.map((l) => layerBytes(l, { gzip })))
  return flattenInto(blobs.map(opener), {}, readTar)
}

/** The output as `path -> summary`, checking the stream's own rules on the way. */
function tree(entries: OutEntry[]): Record<string, string> {
  const seen = new Map<string, OutEntry>()
  const out: Record<string, string> = {}
  for (const e of entries) {
    expect(seen.has(e.name), `${e.name} written twice`).toBe(false)
    expect(e.name.split('/').pop()?.startsWith('.wh.'), `${e.name} is a whiteout marker`).toBe(false)
    let target = e
    if (e.type === 'link') {
      const t = seen.get(e.linkname ?? '')
      expect(t, `link ${e.name} written before its target ${e.linkname}`).toBeDefined()
      target = t as OutEntry
    }
    seen.set(e.name, target)
    out[e.name] = summary(target)
  }
  return out
}

function summary(e: OutEntry): string {
  const meta = `${e.mode.toString(8)} ${e.uid}:${e.gid} @${e.mtime}`
  if (e.type === 'directory') return `dir ${meta}`
  if (e.type === 'symlink') return `symlink->${e.linkname} ${meta}`
  if (e.type === 'file') return `file "${e.data.toString('latin1')}" ${meta}`
  return `${e.type} ${meta}`
}

/** Groups of names sharing an inode in the output, each group sorted. */
function linkGroups(entries: OutEntry[]): string[][] {
  const groups = new Map<string, string[]>()
  for (const e of entries) {
    if (e.type !== 'link') continue
    const g = groups.get(e.linkname ?? '') ?? [e.linkname ?? '']
    g.push(e.name)
    groups.set(e.linkname ?? '', g)
  }
  return [...groups.values()].map((g) => g.sort()).sort()
}

// ---------------------------------------------------------------------------------------------
// Reference: apply layers bottom-up, entry by entry, as umoci does (oci/layer/tar_extract.go,
// UnpackEntry): the parent directory resolved through symlinks inside the root (filepath-securejoin:
// absolute targets from the root, `..` stopping at the root, more than 255 links an error), missing
// parents created and non-directory ones replaced (umoci >= 0.5), whatever is at the path removed
// unless both are directories, hard links to the file at the target at that moment, whiteouts
// removing what is not this layer's own (its "upperPaths"). One difference, airlock's on purpose
// (whiteouts act when their layer ends, whatever their place in it): a whiteout naming a directory
// that the same layer has entries below also drops the metadata a lower layer gave that directory,
// as when the whiteout comes first; umoci keeps it when the whiteout comes after those entries.
// ---------------------------------------------------------------------------------------------
interface Ino {
  spec: LayerEntrySpec
}
type RefNode = { dir: LayerEntrySpec | undefined } | { ino: Ino }
const T0 = Math.floor(LAYER_MTIME.getTime() / 1000)

function reference(layers: LayerEntrySpec[][]): { tree: Record<string, string>; groups: string[][] } {
  const state = new Map<string, RefNode>()
  const join = (dir: string, base: string) => (dir ? `${dir}/${base}` : base)
  const removeTree = (p: string) => {
    for (const k of [...state.keys()]) if (k === p || k.startsWith(`${p}/`)) state.delete(k)
  }
  const children = (p: string) =>
    [...state.keys()].filter((k) =>
      p === '' ? !k.includes('/') : k.startsWith(`${p}/`) && !k.slice(p.length + 1).includes('/'),
    )
  const resolve = (dir: string): string => {
    const out: string[] = []
    const todo = dir.split('/').reverse()
    let followed = 0
    while (todo.length) {
      const c = todo.pop() as string
      if (c === '' || c === '.') continue
      if (c === '..') {
        out.pop()
        continue
      }
      const n = state.get([...out, c].join('/'))
      if (n && 'ino' in n && n.ino.spec.type === 'symlink') {
        if (++followed > 255) throw new Error(`reference: symlink loop at ${[...out, c].join('/')}`)
        const target = n.ino.spec.target ?? ''
        if (target.startsWith('/')) out.length = 0
        todo.push(...target.split('/').reverse())
      } else out.push(c)
    }
    return out.join('/')
  }
  /** Directories whose metadata the layer being applied set. */
  let mine = new Set<string>()
  const whiteout = (p: string, upper: Set<string>, opaqueDir: boolean) => {
    if (p !== '' && !state.has(p)) return
    if (!upper.has(p) && !opaqueDir) {
      removeTree(p)
      return
    }
    const n = state.get(p)
    if (!opaqueDir && n && 'dir' in n && !mine.has(p)) n.dir = undefined
    if (p === '' || (n && 'dir' in n)) for (const c of children(p)) whiteout(c, upper, false)
  }
  for (const layer of layers) {
    const upper = new Set<string>()
    mine = new Set()
    for (const e of layer) {
      const i = e.path.lastIndexOf('/')
      const base = e.path.slice(i + 1)
      const dir = resolve(e.path.slice(0, Math.max(i, 0)))
      if (base === '.wh..wh..opq') {
        whiteout(dir, upper, true)
        continue
      }
      if (base.startsWith('.wh.')) {
        whiteout(join(dir, base.slice(4)), upper, false)
        continue
      }
      const path = join(dir, base)
      const parts = path.split('/')
      for (let k = 1; k < parts.length; k++) {
        const a = parts.slice(0, k).join('/')
        const n = state.get(a)
        if (!n || !('dir' in n)) {
          removeTree(a)
          state.set(a, { dir: undefined })
        }
      }
      const cur = state.get(path)
      if (!(e.type === 'dir' && cur && 'dir' in cur)) removeTree(path)
      if (e.type === 'dir') {
        if (cur && 'dir' in cur) cur.dir = e
        else state.set(path, { dir: e })
        mine.add(path)
      } else if (e.type === 'hardlink') {
        const target = e.target ?? ''
        const ti = target.lastIndexOf('/')
        const t = state.get(join(resolve(target.slice(0, Math.max(ti, 0))), target.slice(ti + 1)))
        if (!t || !('ino' in t)) throw new Error(`reference: bad link ${e.path}`)
        state.set(path, { ino: t.ino })
      } else state.set(path, { ino: { spec: e } })
      for (let k = 1; k <= parts.length; k++) upper.add(parts.slice(0, k).join('/'))
    }
  }
  const out: Record<string, string> = {}
  const byIno = new Map<Ino, string[]>()
  for (const [path, n] of state) {
    if ('dir' in n) {
      const d = n.dir
      out[path] = d
        ? `dir ${(d.mode ?? 0o755).toString(8)} ${d.uid ?? 0}:${d.gid ?? 0} @${T0}`
        : 'dir 755 0:0 @0'
      continue
    }
    const s = n.ino.spec
    const meta = `${(s.mode ?? 0o644).toString(8)} ${s.uid ?? 0}:${s.gid ?? 0} @${T0}`
    if (s.type === 'symlink') out[path] = `symlink->${s.target} ${meta}`
    else out[path] = `file "${s.data ?? ''}" ${meta}`
    byIno.set(n.ino, [...(byIno.get(n.ino) ?? []), path])
  }
  const groups = [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort())
  return { tree: out, groups: groups.sort() }
}

async function expectSameAsReference(layers: LayerEntrySpec[][]): Promise<OutEntry[]> {
  const entries = await flatten(layers, true)
  const ref = reference(layers)
  expect(tree(entries)).toEqual(ref.tree)
  expect(linkGroups(entries)).toEqual(ref.groups)
  return entries
}

// ---------------------------------------------------------------------------------------------

describe('flattenLayers: OCI layer semantics', () => {
  it('whiteouts remove lower files and directories with their contents, never same-layer entries', async () => {
    await expectSameAsReference([
      [
        { path: 'etc', type: 'dir' },
        { path: 'etc/a', data: 'a' },
        { path: 'etc/b', data: 'b' },
        { path: 'd/x/y', data: 'y' },
      ],
      [whiteout('etc/a'), whiteout('d'), { path: 'etc/a2', data: 'new' }, whiteout('etc/a2')],
      [whiteout('d/x'), { path: 'd/z', data: 'z' }],
    ])
  })

  it('an opaque directory hides the lower contents and keeps the directory', async () => {
    const entries = await expectSameAsReference([
      [
        { path: 'opt', type: 'dir', mode: 0o700, uid: 5 },
        { path: 'opt/old', data: 'o' },
        { path: 'opt/sub/deep', data: 'd' },
      ],
      [opaque('opt'), { path: 'opt/new', data: 'n' }],
    ])
    expect(tree(entries).opt).toBe(`dir 700 5:0 @${T0}`)
  })

  it('later layers win; files replace directories and directories replace files', async () => {
    await expectSameAsReference([
      [
        { path: 'x', data: 'v1' },
        { path: 'f', data: 'file' },
        { path: 'd', type: 'dir' },
        { path: 'd/in', data: 'i' },
      ],
      [
        { path: 'x', data: 'v2', mode: 0o600 },
        { path: 'f', type: 'dir', mode: 0o711 },
        { path: 'f/k', data: 'k' },
        { path: 'd', data: 'now a file' },
      ],
      [
        { path: 'd', type: 'dir' },
        { path: 'd/again', data: 'a' },
      ],
    ])
  })

  it('directory metadata comes from the topmost layer; implied directories from a lower entry or defaults', async () => {
    const entries = await expectSameAsReference([
      [
        { path: 'usr', type: 'dir', mode: 0o750, uid: 1, gid: 2 },
        { path: 'usr/lib', type: 'dir', mode: 0o700 },
      ],
      [
        { path: 'usr', type: 'dir', mode: 0o755, uid: 3, gid: 4 },
        { path: 'usr/lib/x', data: 'x' },
        { path: 'new/deep/f', data: 'f' },
      ],
    ])
    const t = tree(entries)
    expect(t.usr).toBe(`dir 755 3:4 @${T0}`)
    expect(t['usr/lib']).toBe(`dir 700 0:0 @${T0}`)
    expect(t['new/deep']).toBe('dir 755 0:0 @0')
  })

  it('keeps owners (numeric), modes, mtimes, symlinks as written, devices, fifos and xattrs', async () => {
    const mtime = new Date('2020-02-02T02:02:02Z')
    const entries = await flatten([
      [
        { path: 'bin/su', data: 'su', mode: 0o4755, uid: 0, gid: 0 },
        {
          path: 'home/u/f',
          data: 'u',
          mode: 0o600,
          uid: 1000,
          gid: 1000,
          uname: 'user',
          gname: 'users',
          mtime,
        },
        { path: 'lib', type: 'symlink', target: '/usr/lib' },
        { path: 'rel', type: 'symlink', target: '../../outside' },
        { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
        { path: 'run/fifo', type: 'fifo', mode: 0o600 },
        {
          path: 'cap',
          data: 'c',
          pax: {
            'SCHILY.xattr.user.note': 'hello',
            'SCHILY.xattr.security.capability': '\u0001\u0000\u0000\u0002',
          },
        },
        { path: 'big', data: 'b', pax: { uid: '3000000', gid: '4000000' } },
      ],
    ])
    const by = Object.fromEntries(entries.map((e) => [e.name, e]))
    expect(by['bin/su'].mode).toBe(0o4755)
    expect(by['home/u/f']).toMatchObject({
      uid: 1000,
      gid: 1000,
      uname: '',
      mode: 0o600,
      mtime: mtime.getTime() / 1000,
    })
    expect(by.lib).toMatchObject({ type: 'symlink', linkname: '/usr/lib' })
    expect(by.rel).toMatchObject({ type: 'symlink', linkname: '../../outside' })
    expect(by['dev/null']).toMatchObject({ type: 'character-device', devmajor: 1, mode: 0o666 })
    expect(by['run/fifo'].type).toBe('fifo')
    expect(by.cap.pax).toMatchObject({
      'SCHILY.xattr.user.note': 'hello',
      'SCHILY.xattr.security.capability': '\u0001\u0000\u0000\u0002',
    })
    expect(by.big.pax).toMatchObject({ uid: '3000000', gid: '4000000' })
  })

  it('owner names are dropped unless asked for', async () => {
    const blob = await layerBytes([
      { path: 'f', data: 'x', uid: 1000, gid: 100, uname: 'daemon', gname: 'users' },
    ])
    const plain = await readTar(flattenLayers([opener(blob)]))
    expect(plain[0]).toMatchObject({ uid: 1000, gid: 100, uname: '' })
    const named = await readTar(flattenLayers([opener(blob)], { ownerNames: true }))
    expect(named[0]).toMatchObject({ uid: 1000, gid: 100, uname: 'daemon' })
  })

  it('long and non-UTF-8 names come through byte for byte', async () => {
    const long = `${'d'.repeat(120)}/${'e'.repeat(120)}/${'f'.repeat(90)}`
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('latin1') // "caf\xe9", not UTF-8
    const blob = await layerBytes([
      { path: long, data: 'L' },
      { path: `${long}-link`, type: 'symlink', target: 'x'.repeat(150) },
    ])
    const raw = Buffer.concat([
      encodeHeader({ path: latin1, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 }),
      Buffer.alloc(1024),
    ])
    const entries = await readTar(flattenLayers([opener(blob), opener(raw)]))
    const names = entries.map((e) => e.name)
    expect(names).toContain(long)
    expect(names).toContain(latin1)
    expect(entries.find((e) => e.name === `${long}-link`)?.linkname).toBe('x'.repeat(150))
  })
})

describe('flattenLayers: hard links', () => {
  it('within a layer, across layers, and when the target was replaced or removed above', async () => {
    await expectSameAsReference([
      [
        { path: 'a', data: 'A', mode: 0o700 },
        { path: 'b', type: 'hardlink', target: 'a' },
        { path: 'c', data: 'C' },
      ],
      [
        { path: 'l1', type: 'hardlink', target: 'a' },
        { path: 'l2', type: 'hardlink', target: 'c' },
      ],
      [{ path: 'a', data: 'new A' }, whiteout('c')],
    ])
  })

  it('a same-layer target that lost its path is read again, once', async () => {
    const layers = [
      [
        { path: 'g', data: 'git' },
        { path: 'g2', type: 'hardlink', target: 'g' },
        { path: 'g3', type: 'hardlink', target: 'g' },
      ],
      [whiteout('g')],
    ] as LayerEntrySpec[][]
    const blobs = await Promise.all(layers.map((l) => layerBytes(l)))
    let opens = 0
    const first = async () => {
      opens++
      return opener(blobs[0])()
    }
    const entries = await readTar(flattenLayers([first, opener(blobs[1])]))
    expect(opens).toBe(2)
    expect(tree(entries)).toEqual(reference(layers).tree)
    expect(linkGroups(entries)).toEqual([['g2', 'g3']])
  })

  it('upper links waiting for a lower path follow a link at that path', async () => {
    await expectSameAsReference([
      [
        { path: 'f', data: 'F' },
        { path: 'm', type: 'hardlink', target: 'f' },
      ],
      [{ path: 'u', type: 'hardlink', target: 'm' }],
      [whiteout('m'), whiteout('f')],
    ])
  })

  it('refuses a link to nothing or to a directory', async () => {
    await expect(
      flatten([[{ path: 'x', data: '' }], [{ path: 'l', type: 'hardlink', target: 'nope' }]]),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(
        /layer 2\/2: hard link "l" points to "nope", which no layer below it has/,
      ),
    })
    await expect(
      flatten([[{ path: 'd', type: 'dir' }], [{ path: 'l', type: 'hardlink', target: 'd' }]]),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('which is a directory'),
    })
  })
})

const file = (data: string, mode = 0o644) => `file "${data}" ${mode.toString(8)} 0:0 @${T0}`
const dir = (mode = 0o755) => `dir ${mode.toString(8)} 0:0 @${T0}`

describe('flattenLayers: a path repeated within one layer (the last entry wins, as GNU tar and umoci)', () => {
  it('file then file, file then directory, directory then file, file then symlink, directory twice', async () => {
    const cases: Array<[LayerEntrySpec[][], Record<string, string | undefined>]> = [
      [
        [
          [
            { path: 'a', data: 'first' },
            { path: 'a', data: 'second' },
          ],
        ],
        { a: file('second') },
      ],
      [
        [
          [
            { path: 'a', data: 'first' },
            { path: 'a', type: 'dir' },
            { path: 'a/x', data: 'x' },
          ],
        ],
        { a: dir(), 'a/x': file('x') },
      ],
      [
        [
          [
            { path: 'a', type: 'dir' },
            { path: 'a/x', data: 'x' },
            { path: 'a', data: 'file' },
          ],
        ],
        { a: file('file'), 'a/x': undefined },
      ],
      [
        [
          [
            { path: 'a', data: 'first' },
            { path: 'a', type: 'symlink', target: 'elsewhere' },
          ],
        ],
        { a: `symlink->elsewhere 644 0:0 @${T0}` },
      ],
      [
        [
          [
            { path: 'd', type: 'dir', mode: 0o700 },
            { path: 'd/x', data: 'x' },
            { path: 'd', type: 'dir', mode: 0o750 },
          ],
        ],
        { d: dir(0o750), 'd/x': file('x') },
      ],
      // A non-directory replaces what its layer put below it; and one below a non-directory of its
      // layer turns that into a directory (umoci >= 0.5; 0.4 refuses the layer).
      [
        [
          [
            { path: 'd/x', data: 'x' },
            { path: 'd', data: 'file' },
          ],
        ],
        { d: file('file'), 'd/x': undefined },
      ],
      [
        [
          [
            { path: 'd', data: 'file' },
            { path: 'd/x', data: 'x' },
          ],
        ],
        { d: 'dir 755 0:0 @0', 'd/x': file('x') },
      ],
    ]
    for (const [layers, want] of cases) {
      const t = tree(await expectSameAsReference(layers))
      for (const [path, summary] of Object.entries(want))
        expect(t[path], JSON.stringify(layers)).toBe(summary)
    }
  })

  it('the entry that replaced a lower directory still hides its contents when its own layer replaces it', async () => {
    const t = tree(
      await expectSameAsReference([
        [
          { path: 'a', type: 'dir' },
          { path: 'a/low', data: 'low' },
        ],
        [
          { path: 'a', data: 'f' },
          { path: 'a', type: 'dir', mode: 0o700 },
          { path: 'a/x', data: 'x' },
        ],
      ]),
    )
    expect(t).toEqual({ a: dir(0o700), 'a/x': file('x') })
  })

  it('a hard link names the file that was at its target when the link came (read again if replaced)', async () => {
    const before = [
      [
        { path: 'a', data: 'first' },
        { path: 'l', type: 'hardlink', target: 'a' },
        { path: 'a', data: 'second' },
      ],
    ] as LayerEntrySpec[][]
    const blobs = await Promise.all(before.map((l) => layerBytes(l)))
    let opens = 0
    const open = async () => {
      opens++
      return opener(blobs[0])()
    }
    const entries = await flattenInto([open], {}, readTar)
    expect(tree(entries)).toEqual({ a: file('second'), l: file('first') })
    expect(linkGroups(entries)).toEqual([])
    // the one pass, the plan, the pass with the plan, and the first file's data read again
    expect(opens).toBe(4)
    const after = await expectSameAsReference([
      [
        { path: 'a', data: 'first' },
        { path: 'a', data: 'second' },
        { path: 'l', type: 'hardlink', target: 'a' },
      ],
    ])
    expect(tree(after)).toEqual({ a: file('second'), l: file('second') })
    expect(linkGroups(after)).toEqual([['a', 'l']])
  })

  it('hard links of upper layers name the last entry at their target', async () => {
    const t = tree(
      await expectSameAsReference([
        [
          { path: 'a', data: 'first' },
          { path: 'a', data: 'second' },
        ],
        [{ path: 'u', type: 'hardlink', target: 'a' }],
      ]),
    )
    expect(t.u).toBe(file('second'))
  })
})

describe('flattenLayers: paths through symlinked directories (resolved inside the root, as umoci)', () => {
  const sym = (target: string) => `symlink->${target} 777 0:0 @${T0}`
  const usrLib = (target: string): LayerEntrySpec[] => [
    { path: 'usr', type: 'dir' },
    { path: 'usr/lib', type: 'dir' },
    { path: 'lib', type: 'symlink', target, mode: 0o777 },
  ]

  it('from a lower layer or the same one; absolute, relative, with .. past the root, chained, dangling', async () => {
    const cases: Array<[LayerEntrySpec[][], Record<string, string | undefined>]> = [
      [
        [usrLib('usr/lib'), [{ path: 'lib/x.so', data: 'X' }]],
        { lib: sym('usr/lib'), 'usr/lib/x.so': file('X') },
      ],
      [
        [[...usrLib('usr/lib'), { path: 'lib/x.so', data: 'X' }]],
        { lib: sym('usr/lib'), 'usr/lib/x.so': file('X') },
      ],
      [
        [usrLib('/usr/lib'), [{ path: 'lib/x.so', data: 'X' }]],
        { 'usr/lib/x.so': file('X'), 'lib/x.so': undefined },
      ],
      [[usrLib('../../../usr/lib'), [{ path: 'lib/x.so', data: 'X' }]], { 'usr/lib/x.so': file('X') }],
      [[usrLib('usr/share/../lib'), [{ path: 'lib/x.so', data: 'X' }]], { 'usr/lib/x.so': file('X') }],
      [
        [
          [
            { path: 'c', type: 'dir' },
            { path: 'b', type: 'symlink', target: 'c', mode: 0o777 },
            { path: 'a', type: 'symlink', target: '/b', mode: 0o777 },
          ],
          [{ path: 'a/x', data: 'X' }],
        ],
        { a: sym('/b'), b: sym('c'), 'c/x': file('X') },
      ],
      [
        [
          [
            { path: 'opt/u/lib', type: 'dir' },
            { path: 'usr', type: 'symlink', target: '/opt/u', mode: 0o777 },
            { path: 'lib', type: 'symlink', target: 'usr/lib', mode: 0o777 },
          ],
          [{ path: 'lib/x', data: 'X' }],
        ],
        { 'opt/u/lib/x': file('X') },
      ],
      [
        [
          [
            { path: 'usr/lib', type: 'dir' },
            { path: 'usr/lib64', type: 'symlink', target: 'lib', mode: 0o777 },
          ],
          [{ path: 'usr/lib64/sub/y', data: 'Y' }],
        ],
        { 'usr/lib/sub/y': file('Y'), 'usr/lib/sub': 'dir 755 0:0 @0', 'usr/lib64': sym('lib') },
      ],
      // A symlink to nothing: the directories it names are made.
      [
        [[{ path: 'lib', type: 'symlink', target: 'usr/lib', mode: 0o777 }], [{ path: 'lib/x', data: 'X' }]],
        { 'usr/lib': 'dir 755 0:0 @0', 'usr/lib/x': file('X') },
      ],
    ]
    for (const [layers, want] of cases) {
      const t = tree(await expectSameAsReference(layers))
      for (const [path, summary] of Object.entries(want))
        expect(t[path], JSON.stringify(layers)).toBe(summary)
    }
  })

  it('whiteouts, opaque markers, directory entries and hard link targets go through them too', async () => {
    const lower = [...usrLib('usr/lib'), { path: 'usr/lib/y', data: 'y' }, { path: 'usr/lib/z', data: 'z' }]
    let t = tree(await expectSameAsReference([lower, [{ path: 'lib/.wh.y', data: '' }]]))
    expect(t['usr/lib/y']).toBeUndefined()
    expect(t['usr/lib/z']).toBe(file('z'))
    t = tree(await expectSameAsReference([lower, [opaque('lib'), { path: 'lib/n', data: 'n' }]]))
    expect(Object.keys(t).filter((p) => p.startsWith('usr/lib/'))).toEqual(['usr/lib/n'])
    expect(t.lib).toBe(sym('usr/lib'))
    t = tree(
      await expectSameAsReference([
        lower,
        [
          { path: 'lib/sub', type: 'dir', mode: 0o700 },
          { path: 'lib/sub/f', data: 'f' },
        ],
      ]),
    )
    expect(t['usr/lib/sub']).toBe(dir(0o700))
    const linked = await expectSameAsReference([lower, [{ path: 'l', type: 'hardlink', target: 'lib/y' }]])
    expect(linkGroups(linked)).toEqual([['l', 'usr/lib/y']])
  })

  it('an entry at the symlink itself replaces it, a directory entry too, before or after those through it', async () => {
    let t = tree(await expectSameAsReference([usrLib('usr/lib'), [{ path: 'lib', data: 'now a file' }]]))
    expect(t.lib).toBe(file('now a file'))
    t = tree(
      await expectSameAsReference([
        usrLib('usr/lib'),
        [{ path: 'lib', type: 'dir' }],
        [{ path: 'lib/x', data: 'X' }],
      ]),
    )
    expect(t['lib/x']).toBe(file('X'))
    t = tree(
      await expectSameAsReference([
        usrLib('usr/lib'),
        [
          { path: 'lib/x', data: 'X' },
          { path: 'lib', type: 'dir' },
        ],
      ]),
    )
    expect(t['usr/lib/x']).toBe(file('X'))
    expect(t.lib).toBe(dir())
    // A symlink above a directory replaces it; nothing is resolved.
    t = tree(await expectSameAsReference([[{ path: 'lib/x', data: 'X' }], usrLib('usr/lib')]))
    expect(t['lib/x']).toBeUndefined()
    expect(t.lib).toBe(sym('usr/lib'))
  })

  it('refuses a loop of symlinks, naming the entry and the link (as umoci and podman refuse it)', async () => {
    await expect(
      flatten([
        [
          { path: 'a', type: 'symlink', target: 'b' },
          { path: 'b', type: 'symlink', target: '/a' },
        ],
        [{ path: 'a/x', data: 'X' }],
      ]),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(
        /^layer 2\/2: entry "a\/x": more than 255 symbolic links to follow \(a loop\) at "[ab]"$/,
      ),
    })
  })
})

describe('flattenLayers: what a plan costs', () => {
  /** The layers, and how often each was opened, after flattenInto. */
  async function opens(layers: LayerEntrySpec[][]): Promise<{ opened: number[]; entries: OutEntry[] }> {
    const blobs = await Promise.all(layers.map((l) => layerBytes(l)))
    const opened = blobs.map(() => 0)
    const entries = await flattenInto(
      blobs.map((b, i) => async () => {
        opened[i]++
        return opener(b)()
      }),
      {},
      readTar,
    )
    return { opened, entries }
  }

  it('a usual image is read once: symlinks nobody goes through, directories repeated alike, whiteouts', async () => {
    const { opened } = await opens([
      [
        { path: 'usr/lib', type: 'dir' },
        { path: 'lib', type: 'symlink', target: 'usr/lib' },
        { path: 'usr/lib/libc.so', data: 'c' },
        { path: 'etc', type: 'dir' },
        { path: 'etc', type: 'dir' },
        { path: 'etc/a', data: 'a' },
      ],
      [
        { path: 'usr/lib/x.so', data: 'X' },
        whiteout('etc/a'),
        { path: 'lib', type: 'symlink', target: '/usr/lib' },
      ],
      [
        { path: 'lib', type: 'dir' },
        { path: 'lib/own', data: 'o' },
      ],
    ])
    expect(opened).toEqual([1, 1, 1])
  })

  it('an image that needs a plan is read at most three times; flattenLayers alone says it needs one', async () => {
    const layers: LayerEntrySpec[][] = [usrLibLayer(), [{ path: 'lib/x.so', data: 'X' }]]
    const { opened, entries } = await opens(layers)
    expect(opened).toEqual([3, 3])
    expect(tree(entries)['usr/lib/x.so']).toBe(file('X'))
    const blobs = await Promise.all(layers.map((l) => layerBytes(l)))
    await expect(readTar(flattenLayers(blobs.map(opener)))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message:
        'layer 1/2: "lib" is a link, and a layer above has entries below it; the layers need reading again with a plan (flattenInto does that)',
    })
  })
})

function usrLibLayer(): LayerEntrySpec[] {
  return [
    { path: 'usr/lib', type: 'dir' },
    { path: 'lib', type: 'symlink', target: 'usr/lib' },
  ]
}

/** Seeded random layer stacks: small name space, so paths collide across layers often. */
function randomLayers(seed: number): LayerEntrySpec[][] {
  let s = seed
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648
    return Math.floor((s / 2147483648) * n)
  }
  const names = ['a', 'b', 'c']
  const layers: LayerEntrySpec[][] = []
  const state = new Map<string, 'dir' | 'other'>() // reference view, updated like reference()
  for (let l = 0; l < 2 + rnd(4); l++) {
    const layer: LayerEntrySpec[] = []
    const mine = new Map<string, 'dir' | 'other'>()
    const ok = (p: string, kind: 'dir' | 'other') => {
      if (mine.has(p)) return false
      const parts = p.split('/')
      for (let i = 1; i < parts.length; i++)
        if (mine.get(parts.slice(0, i).join('/')) === 'other') return false
      if (kind === 'other') for (const k of mine.keys()) if (k.startsWith(`${p}/`)) return false
      return true
    }
    const add = (e: LayerEntrySpec, kind: 'dir' | 'other') => {
      layer.push(e)
      mine.set(e.path, kind)
      for (const k of [...state.keys()]) if (kind === 'other' && k.startsWith(`${e.path}/`)) state.delete(k)
      const parts = e.path.split('/')
      for (let i = 1; i < parts.length; i++) state.set(parts.slice(0, i).join('/'), 'dir')
      state.set(e.path, kind)
    }
    for (let n = 0; n < 4 + rnd(10); n++) {
      const path = Array.from({ length: 1 + rnd(3) }, () => names[rnd(3)]).join('/')
      const meta = { mode: [0o644, 0o600, 0o755][rnd(3)], uid: rnd(3) * 1000, gid: rnd(2) }
      const op = rnd(8)
      if (op === 0 && state.has(path) && !mine.size) {
        layer.push(whiteout(path))
        for (const k of [...state.keys()]) if (k === path || k.startsWith(`${path}/`)) state.delete(k)
      } else if (op === 1 && state.get(path) === 'dir' && !mine.size) {
        layer.push(opaque(path))
        for (const k of [...state.keys()]) if (k.startsWith(`${path}/`)) state.delete(k)
      } else if (op === 2 && ok(path, 'dir')) add({ path, type: 'dir', ...meta }, 'dir')
      else if (op === 3 && ok(path, 'other'))
        add({ path, type: 'symlink', target: `/t${rnd(9)}`, ...meta }, 'other')
      else if (op === 4 && ok(path, 'other')) {
        const targets = [...state].filter(
          ([k, v]) => v === 'other' && k !== path && !k.startsWith(`${path}/`) && !path.startsWith(`${k}/`),
        )
        if (targets.length) add({ path, type: 'hardlink', target: targets[rnd(targets.length)][0] }, 'other')
        // This model knows nothing of symlinked directories: drop a link umoci would refuse.
        try {
          reference([...layers, layer])
        } catch {
          layer.pop()
        }
      } else if (ok(path, 'other')) add({ path, data: `${l}:${n}`, ...meta }, 'other')
    }
    // Markers act on the layers below wherever they are in the tar: move some of them around.
    for (let i = 0; i < layer.length; i++) {
      if (!layer[i].path.includes('.wh.') || rnd(2)) continue
      const [m] = layer.splice(i, 1)
      layer.splice(rnd(layer.length + 1), 0, m)
    }
    layers.push(layer)
  }
  return layers
}

describe('flattenLayers: random layer stacks against the reference', () => {
  it('agrees on 300 seeded stacks', async () => {
    for (let seed = 1; seed <= Number(process.env.AIRLOCK_FLATTEN_SEEDS ?? 300); seed++) {
      const layers = randomLayers(seed)
      try {
        await expectSameAsReference(layers)
      } catch (err) {
        const ref = reference(layers)
        const got = tree(await flatten(layers))
        const diff = [...new Set([...Object.keys(ref.tree), ...Object.keys(got)])]
          .filter((k) => ref.tree[k] !== got[k])
          .map((k) => `${k}: want ${ref.tree[k]}, got ${got[k]}`)
        throw new Error(
          `seed ${seed}: ${JSON.stringify(layers)}\n${diff.join('\n')}\n${(err as Error).message}`,
        )
      }
    }
  })
})

/**
 * Seeded random stacks with what flatten-plan.ts is about: paths repeated within a layer (any types),
 * symlinks to directories (relative, absolute, with `..`, chained, dangling, loops) with entries,
 * whiteouts and hard links going through them, in the same layer or above.
 */
function randomQuirkyLayers(seed: number): LayerEntrySpec[][] {
  let s = seed
  const rnd = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648
    return Math.floor((s / 2147483648) * n)
  }
  const names = ['a', 'b', 'c']
  const targets = ['b', 'c', 'a/b', '/c', '/b/a', '../c', '../../b', '.', '/', 'nowhere/d']
  const files: string[] = []
  const layers: LayerEntrySpec[][] = []
  for (let l = 0; l < 1 + rnd(4); l++) {
    const layer: LayerEntrySpec[] = []
    for (let n = 0; n < 3 + rnd(9); n++) {
      const path = Array.from({ length: 1 + rnd(3) }, () => names[rnd(3)]).join('/')
      const meta = { mode: [0o644, 0o600, 0o755][rnd(3)], uid: rnd(2) * 1000 }
      const op = rnd(12)
      if (op === 0) layer.push(whiteout(path))
      else if (op === 1) layer.push(opaque(path))
      else if (op <= 4) layer.push({ path, type: 'dir', ...meta })
      else if (op <= 6) layer.push({ path, type: 'symlink', target: targets[rnd(targets.length)], ...meta })
      else if (op === 7 && files.length) {
        // Only links umoci accepts (a link to a file the same layer replaced or removed is not one).
        layer.push({ path, type: 'hardlink', target: files[rnd(files.length)] })
        try {
          reference([...layers, layer])
        } catch (err) {
          if ((err as Error).message.includes('bad link')) layer.pop()
        }
      } else {
        layer.push({ path, data: `${l}:${n}`, ...meta })
        files.push(path)
      }
    }
    layers.push(layer)
  }
  return layers
}

describe('flattenLayers: random stacks with repeated paths and symlinked directories', () => {
  it("agree with umoci's way on 400 seeded stacks, refusals included", async () => {
    let agreed = 0
    for (let seed = 1; seed <= Number(process.env.AIRLOCK_FLATTEN_SEEDS ?? 400); seed++) {
      const layers = randomQuirkyLayers(seed)
      let ref: ReturnType<typeof reference> | undefined
      let refused = ''
      try {
        ref = reference(layers)
      } catch (err) {
        refused = (err as Error).message
      }
      let got: OutEntry[] | undefined
      let failed: unknown
      try {
        got = await flatten(layers, seed % 2 === 0)
      } catch (err) {
        failed = err
      }
      const context = () => `seed ${seed}: ${JSON.stringify(layers)}`
      if (!ref) {
        // umoci refuses it (a loop of symlinks): so must airlock.
        expect(failed, `${context()}\nreference: ${refused}`).toMatchObject({
          code: 'INVALID_INPUT',
          message: expect.stringContaining('symbolic links to follow (a loop)'),
        })
        continue
      }
      if (failed) throw new Error(`${context()}\n${(failed as Error).message}`)
      const t = tree(got as OutEntry[])
      const diff = [...new Set([...Object.keys(ref.tree), ...Object.keys(t)])]
        .filter((k) => ref.tree[k] !== t[k])
        .map((k) => `${k}: want ${ref.tree[k]}, got ${t[k]}`)
      expect(diff, context()).toEqual([])
      expect(linkGroups(got as OutEntry[]), context()).toEqual(ref.groups)
      agreed++
    }
    // Most stacks are valid images, so most of the comparisons are of trees, not of refusals.
    expect(agreed).toBeGreaterThan(Number(process.env.AIRLOCK_FLATTEN_SEEDS ?? 400) * 0.7)
  })
})

describe('flattenLayers: hostile and broken layers', () => {
  const flattenBlobs = (blobs: Buffer[]) => readTar(flattenLayers(blobs.map(opener)))

  it('refuses entries that would leave the root, naming the layer and the entry', async () => {
    const cases: Array<[LayerEntrySpec, RegExp]> = [
      [{ path: '../escape', data: 'x' }, /layer 2\/2: entry "\.\.\/escape" has a "\.\." path component/],
      [{ path: 'a/../../escape', data: 'x' }, /layer 2\/2: entry "a\/\.\.\/\.\.\/escape"/],
      [{ path: '/etc/passwd', data: 'x' }, /layer 2\/2: entry "\/etc\/passwd" has an absolute path/],
      [
        { path: 'l', type: 'hardlink', target: '../../etc/shadow' },
        /layer 2\/2: hardlink "l" points outside/,
      ],
      [{ path: 'l', type: 'hardlink', target: '/etc/shadow' }, /layer 2\/2: hardlink "l" points outside/],
      [{ path: 'd/.wh...', data: '' }, /layer 2\/2: whiteout "d\/\.wh\.\.\." names no file/],
    ]
    const good = await layerBytes([{ path: 'ok', data: 'fine' }])
    for (const [entry, message] of cases) {
      const bad = await layerBytes([{ path: 'first', data: '1' }, entry])
      await expect(flattenBlobs([good, bad])).rejects.toMatchObject({ code: 'INVALID_INPUT', message })
    }
  })

  it('an image without layers is refused at once', () => {
    expect(() => flattenLayers([])).toThrow(AirlockError)
    expect(() => flattenLayers([])).toThrow(/no layers/)
  })

  it('a truncated or corrupt layer errors the output stream', async () => {
    const good = await layerBytes([{ path: 'a', data: 'a' }])
    const big = await layerBytes([{ path: 'f', data: Buffer.alloc(100_000, 7) }])
    const gz = gzipSync(big)
    await expect(flattenBlobs([good, gz.subarray(0, gz.length - 100)])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/^layer 2\/2 cannot be read: unexpected end of file/),
    })
    await expect(flattenBlobs([big.subarray(0, 50_000), good])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(
        /^layer 1\/2 cannot be read: entry "f": the archive ends inside its data/,
      ),
    })
    await expect(flattenBlobs([good, Buffer.from('x'.repeat(2048))])).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('layer 2/2 cannot be read'),
    })
    const failing = async () => {
      throw new AirlockError('NOT_FOUND', 'blob sha256:abc is gone')
    }
    await expect(readTar(flattenLayers([opener(good), failing]))).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('a zstd layer is refused on a Node.js without zstd (naming the layer), and never passed through', async () => {
    const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)])
    const reading = readTar(flattenLayers([opener(zstd)], { layerNames: ['sha256:1234'] }))
    if (typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function') {
      // This Node.js decompresses zstd: the made-up frame above is not valid zstd and must fail.
      await expect(reading).rejects.toThrow()
    } else {
      await expect(reading).rejects.toMatchObject({
        code: 'UNSUPPORTED',
        message: expect.stringMatching(/^layer 1\/1 \(sha256:1234\) is zstd-compressed, and Node\.js v\d+/),
      })
    }
  })

  it('stops reading layers when aborted or when the reader goes away', async () => {
    const big = await layerBytes([{ path: 'f', data: Buffer.alloc(8 * 1024 * 1024, 1) }])
    let source: Readable | undefined
    const open = async () => {
      source = await opener(big)()
      return source
    }
    const ac = new AbortController()
    const out = flattenLayers([open], { signal: ac.signal })
    await new Promise((r) => out.once('readable', r))
    ac.abort()
    await expect(readTar(out)).rejects.toMatchObject({ code: 'INTERRUPTED' })
    await new Promise((r) => setTimeout(r, 50))
    expect(source?.destroyed).toBe(true)

    const out2 = flattenLayers([open])
    await new Promise((r) => out2.once('readable', r))
    out2.destroy()
    await new Promise((r) => setTimeout(r, 50))
    expect(source?.destroyed).toBe(true)
  })
})

describe('flattenLayers: extra entries', () => {
  it('override replaces image files; ifMissing only fills gaps', async () => {
    const mtime = new Date('2023-03-03T00:00:00Z')
    const blob = await layerBytes([
      { path: 'etc/hosts', data: '127.0.0.1 image', mode: 0o444 },
      { path: 'tmp', type: 'dir', mode: 0o1777 },
      { path: 'singularity', data: 'a file already' },
    ])
    const entries = await readTar(
      flattenLayers([opener(blob)], {
        extra: {
          override: [
            { path: 'etc/hosts', type: 'file', mode: 0o644, mtime, data: Buffer.alloc(0) },
            {
              path: '.singularity.d/runscript',
              type: 'file',
              mode: 0o755,
              mtime,
              data: Buffer.from('#!/bin/sh\n'),
            },
          ],
          ifMissing: [
            { path: '.singularity.d', type: 'directory', mode: 0o755, mtime },
            { path: 'tmp', type: 'directory', mode: 0o755, mtime },
            { path: 'proc', type: 'directory', mode: 0o755, mtime },
            { path: 'singularity', type: 'symlink', mode: 0o777, mtime, target: '.singularity.d/runscript' },
            { path: '.run', type: 'symlink', mode: 0o777, mtime, target: '.singularity.d/actions/run' },
          ],
        },
      }),
    )
    const t = tree(entries)
    const at = mtime.getTime() / 1000
    expect(t['etc/hosts']).toBe(`file "" 644 0:0 @${at}`)
    expect(t['.singularity.d']).toBe(`dir 755 0:0 @${at}`)
    expect(t['.singularity.d/runscript']).toBe(`file "#!/bin/sh\n" 755 0:0 @${at}`)
    expect(t.tmp).toBe(`dir 1777 0:0 @${T0}`)
    expect(t.proc).toBe(`dir 755 0:0 @${at}`)
    expect(t.singularity).toBe(`file "a file already" 644 0:0 @${T0}`)
    expect(t['.run']).toBe(`symlink->.singularity.d/actions/run 777 0:0 @${at}`)
    expect(t.etc).toBe('dir 755 0:0 @0')
  })
})

describe('the tar encoder', () => {
  it('puts what ustar cannot hold into pax records', () => {
    const h = encodeHeader({
      path: 'huge',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: -5,
      size: 9_000_000_000,
    })
    expect(String.fromCharCode(h[156])).toBe('x')
    const records = h.subarray(512, 1024).toString('latin1')
    expect(records).toContain('size=9000000000\n')
    expect(records).not.toContain('mtime=') // clamped to 0, the squashfs range (sif-times.test.ts)
    const main = h.subarray(1024, 1536)
    expect(main[124]).toBe(0x80) // base-256 size as well, for readers without pax
    expect(String.fromCharCode(main[156])).toBe('0')
  })
})
