/**
 * What every run over a mirror spec shares (`airlock mirror`, `airlock bundle create -f`): registry
 * options per host from the spec (credentials, TLS, concurrency and request rate), request counters,
 * registry clients, and the plan of which tags to take.
 */
import { inspectImage } from '../inspect.js'
import { parseDockerRef } from '../reference.js'
import { listTags } from '../registry-ops.js'
import { RegistryClient } from '../transports/registry/client.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import { type MirrorPlan, planImages } from './plan.js'
import { RateLimiter } from './rate-limit.js'
import { type RegistryCounters, registryOptionsFor, settingsFor } from './registry-settings.js'
import type { Shard } from './shard.js'
import type { MirrorSpec } from './types.js'

export interface SpecSession {
  spec: MirrorSpec
  /** Registry options for a host: the spec's settings plus the shared throttle and counters. */
  optionsFor: (registry: string) => RegistryOptions
  client: (registry: string, repository: string) => RegistryClient
  /** Requests made per registry host, and the last RateLimit-Remaining seen. */
  counters: Record<string, RegistryCounters>
}

export function openSpecSession(spec: MirrorSpec, env?: NodeJS.ProcessEnv): SpecSession {
  const counters: Record<string, RegistryCounters> = {}
  const limiter = new RateLimiter((host) => settingsFor(spec, host))
  const shared: Pick<RegistryOptions, 'throttle' | 'onRequest' | 'retries'> = {
    // The spec's retries are those of every request (src/lib/http/retry.ts), planning included.
    retries: spec.defaults.retries,
    throttle: limiter.throttle,
    onRequest: (info) => {
      counters[info.host] ??= { requests: 0 }
      const c = counters[info.host]
      c.requests++
      if (info.rateLimitRemaining !== undefined) c.rateLimitRemaining = info.rateLimitRemaining
    },
  }
  const optionsCache = new Map<string, RegistryOptions>()
  const optionsFor = (registry: string): RegistryOptions => {
    let o = optionsCache.get(registry)
    if (!o) {
      o = registryOptionsFor(spec, registry, shared, env)
      optionsCache.set(registry, o)
    }
    return o
  }
  const clients = new Map<string, RegistryClient>()
  const client = (registry: string, repository: string): RegistryClient => {
    const key = `${registry}/${repository}`
    let c = clients.get(key)
    if (!c) {
      c = new RegistryClient(registry, optionsFor(registry), repository)
      clients.set(key, c)
    }
    return c
  }
  return { spec, optionsFor, client, counters }
}

/** The tags the spec selects, listed from the sources. */
export function planSpec(
  session: SpecSession,
  opts: { shard?: Shard; signal?: AbortSignal; listAll?: boolean } = {},
): Promise<MirrorPlan> {
  const { spec, optionsFor } = session
  const signal = opts.signal
  return planImages(
    spec,
    async (repo: string) => {
      const { registry } = parseDockerRef(repo)
      return (await listTags(`docker://${repo}`, optionsFor(registry), signal)).tags
    },
    // Exact tags need no listing (one request per tag at most on a no-op run), unless signature
    // tags must be found among the repository's tags.
    {
      shard: opts.shard,
      trustExactTags: !opts.listAll && !spec.images.some((i) => i.referrers ?? spec.defaults.referrers),
      // `latest: {by: created}`: the image config's creation time (a manifest and a config GET per tag).
      created: async (repo, tag) => {
        const ref = parseDockerRef(repo)
        const info = await inspectImage(`docker://${ref.name}:${tag}`, {
          context: { registry: optionsFor(ref.registry), signal },
        })
        const when = info.images.find((i) => i.config?.created)?.config?.created
        return when ? new Date(when) : undefined
      },
    },
  )
}
