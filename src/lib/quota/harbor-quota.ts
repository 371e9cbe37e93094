/**
 * A Harbor project's storage quota, for `airlock quota --harbor URL --project P` and for the push
 * preflight: `hard` and `used` from the project summary (GET /projects/{p}/summary in Harbor's API
 * v2.0, https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml), -1 meaning unlimited.
 * Harbor counts each blob once per project (layers shared by repositories of the project, manifests
 * included).
 */
import { AirlockError } from '../errors.js'
import { HarborClient, type HarborClientOptions } from '../harbor/client.js'
import { projectName } from '../harbor/project-name.js'
import type { HarborQuotaSection } from './report.js'

export interface HarborQuotaOptions extends HarborClientOptions {
  project: string
}

export interface HarborRoom {
  project: string
  /** Harbor's host, as credentials are looked up. */
  host: string
  /** Bytes; undefined = unlimited (-1 in Harbor). */
  hard?: number
  used: number
  /** hard − used (never below 0); undefined = unlimited. */
  remaining?: number
}

/** The project's quota and what is left of it. Throws what HarborClient throws (NOT_FOUND, DENIED, ...). */
export async function harborRoom(client: HarborClient, project: string): Promise<HarborRoom> {
  const q = await client.projectQuota(project)
  const hard = q.hard < 0 ? undefined : q.hard
  return {
    project,
    host: client.host,
    ...(hard !== undefined ? { hard, remaining: Math.max(0, hard - q.used) } : {}),
    used: q.used,
  }
}

/**
 * The Harbor section of `airlock quota`: never throws; a failure (unreachable, not a member, no such
 * project) is the section's `error`, with AirlockError's hint appended.
 */
export async function harborQuotaSection(opts: HarborQuotaOptions): Promise<HarborQuotaSection> {
  // The project as Harbor names it (`Neuro-Imaging` → `neuro-imaging`); an invalid name is the error below.
  let project = opts.project
  try {
    project = projectName(opts.project).name
  } catch {}
  const base = { url: opts.url, project }
  try {
    const room = await harborRoom(new HarborClient(opts), opts.project)
    return {
      ...base,
      host: room.host,
      used: room.used,
      ...(room.hard !== undefined ? { hard: room.hard, remaining: room.remaining } : {}),
    }
  } catch (err) {
    const e = err as Error
    const hint = err instanceof AirlockError && err.hint ? ` (${err.hint})` : ''
    return { ...base, error: `${e.message}${hint}` }
  }
}
