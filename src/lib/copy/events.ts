/** What a copy reports while it works; the CLI turns these into progress, the library never prints. */
export type CopyEvent =
  | { type: 'resolved'; source: string; destination: string; digest: string; mediaType: string }
  | { type: 'up-to-date'; digest: string }
  | { type: 'image'; digest: string; platform: string; blobs: string[]; bytes: number; present: boolean }
  | { type: 'blob-start'; digest: string; size: number }
  | { type: 'blob-progress'; digest: string; delta: number }
  | { type: 'blob-done'; digest: string; size: number; action: 'copied' | 'exists' | 'mounted' }
  | { type: 'blob-retry'; digest: string; attempt: number; error: string }
  | { type: 'manifest'; digest: string; mediaType: string }
  | { type: 'commit'; digest: string; destination: string }

export type CopyEventHandler = (event: CopyEvent) => void
