/** Human formatting helpers. */
export { formatBytes } from '../lib/sizes.js'

export function shortDigest(d: string): string {
  const i = d.indexOf(':')
  return `${d.slice(0, i + 1)}${d.slice(i + 1, i + 13)}`
}
