/**
 * `--force` for the commands with a quota preflight (pull, push, load, copy), and the preflight's
 * settings from the config file: `quota.limit` (the limit on podman's storage when no quota tool
 * gives one) and `harbor.host` (pushes there are checked against the project quota).
 */
import { Flags } from '@oclif/core'
import { loadConfig } from '../lib/config/config.js'
import type { QuotaFlowOptions } from '../lib/quota/checked-copy.js'
import { parseSizeSetting } from '../lib/quota/sizes.js'

export const forceFlag = {
  force: Flags.boolean({
    description:
      'Go on even when the preflight finds too little room (quota or free space; a Harbor project quota).',
  }),
}

export async function quotaFlowOptions(flags: {
  force?: boolean
  config?: string
  harbor?: string
}): Promise<QuotaFlowOptions> {
  const cfg = await loadConfig(flags.config)
  const limit = cfg.quota?.limit
  const harbor = flags.harbor ?? cfg.harbor?.host
  return {
    force: flags.force ?? false,
    ...(limit !== undefined
      ? { configLimit: parseSizeSetting(limit, 'quota.limit in the config file') }
      : {}),
    ...(harbor ? { harbor } : {}),
  }
}
