/**
 * Names and xattrs from layer to squashfs as bytes: layers written by GNU tar (gnu format: names in
 * ustar fields and 'L'/'K' long names; pax format: `path`/`linkpath` records, SCHILY.xattr) and by
 * Python's tarfile (PAX, `hdrcharset=BINARY`, binary xattrs, 'g' global headers) with a Latin-1
 * directory, a name and a symlink target that are not UTF-8, a file capability (cap_setuid, as on
 * newuidmap) and a binary user xattr; flattened and made into a squashfs by tar2sqfs and by
 * mksquashfs -tar, then compared with the layer's own contents: `unsquashfs -lln`, the tree
 * `unsquashfs -d` extracts (names by Buffer readdir, contents by sha256), xattrs by
 * `getfattr -e hex`, the capability by getcap (as root) or `rdsquashfs -x`.
 * Also: such a layer through `airlock save` (docker-archive, oci-archive) and a bundle keeps its
 * digest and bytes, and converts from there the same way.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buffer } from 'node:stream/consumers'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBundle } from '../../src/lib/bundle/create-bundle.js'
import { saveImage } from '../../src/lib/engine-flows/save.js'
import { flattenLayers } from '../../src/lib/sif/flatten.js'
import { openImageForSif } from '../../src/lib/sif/open-image.js'
import { makeSquashfs, type SquashfsTool } from '../../src/lib/sif/squashfs.js'
import { writeLegacyDockerArchive } from '../helpers/archives.js'
import { blob, type GeneratedImage, MEDIA_TYPES, pushRaw } from '../helpers/images.js'
import { opener } from '../helpers/layers.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'
import {
  b,
  extract,
  listing,
  pythonTarScript,
  readTree,
  readXattrs,
  summaryOf,
  type TreeNode,
  typeflags,
  writeTree,
  xattrsOf,
} from '../helpers/tar-bytes.js'

const exec = promisify(execFile)
const TOOLS: SquashfsTool[] = ['tar2sqfs', 'mksquashfs']
const ROOT = process.getuid?.() === 0
/** VFS_CAP_REVISION_2 with the effective flag, permitted = cap_setuid (bit 7): `cap_setuid=ep`. */
const CAP = Buffer.from('0100000280000000000000000000000000000000', 'hex')
const BIN = Buffer.from('ff000afe3d', 'hex')
const LONG = b(`caf\xe9dir/${'d'.repeat(90)}/\xe9l\xe8ve-a-name-past-the-hundred-bytes-of-ustar`)

const TREE: TreeNode[] = [
  { path: b('caf\xe9dir'), type: 'dir' },
  { path: b('caf\xe9dir/caf\xe9'), type: 'file', data: Buffer.from('hello latin1\n') },
  { path: b('caf\xe9dir/link'), type: 'symlink', target: b('caf\xe9') },
  { path: LONG, type: 'file', data: Buffer.from('deep\n') },
  { path: b('longlink'), type: 'symlink', target: LONG },
  {
    path: b('usr/bin/newuidmap'),
    type: 'file',
    data: Buffer.from('#!/bin/true\n'),
    xattrs: { 'security.capability': CAP, 'user.bin': BIN },
  },
]

/**
 * The Python layer with 'g' headers: their records apply to every later entry (the file's own 'x'
 * records win) until a later 'g' deletes them with an empty value. Written: TREE, `other` and
 * `glink` (a symlink whose ustar link name is "ignored"); a 'g' before newuidmap and one before glink.
 */
const GLOBAL_WRITTEN: TreeNode[] = [
  ...TREE,
  { path: b('usr/bin/other'), type: 'file', data: Buffer.from('other\n') },
  { path: b('usr/bin/glink'), type: 'symlink', target: b('ignored') },
]
const GLOBALS: Array<{ before: number; records: Record<string, Buffer> }> = [
  {
    before: 5,
    records: {
      comment: Buffer.from('written by airlock tests'),
      'SCHILY.xattr.user.global': b('\xff\x00\xfe'),
      linkpath: b('caf\xe9dir/caf\xe9'),
    },
  },
  { before: 7, records: { 'SCHILY.xattr.user.global': Buffer.alloc(0) } },
]
const GLOBAL_TREE: TreeNode[] = [
  ...TREE.slice(0, 5),
  { ...TREE[5], xattrs: { ...TREE[5].xattrs, 'user.global': b('\xff\x00\xfe') } },
  { ...GLOBAL_WRITTEN[6], xattrs: { 'user.global': b('\x01') } },
  // The global linkpath wins over the ustar link name, as POSIX says of extended header records.
  { ...GLOBAL_WRITTEN[7], target: b('caf\xe9dir/caf\xe9') },
]

