/**
 * Presigned GET URLs: anyone holding one can download the object until it expires, with any HTTP
 * client (curl, wget, a batch system's stage-in) and no credentials.
 *
 * SigV4 presigned URLs live at most 7 days. A URL signed with temporary credentials (SSO, a role,
 * AWS_SESSION_TOKEN) stops working when those credentials expire, whatever its own expiry says.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { AirlockError } from '../errors.js'

export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 }

/** `3600`, `90s`, `30m`, `12h`, `7d`, `1w` (also combined: `1d12h`) to seconds, 1 s to 7 days. */
export function parseDuration(text: string, flag = '--presign'): number {
  const t = text.trim().toLowerCase()
  let seconds: number
  if (/^\d+$/.test(t)) {
    seconds = Number(t)
  } else if (/^(\d+[smhdw])+$/.test(t)) {
    seconds = 0
    for (const m of t.matchAll(/(\d+)([smhdw])/g)) seconds += Number(m[1]) * UNITS[m[2]!]!
  } else {
    throw new AirlockError('INVALID_INPUT', `${flag} "${text.slice(0, 40)}" is not a duration`, {
      hint: 'e.g. 3600 (seconds), 30m, 12h or 7d',
    })
  }
  if (seconds < 1 || seconds > MAX_PRESIGN_SECONDS) {
    throw new AirlockError('INVALID_INPUT', `${flag} must be between 1 second and 7 days (SigV4's limit)`, {
      hint: 'e.g. 12h or 7d; for longer, sign a new URL later (airlock upload skips the unchanged file)',
    })
  }
  return seconds
}

export interface PresignedUrl {
  url: string
  expiresAt: string
}

export async function presignGet(
  client: S3Client,
  bucket: string,
  key: string,
  seconds: number,
): Promise<PresignedUrl> {
  const url = await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), {
    expiresIn: seconds,
  })
  return { url, expiresAt: new Date(Date.now() + seconds * 1000).toISOString() }
}
