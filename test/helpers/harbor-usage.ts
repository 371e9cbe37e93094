// Part of the Harbor stand-in (harbor.ts; Harbor cannot run here): project storage usage, read from the backing docker-registry's storage.
/**
 * Harbor counts a project's storage as the sum of the blobs its repositories hold, each blob once
 * per project, manifests included (src/controller/quota/driver/project/project.go `CalculateUsage`,
 * "CalculateTotalSizeByProject"). Here that is read from the registry's filesystem layout:
 * `repositories/<project>/…/_layers/sha256/<hex>/link` and `…/_manifests/revisions/sha256/<hex>/link`,
 * sizes from `blobs/sha256/<xx>/<hex>/data`.
 */
import type { Dirent } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'

export interface ProjectUsage {
  /** digest → size of every blob (layers, configs, manifests) linked under the project. */
  blobs: Map<string, number>
  /** Sum of `blobs` sizes. */
  used: number
  /** Repositories holding at least one manifest. */
  repoCount: number
}

function v2Root(rootDir: string): string {
  return path.join(rootDir, 'docker', 'registry', 'v2')
}

async function list(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Size of a blob in the registry's storage, or undefined when it is not there. */
export async function blobSize(rootDir: string, digest: string): Promise<number | undefined> {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest)
  if (!m) return undefined
  const hex = m[1]!
  const file = path.join(v2Root(rootDir), 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')
  return (await stat(file).catch(() => undefined))?.size
}

async function linkedDigests(dir: string, into: Set<string>): Promise<number> {
  let n = 0
  for (const e of await list(path.join(dir, 'sha256'))) {
    if (e.isDirectory() && /^[a-f0-9]{64}$/.test(e.name)) {
      into.add(`sha256:${e.name}`)
      n++
    }
  }
  return n
}

export async function projectUsage(rootDir: string, project: string): Promise<ProjectUsage> {
  const digests = new Set<string>()
  let repoCount = 0
  const walk = async (dir: string): Promise<void> => {
    for (const e of await list(dir)) {
      if (!e.isDirectory()) continue
      const sub = path.join(dir, e.name)
      if (e.name === '_layers') await linkedDigests(sub, digests)
      else if (e.name === '_manifests') {
        if ((await linkedDigests(path.join(sub, 'revisions'), digests)) > 0) repoCount++
      } else if (e.name !== '_uploads') await walk(sub)
    }
  }
  await walk(path.join(v2Root(rootDir), 'repositories', project))
  const blobs = new Map<string, number>()
  let used = 0
  for (const d of digests) {
    const size = await blobSize(rootDir, d)
    if (size === undefined) continue
    blobs.set(d, size)
    used += size
  }
  return { blobs, used, repoCount }
}

/** Bytes as Harbor writes them in quota messages (src/pkg/quota/types/format.go): `512 B`, `1.2 MiB`. */
export function formatHarborBytes(value: number): string {
  const unit = 1024
  if (value < unit) return `${value} B`
  let div = unit
  let exp = 0
  for (let n = Math.floor(value / unit); n >= unit; n = Math.floor(n / unit)) {
    div *= unit
    exp++
  }
  return `${(value / div).toFixed(1)} ${'KMGTPE'[exp]}iB`
}

/**
 * Harbor's refusal of a push over quota: DENIED, "Quota exceeded when processing the request of "
 * + the ResourceOverflow text (goharbor/harbor src/controller/quota/controller.go,
 * src/pkg/quota/errors.go).
 */
export function quotaExceededMessage(adding: number, currentUsed: number, hardLimit: number): string {
  return (
    'Quota exceeded when processing the request of ' +
    `adding ${formatHarborBytes(adding)} of storage resource, which when updated to current usage of ` +
    `${formatHarborBytes(currentUsed)} will exceed the configured upper limit of ${formatHarborBytes(hardLimit)}.`
  )
}
