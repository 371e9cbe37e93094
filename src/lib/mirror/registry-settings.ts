/**
 * Registry options for one host of a mirror run: the spec's per-registry credentials (a username and
 * the NAME of an environment variable holding the secret, or an auth file), TLS, and the shared
 * throttle and request counter.
 */
import { AirlockError } from '../errors.js'
import type { RegistryOptions } from '../transports/registry/options.js'
import type { CredentialRef, MirrorSpec, RegistrySettings } from './types.js'

export interface RegistryCounters {
  requests: number
  rateLimitRemaining?: string
}

const SECRET_HINT = (name: string) =>
  `export ${name}=… in the job's environment (a Kubernetes Secret, a systemd EnvironmentFile)`

export function settingsFor(spec: MirrorSpec, host: string): RegistrySettings {
  const aliases = host === 'registry-1.docker.io' || host === 'index.docker.io' ? ['docker.io'] : []
  for (const key of [host, ...aliases]) if (spec.registries[key]) return spec.registries[key]
  return {}
}

export function registryOptionsFor(
  spec: MirrorSpec,
  host: string,
  shared: Pick<RegistryOptions, 'throttle' | 'onRequest' | 'retries'>,
  env: NodeJS.ProcessEnv = process.env,
): RegistryOptions {
  const s = settingsFor(spec, host)
  return {
    ...credentialOptions(spec, s.credentials, `registries.${host}`, env),
    tlsVerify: s.tlsVerify ?? spec.defaults.tlsVerify,
    ...(s.certDir ? { certDir: s.certDir } : {}),
    throttle: shared.throttle,
    onRequest: shared.onRequest,
    retries: shared.retries,
    credsFlag: `credentials under registries.${host} in the mirror spec`,
  }
}

/** Credentials for Harbor's API from `defaults.harbor.credentials` (checked as a registry's are). */
export function harborCredentialOptions(
  spec: MirrorSpec,
  env: NodeJS.ProcessEnv = process.env,
): Pick<RegistryOptions, 'creds' | 'authfile'> {
  return credentialOptions(spec, spec.defaults.harbor?.credentials, 'defaults.harbor', env)
}

/**
 * A spec's credential entry as registry options: a username with the secret read from the variable
 * its passwordEnv names (INVALID_INPUT when that is not set), and its auth file.
 */
function credentialOptions(
  spec: MirrorSpec,
  creds: CredentialRef | undefined,
  where: string,
  env: NodeJS.ProcessEnv,
): Pick<RegistryOptions, 'creds' | 'authfile'> {
  let explicit: RegistryOptions['creds']
  if (creds?.username || creds?.passwordEnv) {
    const password = creds.passwordEnv ? env[creds.passwordEnv] : undefined
    if (creds.passwordEnv && password === undefined) {
      throw new AirlockError(
        'INVALID_INPUT',
        `${spec.file}: ${where}.credentials.passwordEnv names ${creds.passwordEnv}, which is not set`,
        { hint: SECRET_HINT(creds.passwordEnv) },
      )
    }
    if (!creds.username) {
      throw new AirlockError('INVALID_INPUT', `${spec.file}: ${where}.credentials needs a username`)
    }
    explicit = { username: creds.username, password: password ?? '' }
  }
  return { creds: explicit, authfile: creds?.authfile }
}

/**
 * Every secret the spec names by environment variable is set, and every credential entry is complete:
 * checked before a run sends anything, so a missing secret refuses the whole run (INVALID_INPUT,
 * exit 2) rather than failing its sources one by one.
 */
export function checkCredentials(spec: MirrorSpec, env: NodeJS.ProcessEnv = process.env): void {
  harborCredentialOptions(spec, env)
  for (const host of Object.keys(spec.registries)) registryOptionsFor(spec, host, {}, env)
}
