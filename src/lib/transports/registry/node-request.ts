/**
 * A small HTTP client on node:http/https with keep-alive agents: what the registry client needs,
 * without loading a larger HTTP library into every command (start-up time and memory matter on
 * login nodes; see bench/).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

export type ResponseBody = IncomingMessage & {
  dump(): Promise<void>
  text(): Promise<string>
  json(): Promise<unknown>
  arrayBuffer(): Promise<ArrayBuffer>
}

export interface NodeResponse {
  statusCode: number
  headers: IncomingMessage['headers']
  body: ResponseBody
}

export type PoolAgent = HttpAgent | HttpsAgent

export function makeAgent(
  protocol: string,
  tls: { rejectUnauthorized: boolean; ca?: string[]; cert?: string; key?: string },
): PoolAgent {
  const common = { keepAlive: true, keepAliveMsecs: 10_000, maxSockets: 64 }
  return protocol === 'https:' ? new HttpsAgent({ ...common, ...tls }) : new HttpAgent(common)
}

async function collect(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export function nodeRequest(
  url: string,
  opts: {
    method: string
    headers?: Record<string, string>
    body?: Buffer | Readable | string
    signal?: AbortSignal
    agent: PoolAgent
  },
): Promise<NodeResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send(target, {
      method: opts.method,
      headers: opts.headers,
      agent: opts.agent,
      signal: opts.signal,
      timeout: 300_000,
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('socket timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.on('response', (res) => {
      const body = res as ResponseBody
      // Reading a response to its end is what returns a keep-alive socket to the agent: a HEAD
      // answer is `complete` at once, but until it is resumed and ends, its socket stays taken
      // (64 such answers used to exhaust the pool and hang every later request to that host).
      body.dump = async () => {
        if (res.readableEnded || res.destroyed) return
        const ended = new Promise<void>((done) => {
          res.once('end', done)
          res.once('close', done)
          res.once('error', () => done())
        })
        res.resume()
        await ended
      }
      body.arrayBuffer = async () => {
        const b = await collect(res)
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer
      }
      body.text = async () => (await collect(res)).toString('utf8')
      body.json = async () => JSON.parse((await collect(res)).toString('utf8'))
      resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body })
    })
    const b = opts.body
    if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) req.end(b)
    else pipeline(b, req).catch((err) => req.destroy(err))
  })
}
