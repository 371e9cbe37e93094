/**
 * parseManifest (OCI image-spec and Docker schema 2: images and indexes, media type by field, by
 * Content-Type, or by shape), platform parsing and matching.
 */
import { describe, expect, it } from 'vitest'
import { MEDIA, parseManifest, parsePlatform, platformMatches } from '../../src/lib/manifest.js'
import { errorOf } from '../helpers/errors.js'

const D = (c: string) => `sha256:${c.repeat(64)}`
const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D('c'), size: 1234 }
const l1 = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('1'), size: 1000 }
const l2 = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('2'), size: 2000 }
const amd = {
  mediaType: MEDIA.ociManifest,
  digest: D('a'),
  size: 500,
  platform: { os: 'linux', architecture: 'amd64' },
}
const arm = {
  mediaType: MEDIA.ociManifest,
  digest: D('b'),
  size: 501,
  platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
}

const bytes = (doc: unknown) => Buffer.from(JSON.stringify(doc))

describe('parseManifest', () => {
  it('reads an OCI image manifest: config first, then layers, annotations and subject', () => {
    const subject = { mediaType: MEDIA.ociManifest, digest: D('5'), size: 10 }
    const m = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: cfg,
        layers: [l1, l2],
        subject,
        annotations: { a: 'b' },
      }),
      MEDIA.ociManifest,
      'test',
    )
    expect(m.kind).toBe('image')
    expect(m.mediaType).toBe(MEDIA.ociManifest)
    expect(m.config).toEqual(cfg)
    expect(m.layers).toEqual([l1, l2])
    expect(m.children.map((c) => c.digest)).toEqual([D('c'), D('1'), D('2')])
    expect(m.subject).toEqual(subject)
    expect(m.annotations).toEqual({ a: 'b' })
  })

  it('reads a Docker schema 2 manifest and a Docker manifest list', () => {
    const img = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: cfg, layers: [l1] }),
      undefined,
      'test',
    )
    expect(img.kind).toBe('image')
    expect(img.mediaType).toBe(MEDIA.dockerManifest)
    const list = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MEDIA.dockerList, manifests: [amd, arm] }),
      MEDIA.dockerList,
      'test',
    )
    expect(list.kind).toBe('index')
    expect(list.mediaType).toBe(MEDIA.dockerList)
    expect(list.children.map((c) => c.platform)).toEqual([amd.platform, arm.platform])
    expect(list.config).toBeUndefined()
  })

  it('reads an OCI index, with an empty manifest list too', () => {
    const idx = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [amd, arm] }),
      '',
      'test',
    )
    expect(idx.kind).toBe('index')
    expect(idx.mediaType).toBe(MEDIA.ociIndex)
    expect(idx.children).toEqual([amd, arm])
    const empty = parseManifest(
      bytes({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] }),
      '',
      'test',
    )
    expect(empty.children).toEqual([])
  })

  it('takes the media type from the Content-Type (with parameters) when the JSON has none', () => {
    const m = parseManifest(
      bytes({ schemaVersion: 2, config: cfg, layers: [l1] }),
      'application/vnd.docker.distribution.manifest.v2+json; charset=utf-8',
      'test',
    )
    expect(m.mediaType).toBe(MEDIA.dockerManifest)
  })

  it('tells OCI manifests without mediaType apart by shape', () => {
    const img = parseManifest(bytes({ schemaVersion: 2, config: cfg, layers: [l1, l2] }), undefined, 'test')
    expect(img.kind).toBe('image')
    expect(img.mediaType).toBe(MEDIA.ociManifest)
    expect(img.layers).toHaveLength(2)
    const idx = parseManifest(
      bytes({ schemaVersion: 2, manifests: [amd] }),
      'application/octet-stream',
      'test',
    )
    expect(idx.kind).toBe('index')
    expect(idx.mediaType).toBe(MEDIA.ociIndex)
  })

  it('refuses Docker schema 1 (by schemaVersion or media type) with UNSUPPORTED and a hint', () => {
    const s1 = {
      schemaVersion: 1,
      name: 'library/hello',
      tag: 'latest',
      architecture: 'amd64',
      fsLayers: [{ blobSum: D('1') }],
      history: [],
    }
    for (const declared of [undefined, MEDIA.dockerSchema1Signed, MEDIA.dockerSchema1]) {
      const e = errorOf(() => parseManifest(bytes(s1), declared, 'docker://r/hello:latest'))
      expect(e.code).toBe('UNSUPPORTED')
      expect(e.message).toContain('docker://r/hello:latest')
      expect(e.message).toContain('schema 1')
      expect(e.hint).toMatch(/re-push|rebuild/)
    }
    const declaredOnly = errorOf(() => parseManifest(bytes({ fsLayers: [] }), MEDIA.dockerSchema1Signed, 'x'))
    expect(declaredOnly.code).toBe('UNSUPPORTED')
  })

  it('refuses JSON that is no manifest, and bytes that are no JSON', () => {
    const other = errorOf(() => parseManifest(bytes({ schemaVersion: 2, hello: 'world' }), 'text/plain', 'x'))
    expect(other.code).toBe('UNSUPPORTED')
    const notJson = errorOf(() =>
      parseManifest(Buffer.from('<html>login</html>'), 'text/html', 'docker://r/a:1'),
    )
    expect(notJson.code).toBe('INVALID_INPUT')
    expect(notJson.message).toContain('docker://r/a:1')
  })

  it('refuses malformed descriptors', () => {
    const cases: Array<[string, unknown]> = [
      ['size as a string', { schemaVersion: 2, config: { ...cfg, size: '1234' }, layers: [l1] }],
      ['negative size', { schemaVersion: 2, config: cfg, layers: [{ ...l1, size: -1 }] }],
      ['fractional size', { schemaVersion: 2, config: cfg, layers: [{ ...l1, size: 1.5 }] }],
      ['missing digest', { schemaVersion: 2, config: cfg, layers: [{ mediaType: l1.mediaType, size: 3 }] }],
      ['null layer', { schemaVersion: 2, config: cfg, layers: [null] }],
      ['layers not a list', { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: cfg, layers: {} }],
      ['config missing', { schemaVersion: 2, mediaType: MEDIA.ociManifest, layers: [l1] }],
      ['index without manifests', { schemaVersion: 2, mediaType: MEDIA.ociIndex }],
      [
        'index child without size',
        { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [{ digest: D('a') }] },
      ],
    ]
    for (const [what, doc] of cases) {
      const e = errorOf(() => parseManifest(bytes(doc), undefined, 'm'))
      expect(e.code, what).toBe('INVALID_INPUT')
      expect(e.message, what).toContain('manifest of m')
    }
  })

  it('refuses descriptors whose digest is not a digest', () => {
    for (const digest of ['sha256:../../../../etc/passwd', 'not-a-digest', 'sha256:ABC', '']) {
      const e = errorOf(() =>
        parseManifest(bytes({ schemaVersion: 2, config: cfg, layers: [{ ...l1, digest }] }), undefined, 'm'),
      )
      expect(e.code, digest).toBe('INVALID_INPUT')
    }
  })
})

