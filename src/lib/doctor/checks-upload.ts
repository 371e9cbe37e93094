/**
 * Object storage: S3 for `upload` and `download` (connectS3 itself resolves endpoint, region and
 * credentials, so doctor says what those commands would use), and PROMINENCE's data API for
 * `upload --to prominence` (PROMINENCE_URL and PROMINENCE_TOKEN, checked by the upload flow's own
 * config step). Credentials are named by where they come from; no key, secret or token is ever read
 * into a report. Nothing is sent to the servers: these are settings, not a connection test.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { type AirlockError, toAirlockError } from '../errors.js'
import { config as prominenceConfig } from '../objectstore/prominence.js'
import { apiLabel } from '../objectstore/prominence-api.js'
import { endpointSource, resolveEndpoint } from '../objectstore/s3-endpoint.js'
import { type DoctorContext, reason } from './context.js'
import type { CapabilityReport, DoctorCheck } from './types.js'

/** The SDK's credential-source features (`$source` on resolved credentials), in words. */
function sourceText(features: string[], profile: string, env: NodeJS.ProcessEnv): string {
  const has = (f: string) => features.includes(f)
  if (has('CREDENTIALS_ENV_VARS')) {
    const vars = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'].filter((v) => env[v])
    return `environment (${vars.join(', ')})`
  }
  if (has('CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN')) return 'web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)'
  if (has('CREDENTIALS_PROFILE_SSO') || has('CREDENTIALS_SSO') || has('CREDENTIALS_PROFILE_SSO_LEGACY'))
    return `SSO of profile "${profile}"`
  if (has('CREDENTIALS_PROFILE_PROCESS') || has('CREDENTIALS_PROCESS'))
    return `credential_process of profile "${profile}"`
  if (has('CREDENTIALS_PROFILE_SOURCE_PROFILE') || has('CREDENTIALS_STS_ASSUME_ROLE'))
    return `role assumed through profile "${profile}"`
  if (has('CREDENTIALS_PROFILE_STS_WEB_ID_TOKEN') || has('CREDENTIALS_STS_ASSUME_ROLE_WEB_ID'))
    return `web identity of profile "${profile}"`
  if (has('CREDENTIALS_PROFILE')) return `profile "${profile}"`
  if (has('CREDENTIALS_HTTP')) return 'container credentials endpoint (AWS_CONTAINER_CREDENTIALS_*)'
  if (has('CREDENTIALS_CODE')) return 'given by the caller'
  return features.length ? features.join(', ') : 'instance metadata or another source of the AWS SDK'
}

/** The section names of an AWS ini file (`[default]`, `[profile x]` → `x`); undefined when absent. */
async function iniSections(file: string): Promise<string[] | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  return [...text.matchAll(/^\s*\[\s*(?:profile\s+)?([^\]]+?)\s*\]\s*$/gm)].map((m) => m[1])
}

function regionSource(ctx: DoctorContext): string {
  if (ctx.s3.region) return '--region'
  if (ctx.env.AWS_REGION) return 'AWS_REGION'
  if (ctx.env.AWS_DEFAULT_REGION) return 'AWS_DEFAULT_REGION'
  return 'the profile, else us-east-1 with redirects followed'
}

type Connected =
  | { ok: true; endpoint?: string; region: string; pathStyle: boolean; source: string }
  | { ok: false; error: unknown; timedOut?: boolean }

async function connect(ctx: DoctorContext, profile: string): Promise<Connected> {
  const { connectS3 } = await import('../objectstore/s3-client.js')
  const attempt = (async (): Promise<Connected> => {
    const conn = await connectS3({ ...ctx.s3, env: ctx.env, connectTimeoutSeconds: 2 })
    try {
      const creds = (await conn.client.config.credentials()) as { $source?: Record<string, unknown> }
      return {
        ok: true,
        ...(conn.endpoint ? { endpoint: conn.endpoint } : {}),
        region: conn.region,
        pathStyle: conn.pathStyle,
        source: sourceText(Object.keys(creds.$source ?? {}), profile, ctx.env),
      }
    } finally {
      conn.close()
    }
  })().catch((error: unknown): Connected => ({ ok: false, error }))
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<Connected>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: undefined, timedOut: true }), ctx.timeoutMs)
    timer.unref()
  })
  try {
    return await Promise.race([attempt, late])
  } finally {
    clearTimeout(timer)
  }
}

