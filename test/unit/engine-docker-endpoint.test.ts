/**
 * Where the Docker Engine API is (src/lib/engine/docker-api.ts): the option, DOCKER_HOST, or the
 * default socket; and what the unreachable error says.
 */
import { describe, expect, it } from 'vitest'
import { dockerEndpoint, dockerError } from '../../src/lib/engine/docker-api.js'
import { errorOf } from '../helpers/errors.js'

describe('dockerEndpoint', () => {
  it('defaults to /var/run/docker.sock', () => {
    expect(dockerEndpoint({ env: {} })).toMatchObject({
      socketPath: '/var/run/docker.sock',
      display: 'unix:///var/run/docker.sock',
      from: 'default',
    })
  })

  it('reads DOCKER_HOST, and the option wins over it', () => {
    expect(dockerEndpoint({ env: { DOCKER_HOST: 'unix:///run/x.sock' } })).toMatchObject({
      socketPath: '/run/x.sock',
      from: 'DOCKER_HOST',
    })
    expect(dockerEndpoint({ env: { DOCKER_HOST: 'tcp://10.0.0.1:2375' } })).toMatchObject({
      host: '10.0.0.1',
      port: 2375,
      protocol: 'http',
    })
    expect(dockerEndpoint({ env: { DOCKER_HOST: 'tcp://h:2376' } }).protocol).toBe('https')
    expect(dockerEndpoint({ env: { DOCKER_HOST: 'tcp://h:2375', DOCKER_TLS_VERIFY: '1' } }).protocol).toBe(
      'https',
    )
    expect(
      dockerEndpoint({ dockerHost: 'unix:///opt/d.sock', env: { DOCKER_HOST: 'tcp://h:1' } }),
    ).toMatchObject({ socketPath: '/opt/d.sock', from: 'option' })
  })

  it('refuses addresses it cannot use, without echoing credentials', () => {
    const err = errorOf(() => dockerEndpoint({ env: { DOCKER_HOST: 'ssh://user:secret@host' } }))
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.message).not.toContain('secret')
    expect(err.hint).toContain('DOCKER_HOST')
  })

  it('turns a missing socket into UNREACHABLE naming DOCKER_HOST and the socket', () => {
    const enoent = Object.assign(new Error('connect ENOENT /nope/d.sock'), { code: 'ENOENT' })
    const err = dockerError(enoent, 'ping', { env: { DOCKER_HOST: 'unix:///nope/d.sock' } })
    expect(err.code).toBe('UNREACHABLE')
    expect(err.message).toContain('unix:///nope/d.sock')
    expect(err.hint).toContain('DOCKER_HOST')
    expect(err.hint).toContain('/nope/d.sock')
    const dflt = dockerError(enoent, 'ping', { env: {} })
    expect(dflt.hint).toContain('DOCKER_HOST is not set')
    expect(dflt.hint).toContain('/var/run/docker.sock')
  })
})
