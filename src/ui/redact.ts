/**
 * No secret reaches stdout or stderr (docs/security.md "Secrets in output").
 *
 * Two layers:
 * - known secrets: the values of credential flags in argv (--creds, --src-creds, --dest-creds,
 *   --password/-p, any --*password*, --*secret*, --*token* flag), passwords in URLs given in argv,
 *   and secret-looking environment variables (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 *   PROMINENCE_TOKEN, HARBOR_PASSWORD...), in the forms they are printed in (as given, JSON or
 *   util.inspect escaped, URL-encoded, base64 of user:password as in Basic headers and auth files);
 * - patterns for what no argument names: userinfo in URLs, Authorization and token headers, bearer
 *   and basic values, JWTs, password/token fields of JSON or inspected objects, signed query strings.
 *
 * guardOutput() (called by bin/run.js before oclif loads) runs every string written to
 * process.stdout and process.stderr through redact(), whoever writes it: oclif's `debug` logging
 * (DEBUG=*), node's own NODE_DEBUG logging, console, listr2, error handlers. Uncaught exceptions,
 * which node prints natively, are printed redacted instead. This module imports nothing heavy:
 * it is loaded on every start.
 */
import { inspect } from 'node:util'

export const MASK = '***'

/** Secrets shorter than this are masked only where their context is certain (`user:pw`, `'pw'`). */
const MIN_BARE = 4
/** Environment values found by name pattern alone must be at least this long to count. */
const MIN_ENV = 8

/** needle -> replacement; kept sorted longest first in `known`. */
const needles = new Map<string, string>()
let known: RegExp | undefined
let knownBytes: Buffer[] = []

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1)
const inspectEscaped = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')

function put(needle: string, replacement: string): void {
  if (!needle || needle === replacement || needles.has(needle)) return
  needles.set(needle, replacement)
  const sorted = [...needles.keys()].sort((a, b) => b.length - a.length)
  known = new RegExp(sorted.map(escapeRe).join('|'), 'g')
  knownBytes = sorted.map((n) => Buffer.from(n))
}

/**
 * Masks `secret` in everything redact() sees from now on, in the forms it is printed in. With a
 * `user`, `user:secret` becomes `user:***` (the user stays visible) and base64(user:secret), the
 * Basic credential and auth file form, is masked too.
 */
export function addSecret(secret: string | undefined, user?: string): void {
  if (!secret) return
  if (user !== undefined) {
    const pair = `${user}:${secret}`
    for (const f of new Set([pair, jsonEscaped(pair), inspectEscaped(pair)])) put(f, `${user}:${MASK}`)
    const b64 = Buffer.from(pair).toString('base64')
    if (b64.length >= 8) put(b64, MASK)
  }
  if (secret.length >= MIN_BARE) {
    for (const f of new Set([
      secret,
      jsonEscaped(secret),
      inspectEscaped(secret),
      encodeURIComponent(secret),
    ]))
      put(f, MASK)
  } else {
    for (const q of ["'", '"']) put(`${q}${secret}${q}`, `${q}${MASK}${q}`)
    put(`=${secret}`, `=${MASK}`)
  }
}

/** Flags whose value is a secret; `--password-stdin` and the like name a source, not a secret. */
const SECRET_FLAG =
  /^--(?:[\w-]*-)?(?:creds|credentials|password|passwd|[\w-]*secret[\w-]*|[\w-]*token[\w-]*)$/i
const NOT_A_SECRET_FLAG = /-(?:stdin|file|env|path|dir)$/i
const SHORT_SECRET_FLAG = '-p'
const URL_USERINFO = /\b[a-z][a-z0-9+.-]*:\/\/([^/\s:@]*):([^/\s@]+)@/gi

function tryDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** The secrets argv holds: credential flag values (any form) and passwords in URLs. */
export function secretsOfArgv(argv: readonly string[]): Array<{ secret: string; user?: string }> {
  const out: Array<{ secret: string; user?: string }> = []
  const take = (name: string, value: string | undefined) => {
    if (value === undefined) return
    const i = value.indexOf(':')
    if (/cred/i.test(name) && i > 0) out.push({ user: value.slice(0, i), secret: value.slice(i + 1) })
    else out.push({ secret: value })
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    for (const m of arg.matchAll(URL_USERINFO)) {
      const user = tryDecode(m[1])
      out.push({ user: m[1], secret: m[2] }, { user, secret: tryDecode(m[2]) })
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = eq > 0 ? arg.slice(0, eq) : arg
      if (!SECRET_FLAG.test(name) || NOT_A_SECRET_FLAG.test(name)) continue
      if (eq > 0) take(name, arg.slice(eq + 1))
      else take(name, argv[++i])
    } else if (arg === SHORT_SECRET_FLAG) {
      take(arg, argv[++i])
    } else if (arg.startsWith(SHORT_SECRET_FLAG) && !arg.startsWith('--')) {
      take(arg, arg.slice(2).replace(/^=/, ''))
    }
  }
  return out.filter((s) => s.secret !== '')
}

/** Variables that hold secrets by name (AWS keys, PROMINENCE_TOKEN, HARBOR_PASSWORD, ...). */
const KNOWN_ENV = ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'PROMINENCE_TOKEN']
const SECRET_ENV = /PASSW(?:OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY/i
const NOT_A_SECRET_ENV = /_(?:FILE|PATH|DIR|URL|ENV|NAME|TYPE)$/i

export function secretsOfEnv(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue
    if (KNOWN_ENV.includes(name) && value.length >= MIN_BARE) out.push(value)
    else if (SECRET_ENV.test(name) && !NOT_A_SECRET_ENV.test(name) && value.length >= MIN_ENV) out.push(value)
  }
  return out
}

