/**
 * The JSON lines of the Docker Engine API's `POST /images/load` answer, as Docker and podman's
 * compatible API write them (src/lib/transports/docker-daemon/destination.ts).
 */
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { loadFailureReason } from '../../src/lib/engine/load-destination.js'
import { readLoadOutput } from '../../src/lib/transports/docker-daemon/destination.js'

const ID = `sha256:${'a'.repeat(64)}`
const lines = (...docs: object[]) => Readable.from(docs.map((d) => `${JSON.stringify(d)}\n`))

describe('readLoadOutput', () => {
  it('collects loaded names and IDs', async () => {
    const out = await readLoadOutput(
      lines(
        { status: 'Loading layer', progressDetail: { current: 1, total: 2 } },
        { stream: 'Loaded image: localhost:5000/app:1\n' },
        { stream: `Loaded image ID: ${ID}\n` },
        { stream: `Loaded image: ${ID}` },
      ),
    )
    expect(out).toEqual({ names: ['localhost:5000/app:1'], ids: [ID, ID], errors: [] })
  })

  it('turns error lines (and lines that are not JSON) into errors', async () => {
    const out = await readLoadOutput(
      Readable.from([
        `${JSON.stringify({ errorDetail: { message: 'invalid tar header' }, error: 'invalid tar header' })}\n`,
        'garbage\n',
      ]),
    )
    expect(out.errors).toEqual(['invalid tar header', 'garbage'])
  })
})

describe('loadFailureReason', () => {
  it("picks podman's docker-archive line out of its try-every-format error", () => {
    const text = [
      'Error: payload does not match any of the supported image formats:',
      ' * oci: initializing source oci:/var/tmp/x: not a directory',
      ' * docker-archive: writing blob: adding layer: archive/tar: invalid tar header',
      ' * dir: open /var/tmp/x/manifest.json: not a directory',
    ].join('\n')
    expect(loadFailureReason(text)).toBe(
      'docker-archive: writing blob: adding layer: archive/tar: invalid tar header',
    )
    expect(loadFailureReason('Error: no space left on device\n')).toBe('Error: no space left on device')
  })
})
