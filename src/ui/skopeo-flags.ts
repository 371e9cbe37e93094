/**
 * skopeo copy's flags for what airlock already does, accepted so that a skopeo command line works
 * as it is (listed under SKOPEO COMPATIBILITY in --help).
 */
import { Flags } from '@oclif/core'
import { AirlockError } from '../lib/errors.js'

export const skopeoCopyFlags = {
  all: Flags.boolean({
    description: 'Accepted for skopeo compatibility: every platform of an index is copied by default.',
    helpGroup: 'SKOPEO COMPATIBILITY',
  }),
  'multi-arch': Flags.string({
    options: ['all', 'system', 'index-only'],
    description:
      'Accepted for skopeo compatibility: "all" is the default; for one platform use --platform os/arch (system and index-only are refused).',
    helpGroup: 'SKOPEO COMPATIBILITY',
  }),
  'preserve-digests': Flags.boolean({
    description:
      'Accepted for skopeo compatibility: manifests are always copied byte for byte, so digests are kept wherever the destination stores manifests.',
    helpGroup: 'SKOPEO COMPATIBILITY',
  }),
}

/** Refuses skopeo's --multi-arch system and index-only, which airlock does not do. */
export function checkSkopeoCopyFlags(flags: { 'multi-arch'?: string }): void {
  const m = flags['multi-arch']
  if (m === undefined || m === 'all') return
  throw new AirlockError('INVALID_INPUT', `--multi-arch ${m} is not supported`, {
    hint:
      m === 'system'
        ? 'name the platform with --platform os/arch (e.g. --platform linux/amd64); without it every platform is copied'
        : 'airlock copies an index with its images; leave out --multi-arch',
  })
}
