/**
 * The SigV4 payload hash, supplied instead of computed by the SDK.
 *
 * For a Buffer body the SDK signs `x-amz-content-sha256: <hex SHA-256 of the body>`, and the
 * server recomputes it and refuses a mismatch (`XAmzContentSHA256Mismatch`, HTTP 400). Every SigV4
 * store does this, Ceph 16 included (which ignores `x-amz-checksum-*`): it is the per-request
 * integrity check that works everywhere. The SDK would hash each body for it on the main thread;
 * airlock has already hashed each part on the thread pool, so it hands that digest over (the
 * signer takes an `x-amz-content-sha256` header that is already there as the payload hash).
 */
import { webcrypto } from 'node:crypto'

/** SHA-256 of a buffer on the thread pool (WebCrypto), leaving the main thread free. */
export async function sha256Off(buf: Uint8Array): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', buf))
}

interface WithMiddleware {
  middlewareStack: {
    add(
      mw: (next: (args: unknown) => Promise<unknown>) => (args: unknown) => Promise<unknown>,
      opts: { step: 'build'; name: string; override?: boolean },
    ): void
  }
}

/** Makes `command` sign `hex` as its payload hash; returns the command. */
export function withPayloadHash<C>(command: C, hex: string): C {
  ;(command as unknown as WithMiddleware).middlewareStack.add(
    (next) => async (args) => {
      const req = (args as { request?: { headers?: Record<string, string> } }).request
      if (req?.headers) req.headers['x-amz-content-sha256'] = hex
      return next(args)
    },
    { step: 'build', name: 'airlockPayloadHash', override: true },
  )
  return command
}
