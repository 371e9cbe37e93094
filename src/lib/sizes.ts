/**
 * Byte counts for people, in binary units (B, KiB, MiB, GiB, TiB, PiB): the one place airlock
 * scales a size. Reading sizes back (quota tools, config values) is quota/sizes.ts.
 */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** `n` scaled down by 1024 while it is 1024 or more: the value and the index of its unit. */
function scale(n: number): [number, number] {
  let v = n
  let i = 0
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024
    i++
  }
  return [v, i]
}

/** `512 B`, `1.50 KiB`, `12.3 GiB`: two decimals below 10, one above (progress, command output). */
export function formatBytes(n: number): string {
  const [v, i] = scale(n)
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`
}

/** `512 B`, `1.5 KiB`, `12.3 GiB`: one decimal, as `quota -s` and Harbor write sizes (quota messages, mirror report). */
export function formatSize(n: number): string {
  const [v, i] = scale(n)
  return `${i ? v.toFixed(1) : v} ${UNITS[i]}`
}
