import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { isUncompressedLayer } from '../../src/lib/quota/image-size.js'
import { harborTarget } from '../../src/lib/quota/preflight-harbor.js'
import { parseSshTarget, shellQuote, sshArgv } from '../../src/lib/quota/ssh-runner.js'
import { formatBytes, formatSize } from '../../src/lib/sizes.js'
import { errorOf } from '../helpers/errors.js'

describe('ssh node names', () => {
  it('takes user@host:port, aliases, and bracketed IPv6 apart', () => {
    expect(parseSshTarget('login1')).toEqual({ host: 'login1' })
    expect(parseSshTarget('me@login1.example.org')).toEqual({ host: 'login1.example.org', user: 'me' })
    expect(parseSshTarget('me@127.0.0.1:2222')).toEqual({ host: '127.0.0.1', user: 'me', port: 2222 })
    expect(parseSshTarget('[::1]:2200')).toEqual({ host: '::1', port: 2200 })
    expect(parseSshTarget('root@[fe80::1]')).toEqual({ host: 'fe80::1', user: 'root' })
  })

  it('refuses names ssh would read as options or that hold spaces', () => {
    for (const bad of ['-oProxyCommand=x', 'a b', '', 'host:0', 'host:70000']) {
      expect(errorOf(() => parseSshTarget(bad)).code).toBe('INVALID_INPUT')
    }
  })
})

describe('the remote command line', () => {
  it('quotes every argument so a POSIX shell gives back argv exactly', async () => {
    const argv = ['printf', '%s\\n', "it's", 'a b', '$HOME', '`id`', '', 'x;y', 'plain-1.0/ok']
    const line = argv.map(shellQuote).join(' ')
    const r = await execa('sh', ['-c', line])
    expect(r.stdout.split('\n')).toEqual(argv.slice(2))
    expect(shellQuote('plain-1.0/ok')).toBe('plain-1.0/ok')
  })

  it('runs ssh in batch mode with timeouts, the options given, and `--` before the host', () => {
    const args = sshArgv('me@login1:2222', ['id', '-u'], {
      identityFile: '/k',
      configFile: '/cfg',
      knownHostsFile: '/kh',
      strictHostKeyChecking: 'accept-new',
      connectTimeoutSec: 7,
      extraArgs: ['-o', 'ProxyJump=gw'],
    })
    expect(args.slice(0, 2)).toEqual(['-F', '/cfg'])
    expect(args).toContain('BatchMode=yes')
    expect(args).toContain('ConnectTimeout=7')
    expect(args).toContain('StrictHostKeyChecking=accept-new')
    expect(args).toContain('UserKnownHostsFile=/kh')
    expect(args.join(' ')).toContain(
      '-i /k -o IdentitiesOnly=yes -p 2222 -l me -o ProxyJump=gw -- login1 id -u',
    )
    expect(sshArgv('login1', ['true'])).not.toContain('StrictHostKeyChecking=accept-new')
  })

  it('shares a connection through a control socket, after the caller’s own options (which win)', () => {
    const args = sshArgv(
      'login1',
      ['id', '-u'],
      { extraArgs: ['-o', 'ControlMaster=no'] },
      {
        path: '/tmp/airlock-ssh-x/ctl',
        persistSec: 10,
      },
    )
    expect(args.join(' ')).toContain(
      '-o ControlMaster=no -o ControlMaster=auto -o ControlPath=/tmp/airlock-ssh-x/ctl -o ControlPersist=10s -- login1 id -u',
    )
    expect(sshArgv('login1', ['true'], {}, { path: '/t/100%/ctl', persistSec: 1 })).toContain(
      'ControlPath=/t/100%%/ctl',
    )
    expect(sshArgv('login1', ['true']).join(' ')).not.toContain('Control')
  })
})

describe('preflight helpers', () => {
  it('knows plain tar layers from compressed ones', () => {
    expect(isUncompressedLayer('application/vnd.docker.image.rootfs.diff.tar')).toBe(true)
    expect(isUncompressedLayer('application/vnd.oci.image.layer.v1.tar')).toBe(true)
    expect(isUncompressedLayer('application/vnd.oci.image.layer.v1.tar+gzip')).toBe(false)
    expect(isUncompressedLayer('application/vnd.oci.image.layer.v1.tar+zstd')).toBe(false)
  })

  it('finds the Harbor project of a destination on the configured Harbor only', () => {
    expect(harborTarget('harbor.example.org/chem/app:1', 'https://harbor.example.org')).toMatchObject({
      project: 'chem',
      repository: 'chem/app',
    })
    expect(harborTarget('docker://harbor.example.org/chem/team/app:1', 'harbor.example.org')?.project).toBe(
      'chem',
    )
    expect(harborTarget('other.example.org/chem/app:1', 'harbor.example.org')).toBeUndefined()
    expect(harborTarget('harbor.example.org/chem/app:1', undefined)).toBeUndefined()
  })

  it('writes sizes in binary units', () => {
    expect(formatSize(0)).toBe('0 B')
    expect(formatSize(50_000)).toBe('48.8 KiB')
    expect(formatSize(50 * 1024 ** 3)).toBe('50.0 GiB')
    // Progress and command output: two decimals below 10.
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.50 KiB')
    expect(formatBytes(50 * 1024 ** 3)).toBe('50.0 GiB')
    expect(formatBytes(2 * 1024 ** 5)).toBe('2.00 PiB')
  })
})
