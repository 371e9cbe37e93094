/**
 * How a user's text picks a local image (src/lib/engine/local-image.ts): IDs, short IDs, names and
 * name@digest, matched against a listing as podman and Docker print it.
 */
import { describe, expect, it } from 'vitest'
import {
  destinationName,
  engineTransportRef,
  type LocalImage,
  matchLocalImage,
  mergeLocalImages,
  normalizeLocalImage,
  parseLocalImageQuery,
} from '../../src/lib/engine/local-image.js'
import { errorOf } from '../helpers/errors.js'

const A = `sha256:ab12${'0'.repeat(60)}`
const B = `sha256:ab34${'1'.repeat(60)}`
const C = `sha256:cafe${'2'.repeat(60)}`
const DIGEST = `sha256:${'d'.repeat(64)}`

const images: LocalImage[] = [
  // Docker lists familiar names, podman full ones; both are normalized.
  normalizeLocalImage({ id: A, names: ['alpine:3.20', 'localhost/x:1'], repoDigests: [`alpine@${DIGEST}`] }),
  normalizeLocalImage({ id: B.slice(7), names: ['<none>:<none>'], repoDigests: [] }),
  normalizeLocalImage({ id: C, names: ['docker.io/library/cafe:latest'], repoDigests: [] }),
]
const pick = (text: string) => matchLocalImage(images, parseLocalImageQuery(text), 'podman storage')

describe('local image queries', () => {
  it('normalizes listed names and IDs', () => {
    expect(images[0].names).toEqual(['docker.io/library/alpine:3.20', 'localhost/x:1'])
    expect(images[0].repoDigests).toEqual([`docker.io/library/alpine@${DIGEST}`])
    expect(images[1]).toMatchObject({ id: B, names: [] })
  })

  it('finds images by name as podman normalizes it', () => {
    expect(pick('alpine:3.20').id).toBe(A)
    expect(pick('docker.io/library/alpine:3.20').id).toBe(A)
    expect(pick('localhost/x:1').id).toBe(A)
    expect(pick(`alpine@${DIGEST}`).id).toBe(A)
  })

  it('finds images by full and short ID, with or without sha256:', () => {
    expect(pick(B).id).toBe(B)
    expect(pick(B.slice(7)).id).toBe(B)
    expect(pick('ab3').id).toBe(B)
    expect(pick('sha256:ab1').id).toBe(A)
    expect(pick(`@${A.slice(7)}`).id).toBe(A)
  })

  it('prefers a name over a short ID, as Docker does', () => {
    expect(pick('cafe').id).toBe(C)
  })

  it('refuses ambiguous and unknown IDs as bad input (exit 2), unknown names as NOT_FOUND', () => {
    const amb = errorOf(() => pick('ab'))
    expect([amb.code, amb.exitCode]).toEqual(['INVALID_INPUT', 2])
    expect(amb.message).toContain('ab')
    expect(amb.message).toContain('ambiguous')
    const unknownId = errorOf(() => pick('sha256:ffff'))
    expect([unknownId.code, unknownId.exitCode]).toEqual(['INVALID_INPUT', 2])
    expect(unknownId.message).toContain('sha256:ffff')
    const unknownName = errorOf(() => pick('busybox'))
    expect(unknownName.code).toBe('NOT_FOUND')
    expect(unknownName.message).toContain('docker.io/library/busybox:latest')
  })

  it('takes names only as destinations', () => {
    expect(destinationName('alpine', 'containers-storage').toString()).toBe('docker.io/library/alpine:latest')
    expect(destinationName('harbor.example.org/group/app:1', 'docker-daemon').toString()).toBe(
      'harbor.example.org/group/app:1',
    )
    expect(errorOf(() => destinationName(A, 'containers-storage')).code).toBe('INVALID_INPUT')
    expect(errorOf(() => destinationName(`alpine@${DIGEST}`, 'docker-daemon')).code).toBe('INVALID_INPUT')
    expect(errorOf(() => destinationName('Group/App', 'docker-daemon')).code).toBe('INVALID_REFERENCE')
  })

  it('names engine references', () => {
    expect(engineTransportRef('podman', 'localhost/x:1')).toBe('containers-storage:localhost/x:1')
    expect(engineTransportRef('docker', 'ab12')).toBe('docker-daemon:ab12')
  })
})

describe('mergeLocalImages', () => {
  it('merges the once-per-name entries podman 4.3 lists', () => {
    const merged = mergeLocalImages([
      { id: A.slice(7), names: ['localhost/a:1'], repoDigests: [] },
      { id: A.slice(7), names: ['localhost/a:2'], repoDigests: [] },
      { id: B, names: [], repoDigests: [] },
    ])
    expect(merged).toHaveLength(2)
    expect(merged[0]).toMatchObject({ id: A, names: ['localhost/a:1', 'localhost/a:2'] })
    // Merged, a short ID of a twice-named image is not ambiguous.
    expect(matchLocalImage(merged, parseLocalImageQuery('ab1'), 'podman storage').id).toBe(A)
  })
})
