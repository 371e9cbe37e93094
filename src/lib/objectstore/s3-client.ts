/**
 * An S3 client set up the way airlock needs it everywhere: AWS conventions for endpoint, region and
 * credentials, path-style addressing for non-AWS stores, and checksum settings that work on every
 * S3-compatible store.
 *
 * Endpoint: `endpoint` option (`--endpoint`), else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`
 * (ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`, as the AWS CLI does); without one, AWS
 * (or an `endpoint_url` in the profile, which the SDK reads itself).
 * Region: `region` option, else the SDK's chain (`AWS_REGION`, `AWS_DEFAULT_REGION`... and the
 * profile); when nothing names one, us-east-1 with region redirects followed (non-AWS stores
 * mostly ignore the region; AWS tells us the right one).
 * Credentials: the SDK's default chain (env, `AWS_PROFILE` and ~/.aws files, SSO, process, web
 * identity, container and instance metadata). They are looked up once up front, so a missing
 * credential is a clear INVALID_INPUT before any byte is read.
 * CA bundle: `caBundle` option (`--ca-bundle`), else `AWS_CA_BUNDLE`, else `ca_bundle` of the
 * profile in ~/.aws/config (AWS_CONFIG_FILE), as the AWS CLI reads them
 * (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-options.html#cli-configure-options-ca_bundle);
 * like the AWS CLI, the bundle replaces the default CAs for HTTPS endpoints.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { AirlockError } from '../errors.js'
import { resolveEndpoint } from './s3-endpoint.js'
import { s3Error } from './s3-errors.js'

export interface S3ConnectionOptions {
  /** S3 endpoint URL, e.g. `https://s3.example.org` (`--endpoint`). */
  endpoint?: string
  region?: string
  /** Path-style addressing (`host/bucket/key`); default: on when an endpoint is given, off for AWS. */
  pathStyle?: boolean
  /** Named profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE, then `default`). */
  profile?: string
  /** Where AWS_* variables are read from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Credentials to use instead of the SDK's default chain (library use). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  /** Seconds to wait for a TCP connection (default 10). */
  connectTimeoutSeconds?: number
  /** PEM file of the CAs to trust for HTTPS (`--ca-bundle`; default AWS_CA_BUNDLE, then the profile's ca_bundle). */
  caBundle?: string
}

/** `ca_bundle` of `profile` in the AWS config file (`[default]` or `[profile NAME]`), if any. */
function profileCaBundle(env: NodeJS.ProcessEnv, profile: string): string | undefined {
  const file = env.AWS_CONFIG_FILE || path.join(env.HOME || homedir(), '.aws', 'config')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  let inProfile = false
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/[#;].*$/, '').trim()
    const section = /^\[\s*(.+?)\s*\]$/.exec(line)
    if (section) {
      const name = (section[1] as string).replace(/^profile\s+/, '')
      inProfile = name === profile
      continue
    }
    const kv = /^ca_bundle\s*=\s*(.+)$/.exec(line)
    if (inProfile && kv) return kv[1]
  }
  return undefined
}

/** The CA bundle to use and where it was named, by the AWS CLI's order. */
function resolveCaBundle(
  opts: S3ConnectionOptions,
  env: NodeJS.ProcessEnv,
  profile: string | undefined,
): { pem: string; file: string } | undefined {
  const fromProfile = () => {
    const p = profile || 'default'
    const f = profileCaBundle(env, p)
    return f ? { file: f, from: `ca_bundle of profile "${p}"` } : undefined
  }
  const chosen = opts.caBundle
    ? { file: opts.caBundle, from: '--ca-bundle' }
    : env.AWS_CA_BUNDLE
      ? { file: env.AWS_CA_BUNDLE, from: 'AWS_CA_BUNDLE' }
      : fromProfile()
  if (!chosen) return undefined
  const file = chosen.file.replace(/^~(?=\/|$)/, env.HOME || homedir())
  try {
    return { pem: readFileSync(file, 'utf8'), file }
  } catch (err) {
    throw new AirlockError('INVALID_INPUT', `cannot read the CA bundle ${file} (${chosen.from})`, {
      cause: err,
      hint: 'give a readable PEM file of the CA certificates that signed the S3 endpoint',
    })
  }
}

export interface S3Connection {
  client: S3Client
  /** The endpoint given (without any userinfo), or undefined for AWS. */
  endpoint?: string
  /** Host label for messages: `127.0.0.1:7480` or `AWS S3`. */
  label: string
  region: string
  pathStyle: boolean
  /** Close sockets. */
  close(): void
}

const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} }

/** A client and what it talks to. Throws INVALID_INPUT when no credentials can be found. */
export async function connectS3(opts: S3ConnectionOptions = {}): Promise<S3Connection> {
  const env = opts.env ?? process.env
  const endpoint = resolveEndpoint(opts, env)
  const endpointText = endpoint ? endpoint.href.replace(/\/$/, '') : undefined
  const pathStyle = opts.pathStyle ?? endpoint !== undefined
  const label = endpoint ? endpoint.host : 'AWS S3'
  const profile = opts.profile ?? env.AWS_PROFILE
  const ca = resolveCaBundle(opts, env, profile)

  const make = (region: string | undefined) =>
    new S3Client({
      ...(endpointText ? { endpoint: endpointText } : {}),
      ...(region ? { region } : {}),
      ...(profile ? { profile } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      forcePathStyle: pathStyle,
      followRegionRedirects: true,
      // SDK >= 3.729 adds a CRC32 to every request by default and sends streaming bodies aws-chunked
      // with a trailer; Ceph 16 answers that with HTTP 411, R2/OVH/Storj/Garage break too
      // (aws/aws-sdk-js-v3#6810, ovh/public-cloud-roadmap#781; the SDK defaults are described at
      // https://docs.aws.amazon.com/sdkref/latest/guide/feature-dataintegrity.html). WHEN_REQUIRED
      // sends only the checksums airlock supplies itself (x-amz-checksum-sha256 as a plain header
      // with a Buffer body), which every store either honours or ignores. The same setting keeps
      // presigned PUTs free of a signed empty-body CRC32 (seaweedfs/seaweedfs#10216,
      // localstack/localstack#12169).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // The SDK warns through console when given no logger; the library never prints.
      logger: silentLogger,
      requestHandler: {
        connectionTimeout: (opts.connectTimeoutSeconds ?? 10) * 1000,
        // The SDK's NodeHttpHandler takes https.Agent options; `ca` replaces Node's roots, as the
        // AWS CLI's ca_bundle replaces its default bundle.
        ...(ca ? { httpsAgent: { keepAlive: true, maxSockets: 50, ca: ca.pem } } : {}),
      },
    })

  let region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION
  let client = make(region)
  if (!region) {
    try {
      region = await client.config.region()
    } catch {
      region = 'us-east-1'
      client.destroy()
      client = make(region)
    }
  }
  try {
    await client.config.credentials()
  } catch (err) {
    client.destroy()
    throw new AirlockError('INVALID_INPUT', `no AWS credentials found for ${label}`, {
      cause: s3Error(err, 'credentials', label),
      hint: profile
        ? `check profile "${profile}" in ~/.aws/credentials and ~/.aws/config`
        : 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials',
    })
  }
  return {
    client,
    ...(endpointText ? { endpoint: endpointText } : {}),
    label,
    region: region ?? 'us-east-1',
    pathStyle,
    close: () => client.destroy(),
  }
}
