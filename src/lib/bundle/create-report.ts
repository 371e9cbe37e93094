/** The report of `bundle create`: per-image outcomes, totals and the exit code. */
import type { BundleItem } from './sources.js'
import type { BundleCreateReport, BundleImageReport } from './types.js'

export function notStarted(item: BundleItem): BundleImageReport {
  return {
    source: item.source,
    reference: item.name,
    action: 'failed',
    bytes: 0,
    seconds: 0,
    attempts: 0,
    error: { code: 'INTERRUPTED', message: 'not started: the run was interrupted' },
  }
}

export function baseReport(
  bundle: string,
  images: BundleImageReport[],
  errors: BundleCreateReport['errors'],
  interrupted: boolean,
): Omit<BundleCreateReport, 'parts' | 'changedParts' | 'outcome' | 'size' | 'blobs'> {
  const count = (a: string) => images.filter((i) => i.action === a).length
  const totals = {
    images: images.length,
    added: count('added'),
    present: count('present'),
    failed: count('failed'),
    bytes: images.reduce((n, i) => n + i.bytes, 0),
  }
  // Some images failed: 3; every one (or nothing got in): 1.
  const allFailed = totals.failed === images.length
  const exitCode = interrupted ? 1 : totals.failed || errors.length ? (allFailed ? 1 : 3) : 0
  return { bundle, images, totals, errors, exitCode }
}
