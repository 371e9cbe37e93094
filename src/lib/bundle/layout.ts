/**
 * What an airlock bundle holds: an OCI image layout (image-spec image-layout.md) in one tar, so that
 * `skopeo copy oci-archive:FILE:REF` and `tar -x` + `oci:DIR:REF` read its images too.
 *
 *   oci-layout                   {"imageLayoutVersion": "1.0.0"}
 *   blobs/sha256/<hex>           every blob and manifest of every image, each stored once
 *   index.json                   one entry per image, annotated (below)
 *   SHA256SUMS                   `sha256sum -c` list of every file above (after extraction)
 *   airlock-bundle.json          a small summary for people and scripts
 *
 * Annotations of an index.json entry:
 *   org.opencontainers.image.ref.name   the full source reference (docker.io/library/alpine:3.20);
 *                                       image-spec annotations.md allows ':' '@' '/' in it, and it is
 *                                       the name skopeo's oci-archive:FILE:NAME selects by
 *   dev.airlock.bundle.target           where a mirror spec's naming put the image (from -f SPEC)
 *   dev.airlock.bundle.naming           that naming rule, to apply again with --to elsewhere
 *   dev.airlock.bundle.target-path      an image's explicit `target:` in the spec
 *   dev.airlock.bundle.referrer-of      for signature/attestation tags: the digest they belong to
 *   dev.airlock.bundle.source-digest    the digest the source had (differs when --platform narrowed it)
 *
 * The metadata files come last in the tar, so adding images to a bundle appends blobs and a new
 * index.json after the old entries (a later entry of the same name replaces an earlier one, for
 * airlock, GNU tar and skopeo alike). `.airlock-unused/<offset>` entries are space left by a blob that
 * failed half way while others were being written after it; readers ignore them.
 */
import { AirlockError } from '../errors.js'
import { isValidDigest } from '../reference.js'
import { REF_NAME } from '../transports/oci-layout/transport.js'

export const LAYOUT_FILE = 'oci-layout'
/** What airlock writes as `oci-layout` (image-spec image-layout.md). */
export const LAYOUT_BYTES = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))
export const INDEX_FILE = 'index.json'
export const SUMS_FILE = 'SHA256SUMS'
export const SUMMARY_FILE = 'airlock-bundle.json'
export const UNUSED_DIR = '.airlock-unused'
export const SUMMARY_FORMAT = 'airlock-bundle/v1'

export const ANN = {
  refName: REF_NAME,
  target: 'dev.airlock.bundle.target',
  naming: 'dev.airlock.bundle.naming',
  targetPath: 'dev.airlock.bundle.target-path',
  referrerOf: 'dev.airlock.bundle.referrer-of',
  sourceDigest: 'dev.airlock.bundle.source-digest',
  /** On index.json itself: the size parts are cut at (split bundles). */
  partSize: 'dev.airlock.bundle.part-size',
} as const

const HOSTILE_HINT =
  'the file is not an airlock bundle or OCI archive, or was made to write outside its directory when extracted; airlock refuses to read it. Create the bundle again with airlock bundle create'

/** `blobs/sha256/<hex>` for a digest (validated, so it never names anything outside blobs/). */
export function blobPath(digest: string): string {
  if (!isValidDigest(digest)) {
    throw new AirlockError('INVALID_INPUT', `invalid digest ${JSON.stringify(digest)} in the bundle`, {
      hint: HOSTILE_HINT,
    })
  }
  const [alg, hex] = digest.split(':')
  return `blobs/${alg}/${hex}`
}

/** The digest a `blobs/<alg>/<hex>` entry name stands for, or undefined. */
export function digestOfPath(name: string): string | undefined {
  const m = /^blobs\/([a-z0-9]+(?:[+._-][a-z0-9]+)*)\/([a-zA-Z0-9=_-]+)$/.exec(name)
  if (!m) return undefined
  const digest = `${m[1]}:${m[2]}`
  return isValidDigest(digest) ? digest : undefined
}

const FIXED = new Set([LAYOUT_FILE, INDEX_FILE, SUMS_FILE, SUMMARY_FILE, 'blobs', UNUSED_DIR])

/**
 * Refuses an entry a bundle may not hold. The tar index already refused absolute names, `..` and
 * links that leave the archive; a bundle holds no links at all and nothing but the layout's files.
 */
export function checkEntry(
  name: string,
  kind: 'file' | 'hardlink' | 'symlink' | 'directory' | 'other',
  what: string,
): void {
  const isDir = kind === 'directory'
  const ok =
    kind === 'file'
      ? FIXED.has(name) || digestOfPath(name) !== undefined || /^\.airlock-unused\/\d+$/.test(name)
      : isDir && (FIXED.has(name) || /^blobs\/[a-z0-9]+$/.test(name))
  if (!ok) {
    throw new AirlockError(
      'INVALID_INPUT',
      `${what}: unexpected ${kind === 'file' ? 'file' : kind} ${JSON.stringify(name)} in the bundle`,
      { hint: HOSTILE_HINT },
    )
  }
}
