/**
 * Harbor project storage quotas: the bounds of `storage_limit` (bytes) for new projects.
 */
import { AirlockError } from '../errors.js'

/**
 * `storage_limit` `-1` = unlimited (goharbor/harbor src/pkg/quota/types/resources.go, `UNLIMITED`;
 * `ProjectReq.storage_limit` in https://github.com/goharbor/harbor/blob/main/api/v2.0/swagger.yaml).
 */
export const STORAGE_UNLIMITED = -1

/**
 * Largest `storage_limit`: 1125899906842624 bytes, 1 PiB (goharbor/harbor
 * src/pkg/quota/types/resources.go `MaxLimitedValue`, checked in src/lib/quota_storage_limit.go).
 */
export const STORAGE_LIMIT_MAX = 1125899906842624

/**
 * Checks a storage limit before it is sent: `-1`, or a whole number of bytes from 1 to 1 PiB.
 * Harbor refuses 0 and other negatives ("invalid value for resource storage",
 * src/controller/quota/driver/project/project.go `Validate`).
 */
export function checkStorageLimit(limit: number): number {
  if (
    limit === STORAGE_UNLIMITED ||
    (Number.isSafeInteger(limit) && limit > 0 && limit <= STORAGE_LIMIT_MAX)
  ) {
    return limit
  }
  throw new AirlockError('INVALID_INPUT', `${limit} is not a valid Harbor storage limit`, {
    hint: `give a whole number of bytes from 1 to ${STORAGE_LIMIT_MAX} (1 PiB), or -1 for unlimited`,
  })
}
