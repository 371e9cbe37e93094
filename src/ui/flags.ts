/**
 * Flags shared by commands, named as skopeo and podman users know them.
 */
import { Flags } from '@oclif/core'
import { AirlockError } from '../lib/errors.js'
import type { Credentials, RegistryOptions } from '../lib/transports/registry/options.js'

/** `--tls-verify=false` / `--tls-verify false`, as in skopeo and podman. */
export const boolValue = Flags.custom<boolean>({
  parse: async (input: string) => {
    const v = input.toLowerCase()
    if (['true', '1', 'yes'].includes(v)) return true
    if (['false', '0', 'no'].includes(v)) return false
    throw new AirlockError('INVALID_INPUT', `"${input}" is not true or false`)
  },
})

export function parseCreds(text: string | undefined, flag: string): Credentials | undefined {
  if (text === undefined) return undefined
  const i = text.indexOf(':')
  if (i <= 0) {
    throw new AirlockError('INVALID_INPUT', `${flag} must be USERNAME:PASSWORD with a non-empty username`, {
      hint: `${flag} user:password (or run airlock login once)`,
    })
  }
  return { username: text.slice(0, i), password: text.slice(i + 1) }
}

export const registryFlags = {
  creds: Flags.string({
    description: 'Credentials USERNAME:PASSWORD for the registry.',
    helpValue: 'USER:PASS',
  }),
  authfile: Flags.string({
    description:
      'Auth file to use instead of the usual ones (default: REGISTRY_AUTH_FILE, containers auth.json, ~/.docker/config.json).',
  }),
  'tls-verify': boolValue({
    description: 'Verify TLS certificates; false also allows plain HTTP.',
    helpValue: 'true|false',
  }),
  'cert-dir': Flags.string({
    description:
      'Directory of *.crt CAs and a *.cert/*.key client certificate, used instead of ~/.config/containers/certs.d/HOST, /etc/containers/certs.d/HOST and /etc/docker/certs.d/HOST.',
    helpValue: 'DIR',
  }),
}

export function registryOptions(flags: {
  creds?: string
  authfile?: string
  'tls-verify'?: boolean
  'cert-dir'?: string
}): RegistryOptions {
  return {
    creds: parseCreds(flags.creds, '--creds'),
    authfile: flags.authfile,
    tlsVerify: flags['tls-verify'],
    certDir: flags['cert-dir'],
  }
}

/** `-j N`: blobs in flight per image (mirror, bundle create and push). */
export const jobsFlag = Flags.integer({
  char: 'j',
  min: 1,
  max: 64,
  default: 4,
  description: 'Blobs in flight per image.',
})
