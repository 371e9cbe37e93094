/**
 * parseChallenge: the WWW-Authenticate header of registries (RFC 7235 auth-params, distribution
 * token spec). Quoted values may hold commas and spaces (scopes), and must not be split there.
 */
import { describe, expect, it } from 'vitest'
import { parseChallenge } from '../../src/lib/transports/registry/auth.js'

describe('parseChallenge', () => {
  it('reads realm, service and a scope whose actions are comma-separated inside the quotes', () => {
    const c = parseChallenge(
      'Bearer realm="https://auth.example.org/service/token",service="harbor-registry",scope="repository:team/app:pull,push"',
    )
    expect(c).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example.org/service/token',
        service: 'harbor-registry',
        scope: 'repository:team/app:pull,push',
      },
    })
  })

  it('keeps several space-separated scopes, error params and spaces after the commas', () => {
    const c = parseChallenge(
      'Bearer realm="https://ghcr.io/token", service="ghcr.io", scope="repository:a/b:pull repository:c/d:pull,push,delete", error="insufficient_scope"',
    )
    expect(c?.params).toEqual({
      realm: 'https://ghcr.io/token',
      service: 'ghcr.io',
      scope: 'repository:a/b:pull repository:c/d:pull,push,delete',
      error: 'insufficient_scope',
    })
  })

  it('accepts a scope param before the realm, and a comma as the last character inside quotes', () => {
    const c = parseChallenge('Bearer scope="repository:x:pull,",realm="http://127.0.0.1:1/t"')
    expect(c?.params.scope).toBe('repository:x:pull,')
    expect(c?.params.realm).toBe('http://127.0.0.1:1/t')
  })

  it('unescapes quoted-pair characters and reads unquoted token values', () => {
    const c = parseChallenge('Bearer realm="https://x/t?a=\\"b\\"",service=registry.example.org')
    expect(c?.params).toEqual({ realm: 'https://x/t?a="b"', service: 'registry.example.org' })
  })

  it('treats the scheme and parameter names case-insensitively', () => {
    const c = parseChallenge('BEARER Realm="https://r/token",SERVICE="svc"')
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://r/token', service: 'svc' } })
  })

  it('parses Basic with a realm that contains spaces', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    })
    expect(parseChallenge('basic')).toEqual({ scheme: 'basic', params: {} })
  })

  it('with several challenges (one header, or several joined by ", "), keeps each one\'s params apart', () => {
    // RFC 7235: a 401 may carry several challenges; http.ts joins repeated headers with ", ".
    expect(
      parseChallenge('Bearer realm="https://a.example/token",service="a.example", Basic realm="Registry"'),
    ).toEqual({ scheme: 'bearer', params: { realm: 'https://a.example/token', service: 'a.example' } })
    expect(parseChallenge('Basic realm="Registry", Bearer realm="https://a.example/token"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry' },
    })
    // An unknown scheme first: the supported one after it is used.
    expect(
      parseChallenge('Negotiate, Bearer realm="https://a.example/token",scope="repository:x:pull,push"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://a.example/token', scope: 'repository:x:pull,push' },
    })
    expect(parseChallenge('Digest realm="r", nonce="n", Basic realm="b"')).toEqual({
      scheme: 'basic',
      params: { realm: 'b' },
    })
  })

  it('stays linear on long hostile headers', () => {
    const t0 = performance.now()
    expect(parseChallenge(`Bearer${' '.repeat(100_000)}x`)).toEqual({ scheme: 'bearer', params: {} })
    expect(parseChallenge(`Negotiate${' ,'.repeat(50_000)}`)).toBeUndefined()
    expect(parseChallenge(`Bearer realm="${'a'.repeat(100_000)}`)?.scheme).toBe('bearer')
    expect(performance.now() - t0).toBeLessThan(500)
  })

  it('returns undefined for unknown schemes and empty headers', () => {
    expect(parseChallenge('Digest realm="r", nonce="abc", qop="auth"')).toBeUndefined()
    expect(parseChallenge('Negotiate')).toBeUndefined()
    expect(parseChallenge('NTLM')).toBeUndefined()
    expect(parseChallenge('')).toBeUndefined()
    expect(parseChallenge(undefined)).toBeUndefined()
  })
})
