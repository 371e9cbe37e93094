/**
 * Registry operations that are not copies: retagging inside a repository without moving blobs,
 * listing tags, and logging in and out.
 */
import { storeCredentials } from './auth/auth-files.js'
import { AirlockError } from './errors.js'
import { parseManifest } from './manifest.js'
import { isValidTag, parseReference, withTag } from './reference.js'
import { parseImageReference } from './transports/index.js'
import { RegistryClient } from './transports/registry/client.js'
import type { Credentials, RegistryOptions } from './transports/registry/options.js'
import { DockerReference, getVerifiedManifest } from './transports/registry/transport.js'

export interface TagResult {
  source: string
  digest: string
  tagged: string[]
}

function asDockerRef(text: string, role: string): DockerReference {
  const ref = parseImageReference(text)
  if (!(ref instanceof DockerReference)) {
    throw new AirlockError('INVALID_INPUT', `${role} ${ref} is not a registry reference`, {
      hint: 'this command works on docker:// references (host/repository:tag)',
    })
  }
  return ref
}

/**
 * Points more tags of the same repository at the manifest `source` names. Only the manifest is
 * written again (byte for byte); no blob moves. TAG is a bare tag, or a reference in the same
 * repository.
 */
export async function tagImage(
  source: string,
  tags: string[],
  options: RegistryOptions = {},
  signal?: AbortSignal,
): Promise<TagResult> {
  if (!tags.length)
    throw new AirlockError('INVALID_INPUT', 'no tag given', { hint: 'airlock tag SOURCE TAG...' })
  const src = asDockerRef(source, 'source')
  const targets = tags.map((t) => {
    if (isValidTag(t)) return t
    const full = asDockerRef(t, 'tag')
    if (full.ref.name !== src.ref.name) {
      throw new AirlockError('INVALID_INPUT', `tag ${t} is in another repository than ${src.ref.name}`, {
        hint: `tag retags inside one repository; use airlock copy ${source} ${t} (it mounts blobs within a registry)`,
      })
    }
    if (!full.ref.tag) throw new AirlockError('INVALID_INPUT', `tag ${t} has no tag part`)
    return full.ref.tag
  })
  const client = new RegistryClient(src.ref.registry, options, src.ref.repository)
  const m = await getVerifiedManifest(client, src, undefined, signal)
  const parsed = parseManifest(m.bytes, m.mediaType, src.toString())
  const digest = m.digest
  for (const tag of targets) {
    await client.putManifest(src.ref.repository, tag, m.bytes, parsed.mediaType, signal)
  }
  return {
    source: src.toString(),
    digest,
    tagged: targets.map((t) => withTag(parseReference(src.ref.name), t).toString()),
  }
}

export interface TagsResult {
  repository: string
  tags: string[]
}

export async function listTags(
  repository: string,
  options: RegistryOptions = {},
  signal?: AbortSignal,
): Promise<TagsResult> {
  const text = repository.startsWith('docker://') ? repository.slice('docker://'.length) : repository
  const ref = parseReference(text)
  if (ref.tag || ref.digest) {
    throw new AirlockError('INVALID_INPUT', `${repository} names a tag or digest; give the repository only`, {
      hint: `airlock tags ${ref.name}`,
    })
  }
  const client = new RegistryClient(ref.registry, options, ref.repository)
  return { repository: ref.name, tags: await client.listTags(ref.repository, { signal }) }
}

export interface LoginResult {
  registry: string
  username: string
  authfile: string
}

/** Normalizes what users type after `login`: `docker.io`, `https://host:5000/`, `host/ns`. */
export function loginKey(input: string): { registry: string; key: string } {
  const bare = input.replace(/^https?:\/\//, '').replace(/\/+$/, '')
  if (!bare) throw new AirlockError('INVALID_INPUT', 'no registry given', { hint: 'airlock login REGISTRY' })
  const [host, ...path] = bare.split('/')
  const registry = host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::\d+)?$/.test(registry)) {
    throw new AirlockError('INVALID_INPUT', `"${input}" is not a registry host[:port]`, {
      hint: 'e.g. airlock login harbor.example.org',
    })
  }
  return { registry, key: [registry, ...path].join('/') }
}

/** Checks the credentials against the registry, then stores them (containers auth.json, mode 0600). */
export async function login(
  registryInput: string,
  creds: Credentials,
  options: RegistryOptions = {},
): Promise<LoginResult> {
  if (!creds.username || !creds.password) {
    throw new AirlockError('INVALID_INPUT', 'login needs a username and a password', {
      hint: 'airlock login -u USER --password-stdin REGISTRY < password-file',
    })
  }
  const { registry, key } = loginKey(registryInput)
  const client = new RegistryClient(registry, { ...options, creds })
  await client.ping()
  const { file } = await storeCredentials(key, creds, { env: options.env, authfile: options.authfile })
  return { registry: key, username: creds.username, authfile: file }
}

export async function logout(
  registryInput: string,
  options: RegistryOptions = {},
): Promise<{ registry: string; authfile: string; removed: boolean }> {
  const { key } = loginKey(registryInput)
  const { file, changed } = await storeCredentials(key, undefined, {
    env: options.env,
    authfile: options.authfile,
  })
  return {
    registry: key,
    authfile: file,
    removed: changed,
  }
}
