/**
 * `airlock sif build`: apptainer or singularity when one is on PATH (`--builder auto` takes it first,
 * findBuilder), else the built-in converter, which streams the root filesystem into tar2sqfs or, when
 * that is missing, `mksquashfs -tar` (squashfs-tools 4.5 or later: older ones have no -tar and fail).
 * fallocate lets the converter put the SIF header in front of tar2sqfs's image in place; without it
 * the image is copied into the SIF (twice the space for a moment).
 */
import { findBuilder } from '../sif/apptainer-builder.js'
import { type DoctorContext, optionalToolCheck, type ToolProbe } from './context.js'
import type { CapabilityReport, DoctorCheck } from './types.js'

const FIX_TAR2SQFS = 'apt-get install squashfs-tools-ng'
const FIX_MKSQUASHFS = 'apt-get install squashfs-tools (4.5 or later for -tar)'
const FIX_APPTAINER =
  'optional: install apptainer (https://apptainer.org/docs/admin/main/installation.html; not in Debian)'

/** True for 4.5 and later; undefined when the version is unknown. */
export function mksquashfsHasTar(version: string | undefined): boolean | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '')
  if (!m) return undefined
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major > 4 || (major === 4 && minor >= 5)
}

function versioned(t: ToolProbe): { found?: string; version?: string } {
  return { ...(t.path ? { found: t.path } : {}), ...(t.version ? { version: t.version } : {}) }
}

export async function checkSif(ctx: DoctorContext): Promise<CapabilityReport> {
  const [tar2sqfs, mksquashfs, fallocate, builder] = await Promise.all([
    ctx.tool('tar2sqfs'),
    ctx.tool('mksquashfs', ['-version']),
    ctx.tool('fallocate'),
    findBuilder(ctx.env),
  ])
  const builderTool = builder ? await ctx.tool(builder.name) : undefined
  const mkTar = mksquashfs.path ? mksquashfsHasTar(mksquashfs.version) : false

  const tar2sqfsCheck = optionalToolCheck(tar2sqfs, {
    detail: 'the converter uses it first',
    missing: 'not on PATH',
    fix: FIX_TAR2SQFS,
  })
  const mksquashfsCheck: DoctorCheck = !mksquashfs.path
    ? { name: 'mksquashfs', status: 'missing', optional: true, detail: 'not on PATH', fix: FIX_MKSQUASHFS }
    : mkTar
      ? {
          name: 'mksquashfs',
          status: 'ok',
          optional: true,
          ...versioned(mksquashfs),
          detail: tar2sqfs.path
            ? 'has -tar; used with --squashfs-tool mksquashfs'
            : 'has -tar; the converter uses it',
        }
      : {
          name: 'mksquashfs',
          status: 'warn',
          optional: true,
          ...versioned(mksquashfs),
          detail:
            mkTar === false
              ? `${mksquashfs.version} has no -tar (needs 4.5 or later)`
              : `no version number from ${mksquashfs.path} -version, so -tar may be missing`,
          fix: FIX_MKSQUASHFS,
        }

  // The tool the converter would run (squashfs.ts chooseTool: tar2sqfs, else mksquashfs).
  const converterTool = tar2sqfs.path ? 'tar2sqfs' : mksquashfs.path ? 'mksquashfs' : undefined
  const builtinUsable = converterTool === 'tar2sqfs' || (converterTool === 'mksquashfs' && mkTar !== false)
  const converterCheck: DoctorCheck = builtinUsable
    ? {
        name: 'built-in converter',
        status: mkTar === undefined && converterTool === 'mksquashfs' ? 'warn' : 'ok',
        optional: builder !== undefined,
        found: converterTool === 'tar2sqfs' ? 'tar2sqfs' : 'mksquashfs -tar',
        detail: `--builder builtin${builder ? '' : ' (what --builder auto uses here)'}: no root, no temporary root filesystem`,
      }
    : {
        name: 'built-in converter',
        status: 'missing',
        optional: builder !== undefined,
        detail:
          converterTool === 'mksquashfs'
            ? `it would run mksquashfs ${mksquashfs.version}, which has no -tar`
            : 'needs tar2sqfs or mksquashfs 4.5 or later, and neither is on PATH',
        fix: `${FIX_TAR2SQFS} (or squashfs-tools 4.5 or later)`,
      }

  const builderCheck: DoctorCheck = builder
    ? {
        name: builder.name,
        status: mksquashfs.path ? 'ok' : 'warn',
        optional: true,
        found: builder.path,
        ...(builderTool?.version ? { version: builderTool.version } : {}),
        detail: mksquashfs.path
          ? '--builder auto uses it'
          : `--builder auto uses it, but ${builder.name} build needs mksquashfs, which is not on PATH`,
        ...(mksquashfs.path ? {} : { fix: FIX_MKSQUASHFS }),
      }
    : {
        name: 'apptainer/singularity',
        status: 'missing',
        optional: true,
        detail: 'neither on PATH: --builder auto uses the built-in converter',
        fix: FIX_APPTAINER,
      }

  const fallocateCheck = optionalToolCheck(fallocate, {
    detail: 'SIF header put in front of the image in place (ext4, XFS)',
    missing: 'the squashfs image is copied into the SIF (twice its size on disk for a moment)',
    fix: 'apt-get install util-linux',
  })

  const usable = builtinUsable || builder !== undefined
  const summary = builder
    ? `${builder.name}${builderTool?.version ? ` ${builderTool.version}` : ''} (--builder auto)${builtinUsable ? `; built-in converter with ${converterCheck.found}` : ''}`
    : builtinUsable
      ? `built-in converter with ${converterCheck.found}`
      : 'no way to build a SIF: install squashfs-tools-ng (tar2sqfs)'
  return {
    name: 'sif',
    commands: 'sif build',
    usable,
    summary,
    checks: [converterCheck, tar2sqfsCheck, mksquashfsCheck, builderCheck, fallocateCheck],
  }
}
