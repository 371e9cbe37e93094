/**
 * `airlock doctor`: what this machine has and lacks for each capability, found by the same library
 * code the commands run (engine detection, the SIF builder choice, storage.conf resolution, the auth
 * file order, the S3 client set-up), so its answer is theirs. Checks run in parallel, every child
 * process with a short timeout; a check never throws (what it could not find out is in its report).
 */
import { AirlockError, EXIT } from '../errors.js'
import { checkAuth } from './checks-auth.js'
import { checkBundle, checkConfig, checkCopy, checkMirror } from './checks-basic.js'
import { checkEngine } from './checks-engine.js'
import { checkQuota } from './checks-quota.js'
import { checkSif } from './checks-sif.js'
import { checkProminence, checkUpload } from './checks-upload.js'
import { type DoctorContext, makeContext, reason } from './context.js'
import {
  CAPABILITIES,
  type CapabilityName,
  type CapabilityReport,
  type DoctorOptions,
  type DoctorReport,
  isCapabilityName,
} from './types.js'

export type { CapabilityReport, CheckStatus, DoctorCheck, DoctorOptions, DoctorReport } from './types.js'
export { CAPABILITIES, type CapabilityName } from './types.js'

const CHECKERS: Record<CapabilityName, (ctx: DoctorContext) => Promise<CapabilityReport>> = {
  config: checkConfig,
  copy: checkCopy,
  mirror: checkMirror,
  bundle: checkBundle,
  engine: checkEngine,
  sif: checkSif,
  upload: checkUpload,
  prominence: checkProminence,
  quota: checkQuota,
  auth: checkAuth,
}

/**
 * Capability names from `--for` values: each may be a comma list; case and blanks are ignored.
 * INVALID_INPUT (exit 2) naming an unknown one and listing the valid ones.
 */
export function parseCapabilities(values: readonly string[]): CapabilityName[] {
  const names = values.flatMap((v) => v.split(',')).map((n) => n.trim().toLowerCase())
  const out: CapabilityName[] = []
  for (const n of names) {
    if (!n) continue
    if (!isCapabilityName(n)) {
      throw new AirlockError('INVALID_INPUT', `"${n}" is not a capability airlock doctor knows`, {
        hint: `use one or more of: ${CAPABILITIES.join(', ')}`,
      })
    }
    if (!out.includes(n)) out.push(n)
  }
  return out
}

async function safely(name: CapabilityName, ctx: DoctorContext): Promise<CapabilityReport> {
  try {
    return await CHECKERS[name](ctx)
  } catch (err) {
    return {
      name,
      commands: '',
      usable: false,
      summary: 'could not be checked',
      checks: [
        {
          name: 'doctor',
          status: 'missing',
          detail: reason(err),
          fix: 'run with --debug, and report this as a bug in airlock doctor',
        },
      ],
    }
  }
}

/** The report for the capabilities asked about (all when none), never printed here. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const started = performance.now()
  const asked = parseCapabilities(opts.capabilities ?? [])
  const names = asked.length ? CAPABILITIES.filter((n) => asked.includes(n)) : [...CAPABILITIES]
  const ctx = await makeContext({ ...opts, capabilities: asked })
  const capabilities = await Promise.all(names.map((n) => safely(n, ctx)))
  const missing = capabilities.filter((c) => asked.includes(c.name) && !c.usable).map((c) => c.name)
  return {
    asked,
    missing,
    exitCode: missing.length ? EXIT.FAILED : EXIT.OK,
    capabilities,
    seconds: Math.round(performance.now() - started) / 1000,
  }
}
