/**
 * Bytes moved by several copies at once, for one progress line: the total grows as blobs start
 * (only blobs that are really sent count), a retried blob's bytes are taken back.
 */
import type { CopyEventHandler } from '../copy/events.js'

export type BundleProgress = (done: number, total: number) => void

export function progressEvents(onProgress: BundleProgress | undefined): CopyEventHandler | undefined {
  if (!onProgress) return undefined
  let done = 0
  let total = 0
  return (e) => {
    if (e.type === 'blob-start') total += e.size
    else if (e.type === 'blob-progress') done += e.delta
    else return
    onProgress(done, total)
  }
}
