/**
 * Writing into a Docker Engine: a docker-archive in a temporary file, sent to `POST /images/load` in
 * commit. The load answers with JSON lines (`{"stream":"Loaded image: NAME"}`,
 * `{"stream":"Loaded image ID: sha256:…"}`, `{"error":"…"}`); an error line fails the copy, and the
 * image is tagged with the requested name when the load did not name it.
 */
import { dockerClient, dockerError, pingDocker } from '../../engine/docker-api.js'
import { type LoadRequest, loadFailureReason, openLoadingDestination } from '../../engine/load-destination.js'
import { destinationName, normalizeListedName } from '../../engine/local-image.js'
import { AirlockError } from '../../errors.js'
import type { EngineOptions, ImageDestination, TransportContext } from '../transport.js'
import type { DockerDaemonReference } from './transport.js'

export async function openDockerDestination(
  ref: DockerDaemonReference,
  ctx: TransportContext,
): Promise<ImageDestination> {
  const name = destinationName(ref.within, 'docker-daemon')
  const opts = ctx.engine ?? {}
  // Fail before any byte moves when the daemon does not answer.
  await pingDocker(opts, 10_000)
  return openLoadingDestination(ref, name, opts, 'docker-load', ctx, { load: (req) => dockerLoad(req, opts) })
}

interface LoadOutput {
  names: string[]
  ids: string[]
  errors: string[]
}

/** Reads the JSON lines of a load response. */
export async function readLoadOutput(stream: NodeJS.ReadableStream): Promise<LoadOutput> {
  let text = ''
  for await (const chunk of stream) text += chunk.toString()
  const out: LoadOutput = { names: [], ids: [], errors: [] }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    let doc: { stream?: string; error?: string; errorDetail?: { message?: string } }
    try {
      doc = JSON.parse(line)
    } catch {
      out.errors.push(line.trim())
      continue
    }
    const err = doc.errorDetail?.message ?? doc.error
    if (err) out.errors.push(err)
    const msg = doc.stream?.trim() ?? ''
    const id = /^Loaded image ID: (sha256:[a-f0-9]{64})$/.exec(msg)
    const named = /^Loaded image: (.+)$/.exec(msg)
    if (id) out.ids.push(id[1])
    else if (named) {
      if (/^sha256:[a-f0-9]{64}$/.test(named[1])) out.ids.push(named[1])
      else out.names.push(named[1])
    }
  }
  return out
}

async function dockerLoad(req: LoadRequest, opts: EngineOptions): Promise<string> {
  const docker = await dockerClient(opts)
  const wanted = req.name.toString()
  let out: LoadOutput
  try {
    const res = await docker.loadImage(req.file, { abortSignal: req.signal })
    out = await readLoadOutput(res)
  } catch (err) {
    req.signal?.throwIfAborted()
    const e = err as { statusCode?: number; json?: { message?: string }; message?: string }
    if (e?.statusCode !== 500) throw dockerError(err, `loading ${wanted}`, opts)
    // A refused archive: podman's API lists a failure per format it tried.
    out = { names: [], ids: [], errors: [loadFailureReason(e.json?.message ?? e.message ?? String(err))] }
  }
  if (out.errors.length) {
    throw new AirlockError(
      'EXEC_FAILED',
      `the Docker Engine refused to load ${wanted}: ${out.errors.join('; ')}`,
      { hint: 'the engine could not store the image; nothing was named. The reason above is its own' },
    )
  }
  try {
    if (!out.names.some((n) => normalizeListedName(n) === wanted)) {
      const target = out.ids[0] ?? req.configDigest
      await docker.getImage(target).tag({ repo: req.name.name, tag: req.name.tag })
    }
    const info = await docker.getImage(wanted).inspect()
    return info.Id
  } catch (err) {
    throw dockerError(err, `tagging the loaded image as ${wanted}`, opts)
  }
}
