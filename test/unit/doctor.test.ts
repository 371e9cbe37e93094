/**
 * The pure parts of `airlock doctor`: --for parsing, version parsing, the mksquashfs -tar cut-off,
 * and the human rendering (marks, fix lines under problems only).
 */
import { describe, expect, it } from 'vitest'
import { renderDoctor } from '../../src/commands/doctor.js'
import { mksquashfsHasTar } from '../../src/lib/doctor/checks-sif.js'
import { parseVersion } from '../../src/lib/doctor/context.js'
import { CAPABILITIES, type DoctorReport, parseCapabilities } from '../../src/lib/doctor/run-doctor.js'

describe('parseCapabilities', () => {
  it('takes repeats and comma lists, any case, once each, in the order given', () => {
    expect(parseCapabilities(['sif', 'Engine, auth', 'sif'])).toEqual(['sif', 'engine', 'auth'])
    expect(parseCapabilities([])).toEqual([])
  })

  it('refuses an unknown name with INVALID_INPUT listing the valid ones', () => {
    expect(() => parseCapabilities(['sif,podman'])).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        message: '"podman" is not a capability airlock doctor knows',
        hint: `use one or more of: ${CAPABILITIES.join(', ')}`,
      }),
    )
  })
})

describe('versions', () => {
  it('finds the first dotted number of what tools print', () => {
    expect(parseVersion('podman version 4.3.1')).toBe('4.3.1')
    expect(parseVersion('mksquashfs version 4.5.1 (2022/03/17)')).toBe('4.5.1')
    expect(parseVersion('tar2sqfs (squashfs-tools-ng) 1.2.0')).toBe('1.2.0')
    expect(parseVersion('Quota utilities version 4.06.')).toBe('4.06')
    expect(parseVersion('apptainer version 1.3.4-1.el8')).toBe('1.3.4-1.el8')
    expect(parseVersion('OpenSSH_9.2p1 Debian-2+deb12u3')).toBe('9.2')
    expect(parseVersion('no number here')).toBeUndefined()
  })

  it('mksquashfs has -tar from 4.5 on', () => {
    expect(mksquashfsHasTar('4.4')).toBe(false)
    expect(mksquashfsHasTar('4.5')).toBe(true)
    expect(mksquashfsHasTar('4.6.1')).toBe(true)
    expect(mksquashfsHasTar('5.0')).toBe(true)
    expect(mksquashfsHasTar('3.9')).toBe(false)
    expect(mksquashfsHasTar(undefined)).toBeUndefined()
  })
})

describe('renderDoctor', () => {
  const report: DoctorReport = {
    asked: ['sif'],
    missing: ['sif'],
    exitCode: 1,
    seconds: 0.25,
    capabilities: [
      {
        name: 'sif',
        commands: 'sif build',
        usable: false,
        summary: 'no way to build a SIF',
        checks: [
          {
            name: 'built-in converter',
            status: 'missing',
            detail: 'needs tar2sqfs',
            fix: 'apt-get install x',
          },
          {
            name: 'tar2sqfs',
            status: 'ok',
            found: '/usr/bin/tar2sqfs',
            version: '1.2.0',
            detail: 'used first',
          },
          { name: 'apptainer', status: 'missing', optional: true, detail: 'not on PATH', fix: 'optional' },
          {
            name: 'mksquashfs',
            status: 'warn',
            found: '/usr/bin/mksquashfs',
            version: '4.4',
            fix: 'upgrade',
          },
        ],
      },
    ],
  }

  it('plain text for logs: words as marks, a fix line under each problem', () => {
    const lines = renderDoctor(report, false)
    expect(lines).toEqual([
      'MISSING sif (sif build): no way to build a SIF',
      '    MISSING built-in converter  needs tar2sqfs',
      '                                fix: apt-get install x',
      '    ok      tar2sqfs            /usr/bin/tar2sqfs (1.2.0): used first',
      '    -       apptainer           not on PATH',
      '                                fix: optional',
      '    warn    mksquashfs          /usr/bin/mksquashfs (4.4)',
      '                                fix: upgrade',
      '',
      'sif: not usable here (0.25 s)',
    ])
  })

  it('symbols on a terminal', () => {
    const lines = renderDoctor(report, true)
    expect(lines[0]).toBe('✗ sif (sif build): no way to build a SIF')
    expect(lines[3]).toMatch(/^ {4}✓ tar2sqfs/)
    expect(lines[4]).toMatch(/^ {4}· apptainer/)
    expect(lines[6]).toMatch(/^ {4}! mksquashfs/)
  })
})
