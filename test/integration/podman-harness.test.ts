/**
 * The podman test harness itself: vfs storage in temporary roots, and the Docker Engine API of
 * `podman system service` answering on a temporary socket.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeImage, pushRaw } from '../helpers/images.js'
import { makePodman, type Podman, type PodmanService, startPodmanService } from '../helpers/podman.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'

let podman: Podman
let reg: TestRegistry
let svc: PodmanService

beforeAll(async () => {
  ;[podman, reg] = await Promise.all([makePodman(), startRegistry()])
  svc = await startPodmanService(podman)
})
afterAll(async () => {
  await svc?.stop()
  await Promise.all([podman?.cleanup(), reg?.stop()])
})

describe('podman harness', () => {
  it('pulls from a local registry into vfs storage under the temporary root', async () => {
    const img = await makeImage({ layerSizes: [10_000], seed: 301, format: 'docker' })
    await pushRaw(reg, 'harness/pod', '1', img)
    await podman.run(['pull', '-q', '--tls-verify=false', `${reg.host}/harness/pod:1`])
    const images = await podman.images()
    expect(images.flatMap((i) => i.Names ?? [])).toContain(`${reg.host}/harness/pod:1`)
    // The image ID is the config digest, as in every engine.
    expect(`sha256:${images[0].Id}`).toBe(img.config.digest)
    const info = JSON.parse((await podman.run(['info', '--format', 'json'])).stdout)
    expect(info.store.graphDriverName).toBe('vfs')
    expect(info.store.graphRoot).toBe(podman.root)
  })

  it('serves the Docker Engine API on its socket', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: svc.socket, path: '/v1.41/images/json' }, (res) => {
        let data = ''
        res.on('data', (d) => {
          data += d
        })
        res.on('end', () => resolve(data))
      })
      req.on('error', reject)
      req.end()
    })
    const list = JSON.parse(body) as Array<{ RepoTags?: string[] }>
    expect(list.flatMap((i) => i.RepoTags ?? [])).toContain(`${reg.host}/harness/pod:1`)
  })
})