export async function checkUpload(ctx: DoctorContext): Promise<CapabilityReport> {
  const env = ctx.env
  const profile = ctx.s3.profile ?? env.AWS_PROFILE ?? 'default'
  const home = env.HOME ?? homedir()
  const files = {
    credentials: env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials'),
    config: env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config'),
  }
  const [c, credSections, configSections] = await Promise.all([
    connect(ctx, profile),
    iniSections(files.credentials),
    iniSections(files.config),
  ])
  const withProfile = [
    ...(credSections?.includes(profile) ? [files.credentials] : []),
    ...(configSections?.includes(profile) ? [files.config] : []),
  ]
  const profileSource = ctx.s3.profile ? '--profile' : env.AWS_PROFILE ? 'AWS_PROFILE' : 'default'
  const profileCheck: DoctorCheck = withProfile.length
    ? {
        name: 'AWS profile',
        status: 'ok',
        found: withProfile.join(', '),
        detail: `"${profile}" (${profileSource})`,
      }
    : {
        name: 'AWS profile',
        status: profileSource === 'default' ? 'missing' : 'warn',
        optional: profileSource === 'default',
        detail: `no "${profile}" section in ${files.credentials} or ${files.config}${
          credSections === undefined && configSections === undefined ? ' (neither file exists)' : ''
        }`,
        fix:
          profileSource === 'default'
            ? 'optional: credentials can come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY instead'
            : `add [${profile}] to ${files.credentials}, or set AWS_PROFILE to a profile that exists`,
      }

  const from = endpointSource(ctx.s3, ctx.env)
  let endpointError: AirlockError | undefined
  try {
    resolveEndpoint(ctx.s3, ctx.env)
  } catch (err) {
    endpointError = toAirlockError(err)
  }
  let endpointCheck: DoctorCheck
  let credCheck: DoctorCheck
  let regionCheck: DoctorCheck | undefined
  if (c.ok) {
    endpointCheck = c.endpoint
      ? {
          name: 'S3 endpoint',
          status: 'ok',
          found: c.endpoint,
          detail: `from ${from ?? '?'}; ${c.pathStyle ? 'path-style' : 'virtual-hosted'} addressing`,
        }
      : {
          name: 'S3 endpoint',
          status: 'ok',
          found: 'AWS S3',
          detail:
            'no --endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (an endpoint_url in the profile still applies); set one for a non-AWS store',
        }
    regionCheck = { name: 'S3 region', status: 'ok', found: c.region, detail: `from ${regionSource(ctx)}` }
    credCheck = { name: 'S3 credentials', status: 'ok', found: c.source, detail: 'found (values not shown)' }
  } else {
    const err = c.error as { code?: string; message?: string; hint?: string } | undefined
    endpointCheck = endpointError
      ? {
          name: 'S3 endpoint',
          status: 'missing',
          detail: endpointError.message,
          fix: endpointError.hint ?? 'fix the endpoint',
        }
      : {
          name: 'S3 endpoint',
          status: 'ok',
          found: from ? `${from} is set` : 'AWS S3',
          detail: from ? `from ${from}` : 'no --endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL',
        }
    credCheck = c.timedOut
      ? {
          name: 'S3 credentials',
          status: 'warn',
          detail: `the AWS SDK found none within ${ctx.timeoutMs} ms (it may still be asking instance metadata)`,
          fix: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials',
        }
      : {
          name: 'S3 credentials',
          status: 'missing',
          detail: endpointError ? 'not looked up: the endpoint is not usable' : reason(c.error),
          fix: endpointError
            ? 'fix the endpoint first'
            : (err?.hint ??
              'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials'),
        }
  }
  return {
    name: 'upload',
    commands: 'upload --to s3://, download',
    usable: c.ok,
    summary: c.ok
      ? `${c.endpoint ?? 'AWS S3'}, credentials from ${c.source}`
      : c.timedOut
        ? 'S3 credentials not found in time'
        : 'S3 is not set up: no usable endpoint or credentials',
    checks: [credCheck, endpointCheck, ...(regionCheck ? [regionCheck] : []), profileCheck],
  }
}

export async function checkProminence(ctx: DoctorContext): Promise<CapabilityReport> {
  const env = ctx.env
  let urlCheck: DoctorCheck
  try {
    // The upload flow's own validation; a stand-in token so only the URL is judged here.
    const { base } = prominenceConfig({ env, token: 'not-used-by-doctor' })
    urlCheck = { name: 'PROMINENCE_URL', status: 'ok', found: apiLabel(base) }
  } catch (err) {
    urlCheck = {
      name: 'PROMINENCE_URL',
      status: 'missing',
      detail: reason(err),
      fix:
        (err as { hint?: string }).hint ??
        'set PROMINENCE_URL to the PROMINENCE API, e.g. https://host/prominence/v1',
    }
  }
  const tokenCheck: DoctorCheck = env.PROMINENCE_TOKEN?.trim()
    ? { name: 'PROMINENCE_TOKEN', status: 'ok', found: 'set (not shown)' }
    : {
        name: 'PROMINENCE_TOKEN',
        status: 'missing',
        detail: 'not set',
        fix: 'set PROMINENCE_TOKEN to your PROMINENCE access token (e.g. from `prominence login`)',
      }
  // What the upload flow's config() would say with the real token: both settings are fine.
  const usable = urlCheck.status === 'ok' && tokenCheck.status === 'ok'
  return {
    name: 'prominence',
    commands: 'upload --to prominence',
    usable,
    summary: usable
      ? `${urlCheck.found}, token set`
      : 'PROMINENCE is not set up (only needed for --to prominence)',
    checks: [urlCheck, tokenCheck],
  }
}
