/**
 * Engine-side tagging: point more names at an image in local storage, found by ID (full or short)
 * or by name (short names completed as the engine does, resolve-image.ts). `podman tag` for podman,
 * `POST /images/{id}/tag` for Docker. Every new name is checked before any is written, so a bad one
 * tags nothing. A new name without a registry part goes where the engine puts it: podman under
 * `localhost/` (containers/common libimage NormalizeName), Docker under docker.io.
 */
import type { EngineOptions } from '../transports/transport.js'
import { dockerClient, dockerError } from './docker-api.js'
import { destinationName, type EngineName, isShortName } from './local-image.js'
import { runPodman } from './podman-cli.js'
import { resolveLocalImage } from './resolve-image.js'

export interface TagLocalResult {
  /** The image tagged (`sha256:…`). */
  id: string
  /** The names now pointing at it, normalized (`harbor.example.org/group/app:1`). */
  tagged: string[]
}

export async function tagLocalImage(
  engine: EngineName,
  src: string,
  dests: string[],
  opts: EngineOptions = {},
): Promise<TagLocalResult> {
  const targets = dests.map((d) => {
    if (engine === 'docker') return destinationName(d, 'docker-daemon')
    destinationName(d, 'containers-storage') // the checks and messages for the name as written
    const text = d.trim()
    return destinationName(isShortName(text) ? `localhost/${text}` : text, 'containers-storage')
  })
  const image = await resolveLocalImage(engine, src, opts)
  const tagged = targets.map((t) => t.toString())
  if (!targets.length) return { id: image.id, tagged }
  if (engine === 'podman') {
    await runPodman(['tag', image.id.slice('sha256:'.length), ...tagged], opts)
  } else {
    const docker = await dockerClient(opts)
    for (const t of targets) {
      try {
        await docker.getImage(image.id).tag({ repo: t.name, tag: t.tag })
      } catch (err) {
        throw dockerError(err, `tagging ${image.id} as ${t}`, opts)
      }
    }
  }
  return { id: image.id, tagged }
}