let dir: string
const layers: Record<string, { bytes: Buffer; tree: TreeNode[]; xattrs: (name: string) => boolean }> = {}
/** Extended attributes an extraction can set: all as root, user.* otherwise. */
const settable = (name: string) => ROOT || name.startsWith('user.')

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-sif-names-'))
  const src = join(dir, 'src')
  // security.* needs CAP_SETFCAP on the source tree too.
  await writeTree(src, TREE, settable)
  await exec('tar', ['--format=gnu', '-C', src, '-cf', join(dir, 'gnu.tar'), '.'])
  await exec('tar', [
    '--format=pax',
    '--xattrs',
    '--xattrs-include=*',
    '-C',
    src,
    '-cf',
    join(dir, 'pax.tar'),
    '.',
  ])
  const py = join(dir, 'py.py')
  await writeFile(py, pythonTarScript(join(dir, 'python.tar'), TREE))
  await exec('python3', [py])
  await writeFile(
    py,
    pythonTarScript(join(dir, 'python-g.tar'), GLOBAL_WRITTEN, {
      globals: GLOBALS,
      pax: { 'usr/bin/other': { 'SCHILY.xattr.user.global': b('\x01') } },
    }),
  )
  await exec('python3', [py])
  const read = (f: string) => readFile(join(dir, f))
  // The fixtures hold what they are about: GNU long names, pax records, two global headers.
  expect(typeflags(await read('gnu.tar'))).toMatch(/L.*K/)
  expect(typeflags(await read('gnu.tar'))).not.toContain('x')
  expect(typeflags(await read('pax.tar'))).toContain('x')
  expect(typeflags(await read('python-g.tar')).match(/g/g)).toHaveLength(2)
  layers['GNU tar --format=gnu'] = { bytes: await read('gnu.tar'), tree: TREE, xattrs: () => false }
  layers['GNU tar --format=pax --xattrs'] = { bytes: await read('pax.tar'), tree: TREE, xattrs: settable }
  layers['Python tarfile PAX'] = { bytes: await read('python.tar'), tree: TREE, xattrs: () => true }
  layers["Python tarfile PAX with 'g' headers"] = {
    bytes: await read('python-g.tar'),
    tree: GLOBAL_TREE,
    xattrs: () => true,
  }
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** What the squashfs must hold for a layer, checked with the tools (see the top). */
async function checkImage(img: string, tree: TreeNode[], has: (name: string) => boolean): Promise<void> {
  const want = summaryOf(tree)
  const list = await listing(img)
  expect(Object.keys(list).sort()).toEqual(Object.keys(want).sort())
  expect(list['caf\xe9dir/link']).toBe('lrwxrwxrwx -> caf\xe9')
  expect(list.longlink).toBe(`lrwxrwxrwx -> ${LONG.toString('latin1')}`)
  const out = `${img}.d`
  await extract(img, out)
  expect(readTree(out)).toEqual(want)
  expect(await readXattrs(out)).toEqual(xattrsOf(tree, (k) => has(k) && settable(k)))
  if (!has('security.capability')) return
  if (ROOT) {
    const { stdout } = await exec('getcap', ['-r', '.'], { cwd: out })
    expect(stdout.trim()).toBe('./usr/bin/newuidmap cap_setuid=ep')
  } else {
    const { stdout } = await exec('rdsquashfs', ['-x', '/usr/bin/newuidmap', img])
    expect(stdout).toContain(`security.capability=0x${CAP.toString('hex')}\n`)
  }
}

describe.each(TOOLS)('names and xattrs as bytes, through %s', (tool) => {
  it.each([
    'GNU tar --format=gnu',
    'GNU tar --format=pax --xattrs',
    'Python tarfile PAX',
    "Python tarfile PAX with 'g' headers",
  ])('%s', async (name) => {
    const layer = layers[name]
    const img = join(dir, `${name.replace(/\W+/g, '-')}-${tool}.sqfs`)
    await makeSquashfs(flattenLayers([opener(layer.bytes)]), { file: img }, { tool })
    await checkImage(img, layer.tree, layer.xattrs)
  })
})

/** A one-layer image around an uncompressed layer (a docker save archive holds them so). */
function imageOf(layer: Buffer): GeneratedImage {
  const mt = MEDIA_TYPES.docker
  const l = blob(layer, mt.layerTar)
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [l.digest] },
      }),
    ),
    mt.config,
  )
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mt.manifest,
        config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
        layers: [{ mediaType: l.mediaType, digest: l.digest, size: l.size }],
      }),
    ),
    mt.manifest,
  )
  return { manifest, config, layers: [l], platform: { os: 'linux', architecture: 'amd64' } }
}

describe('such a layer through airlock save and a bundle', () => {
  let reg: TestRegistry
  beforeAll(async () => {
    reg = await startRegistry()
  })
  afterAll(async () => {
    await reg?.stop()
  })

  it('keeps its digest and bytes, and converts from there with the names and xattrs as in the layer', async () => {
    const layer = layers['Python tarfile PAX'].bytes
    const image = imageOf(layer)
    await pushRaw(reg, 'bytes/app', '1', image)
    const remote = `docker://${reg.host}/bytes/app:1`
    const registry = { tlsVerify: false }
    const legacy = join(dir, 'legacy.tar')
    await writeLegacyDockerArchive(legacy, [{ image, repoTags: ['localhost/bytes:1'] }])
    const out = (name: string) => join(dir, name)
    await saveImage(remote, out('saved.tar'), 'docker-archive', { registry })
    await saveImage(remote, out('saved-oci.tar'), 'oci-archive', { registry })
    await saveImage(`docker-archive:${legacy}`, out('from-legacy.tar'), 'oci-archive')
    await createBundle({ output: out('bundle.tar'), refs: [remote.slice('docker://'.length)], registry })
    for (const ref of [
      `docker-archive:${out('saved.tar')}`,
      `oci-archive:${out('saved-oci.tar')}`,
      `oci-archive:${out('from-legacy.tar')}`,
      `oci-archive:${out('bundle.tar')}`,
    ]) {
      const opened = await openImageForSif(ref)
      try {
        expect(opened.layerNames, ref).toEqual([image.layers[0].digest])
        expect((await buffer(await opened.layers[0]())).equals(layer), ref).toBe(true)
        const img = `${ref.slice(ref.indexOf(':') + 1)}.sqfs`
        await makeSquashfs(flattenLayers(opened.layers), { file: img }, { tool: 'tar2sqfs' })
        await checkImage(img, TREE, () => true)
      } finally {
        await opened.close()
      }
    }
  })
})
