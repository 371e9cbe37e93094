/** What a copy reports while it works; the CLI turns these into progress, the library never prints. */
export type CopyEvent =
  | { type: 'resolved'; source: string; destination: string; digest: string; mediaType: string }
  | { type: 'up-to-date'; digest: string }
  | {
      type: 'image'
      digest: string
      platform: string
      /** The image's blobs (config and layers) and their sizes, in manifest order; a blob may repeat. */
      blobs: string[]
      sizes: number[]
      bytes: number
      present: boolean
    }
  | { type: 'blob-start'; digest: string; size: number }
  | { type: 'blob-progress'; digest: string; delta: number }
  | { type: 'blob-done'; digest: string; size: number; action: 'copied' | 'exists' | 'mounted' }
  | { type: 'blob-retry'; digest: string; attempt: number; error: string }
  | { type: 'manifest'; digest: string; mediaType: string }
  | { type: 'commit'; digest: string; destination: string }

export type CopyEventHandler = (event: CopyEvent) => void
