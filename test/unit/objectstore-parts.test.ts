import { describe, expect, it } from 'vitest'
import type { RemotePart } from '../../src/lib/objectstore/multipart-parts.js'
import {
  DEFAULT_PART_SIZE,
  MAX_PARTS,
  MiB,
  partRange,
  planParts,
} from '../../src/lib/objectstore/part-plan.js'
import { resumablePartSize } from '../../src/lib/objectstore/pending-upload.js'

describe('planParts', () => {
  it('sends files that fit in one part with one PutObject', () => {
    expect(planParts(0)).toEqual({ partSize: DEFAULT_PART_SIZE, partCount: 1, multipart: false })
    expect(planParts(DEFAULT_PART_SIZE).multipart).toBe(false)
    expect(planParts(DEFAULT_PART_SIZE + 1)).toEqual({
      partSize: DEFAULT_PART_SIZE,
      partCount: 2,
      multipart: true,
    })
  })

  it('grows the part size so that every file fits in 10,000 parts of whole MiB', () => {
    for (const size of [160 * 1024 * MiB, 1024 ** 4, 5 * 1024 ** 4]) {
      const p = planParts(size)
      expect(p.partCount).toBeLessThanOrEqual(MAX_PARTS)
      expect(p.partSize % MiB).toBe(0)
      expect(p.partSize).toBeLessThanOrEqual(5 * 1024 * MiB)
    }
    expect(planParts(1024 ** 4).partSize).toBe(105 * MiB)
  })

  it('takes a requested part size between 5 MiB and 5 GiB', () => {
    expect(planParts(100 * MiB, 5 * MiB)).toMatchObject({ partSize: 5 * MiB, partCount: 20 })
    expect(() => planParts(100 * MiB, 4 * MiB)).toThrow(/between 5 MiB and 5 GiB/)
    expect(() => planParts(5 * 1024 ** 4 + 1)).toThrow(/5 TiB/)
  })

  it('cuts ranges with a short last part', () => {
    expect(partRange(1, 5, 12)).toEqual({ start: 0, end: 5 })
    expect(partRange(3, 5, 12)).toEqual({ start: 10, end: 12 })
  })
})

describe('resumablePartSize', () => {
  const part = (partNumber: number, size: number): [number, RemotePart] => [
    partNumber,
    { partNumber, size, etag: '"x"' },
  ]
  const size = 23 * MiB

  it('keeps the planned size when the parts fit it', () => {
    expect(resumablePartSize(new Map(), size, 16 * MiB)).toBe(16 * MiB)
    expect(resumablePartSize(new Map([part(1, 5 * MiB), part(3, 5 * MiB)]), size, 5 * MiB)).toBe(5 * MiB)
  })

  it('finds the part size an earlier run used', () => {
    const parts = new Map([part(1, 8 * MiB), part(3, 7 * MiB)])
    expect(resumablePartSize(parts, size, 16 * MiB)).toBe(8 * MiB)
  })

  it('refuses parts that do not fit this file', () => {
    expect(resumablePartSize(new Map([part(1, 8 * MiB), part(2, 6 * MiB)]), size, 16 * MiB)).toBeUndefined()
    expect(resumablePartSize(new Map([part(9, 5 * MiB)]), size, 5 * MiB)).toBeUndefined()
    expect(resumablePartSize(new Map([part(1, 1 * MiB)]), size, 5 * MiB)).toBeUndefined()
  })
})
