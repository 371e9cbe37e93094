/**
 * Sizes as quota tools and airlock's config write them. Binary units throughout (the tools' K/M/G/T
 * are 1024-based: quota-tools `space2str`, lfs `%5.4g` with k/M/G/T/P, xfs_quota `bbs_to_string`;
 * see quota(1), lfs-quota(1), xfs_quota(8)).
 */
import { AirlockError } from '../errors.js'

const POWER: Record<string, number> = { '': 0, B: 0, K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 }

/**
 * A tool's size token: `9228M`, `1.366G`, `0k`, `15.5M`, or a bare number counted in `unit` bytes
 * (1024 for quota's and lfs' 1K blocks). Undefined when the token is not a size (never a guess).
 */
export function parseToolSize(token: string, unit = 1024): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KkMGTPE]?)$/.exec(token)
  if (!m) return undefined
  const n = Number(m[1])
  if (!Number.isFinite(n)) return undefined
  const suffix = m[2].toUpperCase()
  return Math.round(suffix ? n * 1024 ** POWER[suffix] : n * unit)
}

/**
 * A size in airlock's config or flags: `50G`, `50GiB`, `50 GB`, `512M`, `1.5T`, `1073741824`.
 * Units are binary (as `quota -s` prints them): `50G` = 50 × 1024³ bytes, the usual meaning of a "50 GB"
 * home quota. Throws INVALID_INPUT naming the text.
 */
export function parseSizeSetting(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]?)(?:i?B)?\s*$/i.exec(text)
    if (m) {
      const bytes = Math.round(Number(m[1]) * 1024 ** POWER[m[2].toUpperCase()])
      if (Number.isSafeInteger(bytes)) return bytes
    }
  }
  throw new AirlockError('INVALID_INPUT', `${what} ${JSON.stringify(text)} is not a size`, {
    hint: 'write a number of bytes, or a number with K, M, G or T (binary: 50G = 50 GiB)',
  })
}