describe('parsePlatform', () => {
  it('reads os/arch and os/arch/variant', () => {
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' })
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' })
    expect(parsePlatform('windows/amd64')).toEqual({ os: 'windows', architecture: 'amd64' })
  })

  it('refuses anything else with INVALID_INPUT and an example', () => {
    for (const bad of ['amd64', 'linux/amd64/v1/x', 'linux//amd64', '', 'linux/amd 64', 'linux/']) {
      const e = errorOf(() => parsePlatform(bad))
      expect(e.code, bad).toBe('INVALID_INPUT')
      expect(e.message, bad).toContain(`"${bad}"`)
      expect(e.hint, bad).toContain('--platform linux/amd64')
    }
  })
})

describe('platformMatches', () => {
  const p = (os: string, architecture: string, variant?: string) =>
    variant ? { os, architecture, variant } : { os, architecture }

  it('needs os and architecture to be equal', () => {
    expect(platformMatches(p('linux', 'amd64'), p('linux', 'amd64'))).toBe(true)
    expect(platformMatches(p('linux', 'amd64'), p('linux', 'arm64'))).toBe(false)
    expect(platformMatches(p('windows', 'amd64'), p('linux', 'amd64'))).toBe(false)
    expect(platformMatches(undefined, p('linux', 'amd64'))).toBe(false)
  })

  it('a wanted variant must match; no wanted variant matches any', () => {
    expect(platformMatches(p('linux', 'arm', 'v7'), p('linux', 'arm', 'v7'))).toBe(true)
    expect(platformMatches(p('linux', 'arm', 'v6'), p('linux', 'arm', 'v7'))).toBe(false)
    expect(platformMatches(p('linux', 'arm', 'v6'), p('linux', 'arm'))).toBe(true)
    expect(platformMatches(p('linux', 'arm64', 'v8'), p('linux', 'arm64'))).toBe(true)
  })

  it('arm64 without variant is v8, arm without variant is v7', () => {
    expect(platformMatches(p('linux', 'arm64'), p('linux', 'arm64', 'v8'))).toBe(true)
    expect(platformMatches(p('linux', 'arm64'), p('linux', 'arm64', 'v9'))).toBe(false)
    expect(platformMatches(p('linux', 'arm'), p('linux', 'arm', 'v7'))).toBe(true)
    expect(platformMatches(p('linux', 'arm'), p('linux', 'arm', 'v6'))).toBe(false)
    expect(platformMatches(p('linux', 'amd64'), p('linux', 'amd64', 'v3'))).toBe(false)
  })

  it('parsePlatform output is accepted by platformMatches', () => {
    expect(platformMatches(p('linux', 'arm64', 'v8'), parsePlatform('linux/arm64/v8'))).toBe(true)
    expect(platformMatches(p('linux', 'ppc64le'), parsePlatform('linux/ppc64le'))).toBe(true)
  })
})
