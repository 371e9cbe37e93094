/**
 * One HTTP request of the PROMINENCE flow (the API call, the presigned POST or PUT), on node:http.
 *
 * A file body is streamed by prominence-file-body.ts, with its Content-Length; the request is not
 * kept alive (one upload, one socket). A server may answer before it has read the whole body (S3 rejects a POST once it has
 * seen a field that breaks the policy): its answer wins over the broken pipe that follows. An error
 * of the body itself (a file that is not the size or SHA-256 promised) wins over the socket
 * error its abort causes, so the caller sees why the upload was cut short.
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { type FileBody, fileBodyLength, RequestClosed, writeFileBody } from './prominence-file-body.js'

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** The response body as text, at most 64 KiB of it. */
  text: string
}

export interface SendOptions {
  method: string
  headers?: Record<string, string | number>
  /** Bytes, or a file to stream (with its Content-Length set from it). */
  body?: Buffer | FileBody
  signal?: AbortSignal
  /** Idle socket timeout. */
  timeoutMs?: number
}

const MAX_TEXT = 64 * 1024

export function send(url: URL, opts: SendOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let bodyError: unknown
    let answered = false
    const headers = { ...opts.headers }
    if (opts.body && !Buffer.isBuffer(opts.body)) headers['content-length'] = fileBodyLength(opts.body)
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: opts.method,
      headers,
      signal: opts.signal,
      agent: false,
      timeout: opts.timeoutMs ?? 300_000,
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error('socket timed out'), { code: 'ETIMEDOUT' })))
    req.on('error', (err) => {
      if (!answered) reject(bodyError ?? err)
    })
    req.on('response', (res) => {
      answered = true
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        if (text.length < MAX_TEXT) text += d
      })
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text })
      res.on('end', done)
      // The server closed after answering early: what was read of its answer is enough.
      res.on('close', done)
      res.on('error', done)
    })
    const body = opts.body
    if (body === undefined || Buffer.isBuffer(body)) {
      req.end(body)
      return
    }
    writeFileBody(req, body).catch((err) => {
      // A file that is not as promised cuts the request short; a closed request tells its own story.
      if (answered || err instanceof RequestClosed) return
      bodyError = err
      req.destroy(err)
    })
  })
}
