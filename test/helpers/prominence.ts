// PROMINENCE's server cannot run here: this is a stand-in for its /data/upload endpoint, built from prominence-eosc/prominence (`prominence/data.py`, `prominence/backend/data_s3.py`), handing out real presigned POST/PUT URLs of the S3 test server.
/**
 * What it does, as PROMINENCE does it (https://github.com/prominence-eosc/prominence,
 * `prominence/data.py` and `prominence/backend/data_s3.py`):
 * - `POST /prominence/v1/data/upload` (and `/prominence/v1/data`) with `Authorization: Bearer TOKEN`
 *   and JSON `{"filename", "checksum"}` (or query `name`, `checksum`); 401 for an unknown token;
 * - the object key is `uploads/<user>/<name>`, or `uploads/<name>` for `group/name` when the user is
 *   in that group (403 `{"error": ...}` otherwise); 400 without a name;
 * - with a checksum: 201 `{url, fields}`, a presigned POST (@aws-sdk/s3-presigned-post) whose policy
 *   pins the exact key, a content-length range and the checksum field `x-amz-meta-prominence_sha256`
 *   (the name PROMINENCE uses), so Ceph RGW itself refuses a form with another value (403);
 * - without a checksum, or with `mode: 'put'` (as older PROMINENCE servers answer): 201 `{url}`, a
 *   presigned PUT. The SDK client signs it with checksums WHEN_REQUIRED, else it would sign the CRC32
 *   of an empty body into the URL (seaweedfs/seaweedfs#10216, localstack/localstack#12169).
 * All on 127.0.0.1, on a free port.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { TestS3 } from './s3.js'

/** The metadata key PROMINENCE stores the checksum under (`x-amz-meta-` + this). */
export const PROMINENCE_META = 'prominence_sha256'

export interface StandInUser {
  name: string
  groups?: string[]
}

export interface ProminenceOptions {
  s3: TestS3
  /** Bucket for uploads; created by startProminence. */
  bucket?: string
  /** Bearer token → user (default: `{ 'test-token': { name: 'alice', groups: ['team'] } }`). */
  users?: Record<string, StandInUser>
  /** `auto`: POST with a checksum, PUT without (PROMINENCE); `put`: always PUT (older servers). */
  mode?: 'auto' | 'put'
  /** Largest upload the POST policy allows (default 5 GiB, S3's single-request limit). */
  maxBytes?: number
  /** Lifetime of the presigned URLs (default 600 s, PROMINENCE's default). */
  expiresSeconds?: number
}

export interface UploadCall {
  user: string
  name: string
  checksum?: string
  key: string
  method: 'post' | 'put'
}

export interface ProminenceStandIn {
  /** The API base, as PROMINENCE_URL: `http://127.0.0.1:PORT/prominence/v1` */
  url: string
  bucket: string
  /** The first user's token. */
  token: string
  /** Every successful call, in order. */
  calls: UploadCall[]
  /** Environment for the CLI: PROMINENCE_URL and PROMINENCE_TOKEN. */
  env: NodeJS.ProcessEnv
  stop(): Promise<void>
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  if (!text) return {}
  const doc = JSON.parse(text) as unknown
  return doc && typeof doc === 'object' ? (doc as Record<string, unknown>) : {}
}

export async function startProminence(opts: ProminenceOptions): Promise<ProminenceStandIn> {
  const bucket = opts.bucket ?? `prominence-${Date.now().toString(36)}`
  await opts.s3.createBucket(bucket)
  const users = opts.users ?? { 'test-token': { name: 'alice', groups: ['team'] } }
  const client = opts.s3.client()
  const expires = opts.expiresSeconds ?? 600
  const calls: UploadCall[] = []

  async function grant(user: StandInUser, name: string, checksum: string | undefined) {
    let key = `uploads/${user.name}/${name}`
    if (name.includes('/')) {
      const group = name.slice(0, name.lastIndexOf('/'))
      if (!(user.groups ?? []).includes(group)) return null
      key = `uploads/${name}`
    }
    const method: 'post' | 'put' = checksum && opts.mode !== 'put' ? 'post' : 'put'
    calls.push({ user: user.name, name, checksum, key, method })
    if (method === 'put') {
      return {
        url: await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), {
          expiresIn: expires,
        }),
      }
    }
    const meta = `x-amz-meta-${PROMINENCE_META}`
    return createPresignedPost(client, {
      Bucket: bucket,
      Key: key,
      Conditions: [
        ['eq', '$key', key],
        ['content-length-range', 0, opts.maxBytes ?? 5 * 1024 ** 3],
        { [meta]: checksum! },
      ],
      Fields: { [meta]: checksum! },
      Expires: expires,
    })
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    if (req.method !== 'POST' || !/^\/prominence\/v1\/data(\/upload)?\/?$/.test(url.pathname)) {
      sendJson(res, 404, { error: 'Not found' })
      return
    }
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
    const user = auth ? users[auth[1]!] : undefined
    if (!user) {
      sendJson(res, 401, { error: 'Authentication failed' })
      return
    }
    let body: Record<string, unknown>
    try {
      body = await readBody(req)
    } catch {
      sendJson(res, 400, { error: 'Invalid JSON' })
      return
    }
    const name = url.searchParams.get('name') ?? (typeof body.filename === 'string' ? body.filename : '')
    const rawChecksum = url.searchParams.get('checksum') ?? body.checksum
    const checksum = typeof rawChecksum === 'string' && rawChecksum ? rawChecksum : undefined
    if (!name) {
      sendJson(res, 400, { error: 'An object name must be specified' })
      return
    }
    const data = await grant(user, name, checksum)
    if (!data) sendJson(res, 403, { error: 'Not authorized to access upload with this path' })
    else sendJson(res, 201, data)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => sendJson(res, 500, { error: err.message }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const port = (server.address() as AddressInfo).port
  const apiUrl = `http://127.0.0.1:${port}/prominence/v1`
  const token = Object.keys(users)[0]!
  return {
    url: apiUrl,
    bucket,
    token,
    calls,
    env: { PROMINENCE_URL: apiUrl, PROMINENCE_TOKEN: token },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
