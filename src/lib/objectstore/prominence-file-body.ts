/**
 * Writes a file into an HTTP request as its body (optionally between a `head` and a `tail`, the
 * parts of a multipart form around the file), hashing it on the way and refusing to send its last
 * bytes unless they make up exactly the promised size and SHA-256: a store that sees a body cut
 * short stores nothing.
 *
 * A few large buffers are reused in turn, each refilled only once the socket has taken its previous
 * contents; a chain of file streams would allocate a fresh buffer per chunk. On a 2-core machine
 * that shares its CPUs with the store, this halves the client's CPU time per GiB (bench/objectstore.mts).
 */
import { createHash } from 'node:crypto'
import { type FileHandle, open } from 'node:fs/promises'
import type { ClientRequest } from 'node:http'
import { AirlockError } from '../errors.js'

export interface FileBody {
  file: string
  /** Bytes the file must have. */
  size: number
  /** Hex SHA-256 the file must have. */
  sha256: string
  head?: Buffer
  tail?: Buffer
  /** File bytes handed to the socket. */
  onBytes?: (n: number) => void
}

/** Total bytes of the body: head + file + tail. */
export function fileBodyLength(body: FileBody): number {
  return (body.head?.length ?? 0) + body.size + (body.tail?.length ?? 0)
}

const BLOCK = 4 << 20
const BUFFERS = 3

/** The request went away (an answer, an abort, a socket error): its own events tell why. */
export class RequestClosed extends Error {}

function unreadable(file: string) {
  return (err: NodeJS.ErrnoException): never => {
    throw new AirlockError('INVALID_INPUT', `cannot read ${file}: ${err.code ?? err.message}`, { cause: err })
  }
}

function readAt(fh: FileHandle, buffer: Buffer, length: number, position: number, file: string) {
  return fh.read(buffer, 0, length, position).catch(unreadable(file))
}

/** Writes `body` into `req` and ends it; rejects (without ending) when the file is not as promised. */
export async function writeFileBody(req: ClientRequest, body: FileBody): Promise<void> {
  let closed = false
  const gone = new Promise<never>((_, reject) => {
    req.once('close', () => {
      closed = true
      reject(new RequestClosed())
    })
  })
  /** Resolves once the socket has taken `chunk` (so its buffer may be refilled). */
  const write = (chunk: Buffer): Promise<void> => {
    const taken = Promise.race([
      gone,
      new Promise<void>((resolve, reject) => {
        req.write(chunk, (err) => (err ? reject(closed ? new RequestClosed() : err) : resolve()))
      }),
    ])
    taken.catch(() => {}) // awaited later, or not at all once the upload failed
    return taken
  }
  const fail = (code: 'SIZE_MISMATCH' | 'DIGEST_MISMATCH', what: string) =>
    new AirlockError(code, `${body.file}: ${what}`)
  gone.catch(() => {})

  const fh = await open(body.file, 'r').catch(unreadable(body.file))
  try {
    const pending: Promise<void>[] = body.head?.length ? [write(body.head)] : []
    const hash = createHash('sha256')
    const size = Math.min(BLOCK, Math.max(body.size, 1))
    const buffers = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafe(size))
    const inFlight: Promise<void>[] = []
    let position = 0
    for (let turn = 0; ; turn = (turn + 1) % BUFFERS) {
      await inFlight[turn]
      if (closed) throw new RequestClosed()
      const want = Math.min(buffers[turn]!.length, body.size - position)
      const { bytesRead } =
        want > 0 ? await readAt(fh, buffers[turn]!, want, position, body.file) : { bytesRead: 0 }
      if (want > 0 && bytesRead === 0)
        throw fail('SIZE_MISMATCH', `has ${position} bytes, expected ${body.size}`)
      const chunk = buffers[turn]!.subarray(0, bytesRead)
      hash.update(chunk)
      position += bytesRead
      const last = position === body.size
      if (last) {
        // The last chunk goes out only if the whole file is what was promised.
        const { bytesRead: more } = await readAt(fh, Buffer.alloc(1), 1, position, body.file)
        if (more) throw fail('SIZE_MISMATCH', `has more than the ${body.size} bytes expected`)
        const actual = hash.digest('hex')
        if (actual !== body.sha256) {
          throw fail('DIGEST_MISMATCH', `content has SHA-256 ${actual}, expected ${body.sha256}`)
        }
      }
      if (chunk.length) {
        const sent = write(chunk).then(() => body.onBytes?.(chunk.length))
        sent.catch(() => {})
        inFlight[turn] = sent
        if (req.writableNeedDrain) await Promise.race([gone, new Promise((r) => req.once('drain', r))])
      }
      if (last) break
    }
    pending.push(...inFlight)
    if (body.tail?.length) pending.push(write(body.tail))
    await Promise.all(pending)
    req.end()
  } finally {
    await fh.close()
  }
}
