/**
 * Writing into podman's storage: a docker-archive in a temporary file, `podman load --input FILE` in
 * commit. podman names the image from the archive's RepoTags (the requested name, normalized), keeps
 * the config bytes (image ID = config digest) and moves the name off any image that had it, as
 * `podman pull` does. The result is checked with `podman image inspect --format json`.
 */
import { type LoadRequest, loadFailureReason, openLoadingDestination } from '../../engine/load-destination.js'
import { destinationName } from '../../engine/local-image.js'
import { lastLines, runPodman } from '../../engine/podman-cli.js'
import { AirlockError } from '../../errors.js'
import { isValidDigest } from '../../reference.js'
import type { EngineOptions, ImageDestination, TransportContext } from '../transport.js'
import type { ContainersStorageReference } from './transport.js'

export async function openPodmanDestination(
  ref: ContainersStorageReference,
  ctx: TransportContext,
): Promise<ImageDestination> {
  const name = destinationName(ref.image, 'containers-storage')
  const opts = ref.engineOptions(ctx)
  // Fail before any byte moves when podman or its storage is unusable.
  await runPodman(['version', '--format', 'json'], opts, { signal: ctx.signal })
  return openLoadingDestination(ref, name, opts, 'podman-load', ctx, {
    load: (req) => podmanLoad(req, opts),
    current: () => podmanCurrentDigest(name.toString(), opts, ctx.signal),
  })
}

interface PodmanInspect {
  Id: string
  Digest?: string
  RepoTags?: string[] | null
}

async function podmanInspect(
  name: string,
  opts: EngineOptions,
  signal?: AbortSignal,
): Promise<{ found?: PodmanInspect; stderr: string }> {
  const res = await runPodman(['image', 'inspect', '--format', 'json', name], opts, { signal, reject: false })
  try {
    return { found: (JSON.parse(res.stdout.trim() || '[]') as PodmanInspect[])[0], stderr: res.stderr }
  } catch {
    return { stderr: res.stderr }
  }
}

/** The manifest digest podman recorded for the image `name` points at (the pulled manifest's). */
async function podmanCurrentDigest(
  name: string,
  opts: EngineOptions,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const { found } = await podmanInspect(name, opts, signal)
  return found?.Digest && isValidDigest(found.Digest) ? found.Digest : undefined
}

async function podmanLoad(req: LoadRequest, opts: EngineOptions): Promise<string> {
  const wanted = req.name.toString()
  const load = await runPodman(['load', '--quiet', '--input', req.file], opts, {
    signal: req.signal,
    reject: false,
  })
  if (load.exitCode !== 0) {
    throw new AirlockError(
      'EXEC_FAILED',
      `podman load of ${wanted} exited with ${load.exitCode}: ${loadFailureReason(load.stderr)}`,
      { hint: "podman could not store the image; nothing was named. The reason above is podman's own" },
    )
  }
  const { found, stderr } = await podmanInspect(wanted, opts, req.signal)
  const id = found ? (found.Id.startsWith('sha256:') ? found.Id : `sha256:${found.Id}`) : undefined
  if (id !== req.configDigest) {
    throw new AirlockError(
      'EXEC_FAILED',
      id
        ? `podman load stored the image, but ${wanted} points at ${id}, not ${req.configDigest}`
        : `podman load did not name the image ${wanted}: ${lastLines(stderr)}`,
      { hint: 'check `podman images`; the load may have been interfered with by another podman command' },
    )
  }
  return id
}
