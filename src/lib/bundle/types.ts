/** Reports of the bundle commands (also their --json documents). */

export interface BundleImageReport {
  /** Where the image came from (docker://…, containers-storage:…). */
  source: string
  /** Its name in the bundle (index.json ref.name). */
  reference: string
  action: 'added' | 'present' | 'failed'
  reason?: string
  /** Digest the bundle holds for it. */
  digest?: string
  sourceDigest?: string
  platforms?: string[]
  /** Bytes of blobs this run wrote for the image (0 when all were in the bundle). */
  bytes: number
  seconds: number
  attempts: number
  error?: { code: string; message: string; hint?: string }
  /** Signature, attestation and SBOM tags added with the image. */
  referrers?: string[]
}

export interface BundleCreateReport {
  /** The bundle's name (-o). */
  bundle: string
  /** The files that hold it now. */
  parts: string[]
  /** Parts this run wrote or changed (the others are byte for byte as before: no need to carry them again). */
  changedParts: string[]
  /** new: the bundle was made; added: images were added to an existing one; unchanged: nothing to add. */
  outcome: 'new' | 'added' | 'unchanged'
  images: BundleImageReport[]
  totals: { images: number; added: number; present: number; failed: number; bytes: number }
  /** The bundle's size, and what its distinct blobs add up to. */
  size: number
  blobs: { count: number; bytes: number }
  /** Sources the spec names whose tags could not be listed or are missing. */
  errors: Array<{ source: string; code: string; message: string }>
  /** 0 all added, 3 some failed, 1 interrupted (what was done is kept). */
  exitCode: number
}
