/**
 * podman's storage.conf resolution (containers/storage types/options.go, types/utils.go;
 * containers-storage.conf(5), FILES), through a Runner over a table of files: the
 * same path the probe takes over ssh.
 */
import { describe, expect, it } from 'vitest'
import { expandEnvPath, parseStorageConf, resolveStorage } from '../../src/lib/quota/storage-conf.js'
import type { Runner } from '../../src/lib/quota/types.js'

/** A node whose files are `files`; `cat` of anything else says "No such file or directory". */
function fakeNode(files: Record<string, string>): Runner & { calls: string[][] } {
  const calls: string[][] = []
  const run = (async (argv: string[]) => {
    calls.push(argv)
    if (argv[0] !== 'cat')
      return { exitCode: 127, stdout: '', stderr: `${argv[0]}: not found`, notFound: true }
    const file = argv[argv.length - 1]
    if (file in files) return { exitCode: 0, stdout: files[file], stderr: '' }
    return { exitCode: 1, stdout: '', stderr: `cat: ${file}: No such file or directory\n` }
  }) as Runner & { calls: string[][] }
  run.calls = calls
  return run
}

const ETC = '/etc/containers/storage.conf'
const USR = '/usr/share/containers/storage.conf'
const HOME = { HOME: '/home/alice' }

