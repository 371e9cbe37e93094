/**
 * Compression by magic bytes, as containers/image's pkg/compression detects it: gzip (RFC 1952),
 * zstd (RFC 8878), bzip2 and xz.
 */
export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz'

export function sniffCompression(head: Buffer): Compression {
  const starts = (...bytes: number[]) => head.length >= bytes.length && bytes.every((b, i) => head[i] === b)
  if (starts(0x1f, 0x8b)) return 'gzip'
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd'
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2'
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz'
  return 'none'
}
