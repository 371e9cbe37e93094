/**
 * Which S3 endpoint airlock talks to (the AWS CLI's rules): `--endpoint`, else
 * `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (both ignored when
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`); none means AWS. Kept apart from s3-client.ts so that
 * `airlock doctor` can say where the endpoint comes from without loading the AWS SDK.
 */
import { AirlockError } from '../errors.js'

export interface EndpointOptions {
  endpoint?: string
}

export type EndpointSource = '--endpoint' | 'AWS_ENDPOINT_URL_S3' | 'AWS_ENDPOINT_URL'

/** Where the endpoint comes from, or undefined for AWS. */
export function endpointSource(opts: EndpointOptions, env: NodeJS.ProcessEnv): EndpointSource | undefined {
  const ignoreEnv = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.toLowerCase() === 'true'
  if (opts.endpoint !== undefined) return '--endpoint'
  if (!ignoreEnv && env.AWS_ENDPOINT_URL_S3) return 'AWS_ENDPOINT_URL_S3'
  if (!ignoreEnv && env.AWS_ENDPOINT_URL) return 'AWS_ENDPOINT_URL'
  return undefined
}

/** The endpoint URL; INVALID_INPUT naming its source when it is not a usable http(s) URL. */
export function resolveEndpoint(opts: EndpointOptions, env: NodeJS.ProcessEnv): URL | undefined {
  const source = endpointSource(opts, env)
  const text = source === undefined ? undefined : source === '--endpoint' ? opts.endpoint : env[source]
  if (text === undefined || text.trim() === '') return undefined
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    throw new AirlockError('INVALID_INPUT', `${source} is not a URL`, {
      hint: 'give the S3 server as http(s)://HOST[:PORT], e.g. https://s3.example.org',
    })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AirlockError('INVALID_INPUT', `${source} must be an http:// or https:// URL`, {
      hint: 'give the S3 server as http(s)://HOST[:PORT], e.g. https://s3.example.org',
    })
  }
  if (url.username || url.password || url.search) {
    // Never echo the URL: it carries what looks like a secret.
    throw new AirlockError('INVALID_INPUT', `${source} must not carry credentials or a query`, {
      hint: 'give credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE',
    })
  }
  return url
}
