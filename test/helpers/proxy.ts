/**
 * A small HTTP proxy in front of a test registry, to make it misbehave on purpose: stall a blob
 * download forever, answer 503 or 429 a few times, or count requests. Not a mock: every request
 * it does not intercept goes to the real registry.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type Intercept =
  | { action: 'stall' }
  /** Never answer and never read the request's body: an upload stalls once the socket buffers fill. */
  | { action: 'hang' }
  | { action: 'respond'; status: number; headers?: Record<string, string>; body?: string }
  | { action: 'corrupt' }
  /** Forward the answer's headers and its first `after` body bytes, then close the connection. */
  | { action: 'cut'; after: number }
  | undefined

export interface TestProxy {
  host: string
  hits: Array<{ method: string; url: string; at: number; status?: number }>
  stop(): Promise<void>
}

export async function startProxy(
  targetHost: string,
  intercept: (req: IncomingMessage, count: number) => Intercept = () => undefined,
): Promise<TestProxy> {
  const hits: TestProxy['hits'] = []
  const stalled = new Set<ServerResponse>()
  const counts = new Map<string, number>()
  const [thost, tport] = targetHost.split(':')
  const server = createServer((req, res) => {
    const key = `${req.method} ${req.url}`
    const n = (counts.get(key) ?? 0) + 1
    counts.set(key, n)
    const hit: TestProxy['hits'][number] = { method: req.method ?? '', url: req.url ?? '', at: Date.now() }
    hits.push(hit)
    const what = intercept(req, n)
    if (what?.action === 'stall') {
      stalled.add(res)
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.write(Buffer.alloc(1024))
      return
    }
    if (what?.action === 'hang') {
      stalled.add(res)
      return
    }
    if (what?.action === 'respond') {
      hit.status = what.status
      req.resume()
      res.writeHead(what.status, what.headers ?? {})
      res.end(what.body ?? '')
      return
    }
    const up = httpRequest(
      {
        host: thost,
        port: Number(tport),
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: targetHost },
      },
      (upRes) => {
        hit.status = upRes.statusCode
        const headers = { ...upRes.headers }
        // Keep upload Locations pointing at the proxy.
        if (typeof headers.location === 'string')
          headers.location = headers.location.replace(targetHost, proxyHost)
        if (what?.action === 'cut') {
          res.writeHead(upRes.statusCode ?? 502, headers)
          let left = what.after
          upRes.on('data', (c: Buffer) => {
            if (left <= 0) return
            res.write(c.subarray(0, left))
            left -= c.length
            // FIN, not RST: a reset would make the client's kernel drop the bytes it has not read
            // yet, headers included, and the cut would look like a failure before the answer.
            if (left <= 0) res.socket?.end()
          })
          upRes.on('end', () => res.socket?.end())
          return
        }
        if (what?.action === 'corrupt') {
          const chunks: Buffer[] = []
          upRes.on('data', (c) => chunks.push(c))
          upRes.on('end', () => {
            const body = Buffer.concat(chunks)
            if (body.length) body[body.length >> 1] ^= 0xff
            res.writeHead(upRes.statusCode ?? 502, headers)
            res.end(body)
          })
          return
        }
        res.writeHead(upRes.statusCode ?? 502, headers)
        upRes.pipe(res)
      },
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const proxyHost = `127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    host: proxyHost,
    hits,
    stop: async () => {
      for (const r of stalled) r.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
