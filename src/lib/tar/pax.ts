/**
 * pax extended header records (IEEE Std 1003.1, "pax Interchange Format"): `<length> <keyword>=<value>\n`,
 * the decimal length counting the whole record. Values are kept as the bytes stored: a `path` may
 * be any bytes (Go writes every non-ASCII name here; Python's tarfile marks names that are not UTF-8
 * with `hdrcharset=BINARY`), and SCHILY.xattr values are raw attribute bytes (file capabilities are
 * binary). Keywords are kept as binary strings (one char per byte), so an xattr name is its bytes too.
 *
 * Scope, as the standard gives it: records of a 'g' header apply to every following entry, those of
 * an 'x' header to the next entry only and override the global ones; an empty value deletes the
 * keyword (the entry then takes the header field, or nothing). One exception, as GNU tar and Go read
 * it: in an 'x' header, an xattr with an empty value is an empty attribute. */

import { TarFormatError } from './header.js'

export type PaxRecords = ReadonlyMap<string, Buffer>

export interface EntryPax {
  records: PaxRecords
  /**
   * GNU sparse format 0.0 repeats GNU.sparse.offset and GNU.sparse.numbytes once per data region
   * (GNU tar manual, "PAX Format, Versions 0.0 and 0.1"): their values in order, as read.
   */
  sparseList: string[]
}

/** The records of one header body, in order (a keyword may repeat). */
export function parsePaxRecords(body: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = []
  let pos = 0
  while (pos < body.length) {
    if (body[pos] === 0) break // padding some writers leave after the last record
    const space = body.indexOf(0x20, pos)
    const digits = space < 0 ? '' : body.toString('latin1', pos, space)
    const length = /^[0-9]{1,12}$/.test(digits) ? Number(digits) : Number.NaN
    if (!(length > space - pos + 1) || pos + length > body.length || body[pos + length - 1] !== 0x0a) {
      throw new TarFormatError(`bad pax record at byte ${pos} of an extended header`)
    }
    const eq = body.indexOf(0x3d, space + 1)
    if (eq < 0 || eq >= pos + length - 1 || eq === space + 1) {
      throw new TarFormatError(`bad pax record at byte ${pos} of an extended header`)
    }
    out.push([body.toString('latin1', space + 1, eq), Buffer.from(body.subarray(eq + 1, pos + length - 1))])
    pos += length
  }
  return out
}

const NONE: PaxRecords = new Map()

/** The pax state while an archive is read: global records, and the records of the next entry. */
export class PaxState {
  private readonly global = new Map<string, Buffer>()
  private local: Array<[string, Buffer]> = []

  /** A 'g' header's body: an empty value deletes the keyword (xattrs too). */
  addGlobal(body: Buffer): void {
    for (const [key, value] of parsePaxRecords(body)) {
      if (value.length) this.global.set(key, value)
      else this.global.delete(key)
    }
  }

  /** An 'x' header's body (several before one entry add up). */
  addLocal(body: Buffer): void {
    this.local.push(...parsePaxRecords(body))
  }

  get pending(): boolean {
    return this.local.length > 0
  }

  /** The records in force for the entry whose header comes now; clears the 'x' records. */
  take(): EntryPax {
    if (!this.local.length && !this.global.size) return { records: NONE, sparseList: [] }
    const records = new Map(this.global)
    const sparseList: string[] = []
    for (const [key, value] of this.local) {
      records.set(key, value)
      if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes')
        sparseList.push(value.toString('latin1'))
    }
    this.local = []
    return { records, sparseList }
  }
}

/** A record's value; undefined when absent or empty (deleted). */
export function paxValue(records: PaxRecords, key: string): Buffer | undefined {
  const v = records.get(key)
  return v?.length ? v : undefined
}

/** A non-negative decimal integer record (size, uid, gid, GNU.sparse.*). */
export function paxInteger(records: PaxRecords, key: string): number | undefined {
  const v = paxValue(records, key)
  if (v === undefined) return undefined
  const text = v.toString('latin1')
  const n = Number(text)
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n))
    throw new TarFormatError(`bad pax ${key} ${JSON.stringify(text)}`)
  return n
}

/** A time record (`mtime`): decimal seconds, maybe negative, maybe with a fraction; whole seconds. */
export function paxTime(records: PaxRecords, key: string): number | undefined {
  const v = paxValue(records, key)
  if (v === undefined) return undefined
  const text = v.toString('latin1')
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(text)) throw new TarFormatError(`bad pax ${key} ${JSON.stringify(text)}`)
  const n = Math.floor(Number(text))
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`bad pax ${key} ${JSON.stringify(text)}`)
  return n
}

const SCHILY = 'SCHILY.xattr.'
const LIBARCHIVE = 'LIBARCHIVE.xattr.'

/**
 * Extended attributes: `SCHILY.xattr.<name>=<raw value>` (star, GNU tar, Go's archive/tar,
 * containers/storage) and `LIBARCHIVE.xattr.<%-encoded name>=<base64 value>` (libarchive, bsdtar).
 * Names are binary strings, values the attribute's bytes. When both forms name one attribute, the
 * SCHILY one is taken (libarchive writes both, with the same bytes).
 */
export function paxXattrs(records: PaxRecords): Map<string, Buffer> | undefined {
  let out: Map<string, Buffer> | undefined
  for (const [key, value] of records) {
    if (key.startsWith(LIBARCHIVE) && key.length > LIBARCHIVE.length) {
      const name = percentDecode(key.slice(LIBARCHIVE.length))
      if (records.has(SCHILY + name)) continue
      const text = value.toString('latin1')
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text))
        throw new TarFormatError(`bad base64 value in pax ${JSON.stringify(key)}`)
      out ??= new Map()
      out.set(name, Buffer.from(text, 'base64'))
    } else if (key.startsWith(SCHILY) && key.length > SCHILY.length) {
      out ??= new Map()
      out.set(key.slice(SCHILY.length), value)
    }
  }
  return out
}

/** `%XX` escapes to bytes (libarchive's url_encode of xattr names); the result a binary string. */
function percentDecode(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})?/g, (_all, hex: string | undefined) => {
    if (hex === undefined) throw new TarFormatError(`bad %-escape in pax xattr name ${JSON.stringify(text)}`)
    return String.fromCharCode(Number.parseInt(hex, 16))
  })
}
