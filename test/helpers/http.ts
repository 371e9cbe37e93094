import http from 'node:http'
import https from 'node:https'

export interface HttpResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export interface HttpRequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: Buffer | string
  /** PEM CA bundle to trust for https URLs (e.g. a TestRegistry's caFile contents). */
  ca?: string | Buffer
  /** Socket inactivity timeout; default 30 s. */
  timeoutMs?: number
}

/**
 * Minimal HTTP(S) client for the test harness, deliberately independent of the code under test
 * (and of undici). One connection per request (no keep-alive), so a stopped server can never
 * cause a stale-socket reset on a later request.
 */
export function httpRequest(url: string | URL, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const target = new URL(url)
  const isHttps = target.protocol === 'https:'
  const headers: Record<string, string> = { ...opts.headers }
  const body =
    opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body)
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    headers['Content-Length'] = String(body.length)
  }
  return new Promise((resolve, reject) => {
    const requestOptions: https.RequestOptions = { method: opts.method ?? 'GET', headers, agent: false }
    if (isHttps && opts.ca !== undefined) requestOptions.ca = opts.ca
    const req = (isHttps ? https : http).request(target, requestOptions, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      )
    })
    req.on('error', reject)
    req.setTimeout(opts.timeoutMs ?? 30_000, () => {
      req.destroy(
        new Error(`${requestOptions.method} ${target.href}: no activity for ${opts.timeoutMs ?? 30_000} ms`),
      )
    })
    req.end(body)
  })
}

/** First value of a response header (node lower-cases names). */
export function header(res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}