describe('storage.conf resolution', () => {
  it('rootless with no files: ~/.local/share and /tmp/containers-user-UID', async () => {
    const r = await resolveStorage(fakeNode({}), HOME, 1000)
    expect(r.storage).toEqual({
      driver: '',
      graphroot: '/home/alice/.local/share/containers/storage',
      runroot: '/tmp/containers-user-1000/containers',
      rootless: true,
      source: 'defaults',
    })
    expect(r.looked.map((l) => l.file)).toEqual([ETC, USR, '/home/alice/.config/containers/storage.conf'])
  })

  it('rootless: XDG_DATA_HOME, XDG_RUNTIME_DIR and XDG_CONFIG_HOME', async () => {
    const node = fakeNode({ '/cfg/containers/storage.conf': '[storage]\ndriver = "vfs"\n' })
    const r = await resolveStorage(
      node,
      { ...HOME, XDG_DATA_HOME: '/data', XDG_RUNTIME_DIR: '/run/user/1000', XDG_CONFIG_HOME: '/cfg' },
      1000,
    )
    expect(r.storage).toMatchObject({
      driver: 'vfs',
      graphroot: '/data/containers/storage',
      runroot: '/run/user/1000/containers',
      source: '/cfg/containers/storage.conf',
    })
  })

  it("rootless: the user file wins over /etc entirely (no merging of the system file's graphroot)", async () => {
    const node = fakeNode({
      [ETC]:
        '[storage]\ndriver = "overlay"\ngraphroot = "/var/lib/containers/storage"\nrunroot = "/run/containers/storage"\n',
      '/home/alice/.config/containers/storage.conf':
        '[storage]\ndriver = "overlay"\ngraphroot = "/scratch/$USER/containers"\n',
    })
    const r = await resolveStorage(node, { ...HOME, USER: 'alice' }, 1000)
    expect(r.storage).toMatchObject({
      driver: 'overlay',
      graphroot: '/scratch/alice/containers',
      runroot: '/tmp/containers-user-1000/containers',
      source: '/home/alice/.config/containers/storage.conf',
    })
  })

  it("rootless without a user file: the system's rootless_storage_path ($UID, $HOME, $USER) and driver", async () => {
    const node = fakeNode({
      [ETC]:
        '[storage]\ndriver = "overlay2"\ngraphroot = "/var/lib/containers/storage"\nrootless_storage_path = "/local/$USER-$UID/storage"\n',
    })
    const r = await resolveStorage(node, { ...HOME, USER: 'alice' }, 1000)
    expect(r.storage).toMatchObject({
      driver: 'overlay',
      graphroot: '/local/alice-1000/storage',
      source: `defaults (rootless, with ${ETC})`,
    })
  })

  it('rootless: a user file without graphroot uses its own rootless_storage_path', async () => {
    const node = fakeNode({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} as storage.conf writes it
      '/home/alice/.config/containers/storage.conf': '[storage]\nrootless_storage_path = "${HOME}/podman"\n',
    })
    const r = await resolveStorage(node, HOME, 1000)
    expect(r.storage.graphroot).toBe('/home/alice/podman')
  })

  it('CONTAINERS_STORAGE_CONF is the only file read when set', async () => {
    const node = fakeNode({
      '/tmp/my.conf': '[storage]\ndriver = "vfs"\ngraphroot = "/tmp/g"\nrunroot = "/tmp/r"\n',
      '/home/alice/.config/containers/storage.conf': '[storage]\ngraphroot = "/nope"\n',
      [ETC]: '[storage]\ngraphroot = "/nope2"\n',
    })
    for (const uid of [0, 1000]) {
      const r = await resolveStorage(node, { ...HOME, CONTAINERS_STORAGE_CONF: '/tmp/my.conf' }, uid)
      expect(r.storage).toMatchObject({
        driver: 'vfs',
        graphroot: '/tmp/g',
        runroot: '/tmp/r',
        source: '/tmp/my.conf',
      })
    }
    expect(node.calls.some((c) => c.includes('/home/alice/.config/containers/storage.conf'))).toBe(false)
  })

  it('root: /etc, then /usr/share, then the defaults; never the home file', async () => {
    const both = fakeNode({
      [ETC]: '[storage]\ngraphroot = "/srv/etc"\n',
      [USR]: '[storage]\ngraphroot = "/srv/usr"\n',
    })
    expect((await resolveStorage(both, { HOME: '/root' }, 0)).storage).toMatchObject({
      graphroot: '/srv/etc',
      source: ETC,
    })
    const usr = fakeNode({ [USR]: '[storage]\ndriver = "overlay"\ngraphroot = "/srv/usr"\n' })
    expect((await resolveStorage(usr, { HOME: '/root' }, 0)).storage).toMatchObject({
      driver: 'overlay',
      graphroot: '/srv/usr',
      runroot: '/run/containers/storage',
      rootless: false,
      source: USR,
    })
    const none = fakeNode({ '/root/.config/containers/storage.conf': '[storage]\ngraphroot = "/nope"\n' })
    expect((await resolveStorage(none, { HOME: '/root' }, 0)).storage).toMatchObject({
      graphroot: '/var/lib/containers/storage',
      source: 'defaults',
    })
  })

  it('STORAGE_DRIVER overrides the file', async () => {
    const node = fakeNode({ [ETC]: '[storage]\ndriver = "overlay"\n' })
    expect((await resolveStorage(node, { HOME: '/root', STORAGE_DRIVER: 'vfs' }, 0)).storage.driver).toBe(
      'vfs',
    )
  })

  it('a file that is not TOML is a warning and the defaults apply, as in podman', async () => {
    const node = fakeNode({ '/home/alice/.config/containers/storage.conf': '[storage\ngraphroot = 1' })
    const r = await resolveStorage(node, HOME, 1000)
    expect(r.warnings[0]).toMatch(/storage.conf is not valid TOML/)
    expect(r.storage.graphroot).toBe('/home/alice/.local/share/containers/storage')
  })

  it('a file that exists but cannot be read is a warning', async () => {
    const run: Runner = async (argv) =>
      argv.at(-1) === ETC
        ? { exitCode: 1, stdout: '', stderr: `cat: ${ETC}: Permission denied` }
        : { exitCode: 1, stdout: '', stderr: `cat: ${argv.at(-1)}: No such file or directory` }
    const r = await resolveStorage(run, { HOME: '/root' }, 0)
    expect(r.warnings).toEqual([`cannot read ${ETC}: cat: ${ETC}: Permission denied`])
  })

  it('parses the [storage] table with options sub-tables', () => {
    expect(
      parseStorageConf(
        '[storage]\ndriver = "overlay"\ngraphroot = "/g"\nimagestore = "/i"\n[storage.options.overlay]\nmountopt = "nodev"\n',
      ),
    ).toEqual({ driver: 'overlay', graphroot: '/g', imagestore: '/i' })
  })

  it('expands like expandEnvPath: $UID first, unset variables empty, then cleaned', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${VAR} as storage.conf writes it
    expect(expandEnvPath('/x/$UID/${HOME}/../$NOPE/y/', 1000, { HOME: '/home/a' })).toBe('/x/1000/home/y')
  })
})
