import { createServer } from 'node:net'

/**
 * Ask the kernel for a currently free TCP port on 127.0.0.1.
 *
 * There is an unavoidable window between closing the probe socket and the
 * caller binding the port; callers that spawn servers should retry on
 * "address already in use" (startRegistry does).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error(`freePort: unexpected server address ${String(address)}`))
        return
      }
      const { port } = address
      server.close((err) => (err ? reject(err) : resolve(port)))
    })
  })
}
