/**
 * Archive member names as text without losing bytes: UTF-8 where the bytes are UTF-8, and each byte
 * of anything else as the lone surrogate U+DC80..U+DCFF (the "surrogateescape" mapping of Python's
 * PEP 383, which its tarfile and os modules use for file names). A decoded UTF-8 text never holds a
 * lone surrogate, so the mapping is one to one: `caf\xe9` and `caf\xe8` stay two names (a UTF-8
 * decode would make both `caf\uFFFD`), names from JSON (manifest.json, index.json) compare as they
 * always did, and encodeName gives back the exact bytes.
 *
 * The layer flattener keeps names as binary strings instead (one char per byte, see
 * src/lib/sif/flatten-layer.ts): it never compares them with text from JSON.
 */

const fatal = new TextDecoder('utf-8', { fatal: true })

/** The text of a name's bytes (see the top). */
export function decodeName(bytes: Buffer): string {
  let ascii = true
  for (const b of bytes) {
    if (b >= 0x80) {
      ascii = false
      break
    }
  }
  if (ascii) return bytes.toString('latin1')
  try {
    return fatal.decode(bytes)
  } catch {
    return escapeDecode(bytes)
  }
}

function escapeDecode(bytes: Buffer): string {
  let out = ''
  let i = 0
  while (i < bytes.length) {
    const n = sequenceLength(bytes, i)
    if (n) {
      out += bytes.toString('utf8', i, i + n)
      i += n
    } else {
      out += String.fromCharCode(0xdc00 + bytes[i])
      i++
    }
  }
  return out
}

/** Length of the well-formed UTF-8 sequence at `i` (RFC 3629, section 4), or 0 when there is none. */
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i]
  if (c < 0x80) return 1
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0 // no UTF-16 surrogates
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0
  return 0
}

/** The bytes decodeName made `text` from. */
export function encodeName(text: string): Buffer {
  const parts: Buffer[] = []
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0xdc80 || c > 0xdcff) continue
    // A low surrogate right after a high one is half of a pair, not an escaped byte.
    const prev = i > 0 ? text.charCodeAt(i - 1) : 0
    if (prev >= 0xd800 && prev <= 0xdbff) continue
    parts.push(Buffer.from(text.slice(start, i), 'utf8'), Buffer.from([c - 0xdc00]))
    start = i + 1
  }
  if (!parts.length) return Buffer.from(text, 'utf8')
  parts.push(Buffer.from(text.slice(start), 'utf8'))
  return Buffer.concat(parts)
}