/** Headers whose value is a credential, as node's NODE_DEBUG=http or an error may print them. */
const SECRET_HEADER =
  /(\b(?:proxy-)?authorization|\bx-amz-security-token|\bx-registry-auth|\bx-auth-token|\bprivate-token|\bset-cookie|\bcookie)(["']?\s*[:=]\s*)(?:(["'`])((?:(?!\3)[^\\\n]|\\.)*)\3|((?:Basic|Bearer|Token|Negotiate)\s+[^\s,;'"}\]]+|(?:AWS4-HMAC-SHA256|Digest)\s+[^\r\n'"}\]]*|[^\s,;&'"}\]]*))/gi
/** Fields of JSON documents or inspected objects that hold secrets. */
const SECRET_FIELD =
  /(["']?\b(?:password|passwd|secret|secretAccessKey|secret_access_key|sessionToken|session_token|token|access_token|refresh_token|identitytoken|registrytoken|id_token)["']?\s*[:=]\s*)(["'])((?:(?!\2)[^\\\n]|\\.)+)\2/gi
const AUTH_FIELD = /(["']?\bauth["']?\s*:\s*)(["'])(?=[A-Za-z0-9+/=]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}\2/g
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g
const SCHEME_VALUE = /^(\s*(?:Basic|Bearer|Token|Digest|Negotiate|AWS4-HMAC-SHA256)\s+)\S[\s\S]*$/i

function maskHeaderValue(value: string): string {
  if (!value.trim()) return value
  return SCHEME_VALUE.test(value) ? value.replace(SCHEME_VALUE, `$1${MASK}`) : MASK
}

/**
 * `text` without any known secret and without what looks like one: userinfo in URLs, credential
 * headers, bearer/basic values, JWTs, secret fields, password-like query parameters.
 */
export function redact(text: string): string {
  let out = known ? text.replace(known, (m) => needles.get(m) ?? MASK) : text
  out = out
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, '$1***:***@')
    .replace(SECRET_HEADER, (_m, key: string, sep: string, q?: string, quoted?: string, bare?: string) =>
      q !== undefined
        ? `${key}${sep}${q}${maskHeaderValue(quoted ?? '')}${q}`
        : `${key}${sep}${maskHeaderValue(bare ?? '')}`,
    )
    .replace(SECRET_FIELD, `$1$2${MASK}$2`)
    .replace(AUTH_FIELD, `$1$2${MASK}$2`)
    .replace(JWT, MASK)
    // A credential after its scheme: base64 or token characters with at least one digit or + / =,
    // so prose ("Basic authentication") and challenges (`Bearer realm=...`) stay as they are.
    .replace(
      /\b(Bearer|Basic)\s+(?![A-Za-z_-]+=)(?=[A-Za-z0-9._~+/=-]*[0-9+/=])[A-Za-z0-9._~+/=-]{8,}/g,
      `$1 ${MASK}`,
    )
    .replace(
      /([?&](?:token|access_token|password|secret|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|X-Goog-Credential|Signature|sig|_state)=)[^&\s]+/gi,
      `$1${MASK}`,
    )
  return out
}

const GUARDED = Symbol.for('airlock.redact.guarded')

/** Writes made inside deliberately() pass unredacted. */
let deliberate = 0

/**
 * Runs `print` (synchronous writes) without redaction: for a credential the user asked to be given,
 * such as the presigned URL of `airlock upload --presign`, whose signature (and, with temporary AWS
 * credentials, session token) is what makes it work. Nothing else may use it.
 */
export function deliberately(print: () => void): void {
  deliberate++
  try {
    print()
  } finally {
    deliberate--
  }
}

function redactChunk(chunk: unknown, encoding: unknown): unknown {
  if (typeof chunk === 'string') {
    if (typeof encoding === 'string' && !/^utf-?8$/i.test(encoding)) return chunk
    return redact(chunk)
  }
  // Bytes are data (e.g. `inspect --raw` prints a manifest whose digest matters): they change only
  // when they hold a known secret.
  if (chunk instanceof Uint8Array && knownBytes.length > 0) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (knownBytes.some((n) => buf.includes(n))) return Buffer.from(redact(buf.toString('utf8')))
  }
  return chunk
}

function guardStream(stream: NodeJS.WriteStream): void {
  const s = stream as NodeJS.WriteStream & { [GUARDED]?: boolean }
  if (s[GUARDED]) return
  s[GUARDED] = true
  const write = stream.write
  stream.write = function guardedWrite(
    this: NodeJS.WriteStream,
    chunk: unknown,
    ...rest: unknown[]
  ): boolean {
    const out = deliberate > 0 ? chunk : redactChunk(chunk, rest[0])
    return (write as (...a: unknown[]) => boolean).call(this, out, ...rest)
  } as typeof stream.write
}

/**
 * From now on every string written to process.stdout and process.stderr is redacted, with the
 * secrets of `argv` and `env` known; an uncaught exception is printed redacted (exit 1) instead of
 * by node itself, unless someone else handles uncaught exceptions.
 */
export function guardOutput(
  argv: readonly string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): void {
  for (const { secret, user } of secretsOfArgv(argv)) addSecret(secret, user)
  for (const secret of secretsOfEnv(env)) addSecret(secret)
  guardStream(process.stdout)
  guardStream(process.stderr)
  const onUncaught = (err: unknown) => {
    if (process.listenerCount('uncaughtException') > 1) return
    try {
      process.stderr.write(`${redact(inspect(err))}\n`)
    } finally {
      process.exit(1)
    }
  }
  if (!(process as { [GUARDED]?: boolean })[GUARDED]) {
    ;(process as { [GUARDED]?: boolean })[GUARDED] = true
    process.on('uncaughtException', onUncaught)
  }
}
