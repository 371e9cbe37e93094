import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createHash, randomBytes, randomUUID, sign, X509Certificate } from 'node:crypto'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { header, httpRequest } from './http.js'
import { freePort } from './ports.js'

const execFileAsync = promisify(execFile)

export type RegistryAuth = 'none' | 'htpasswd' | 'token'

/** One entry of a JWT `access` claim. */
export interface TokenAccess {
  type: string
  name: string
  actions: string[]
}

export interface IssuedToken {
  /** The raw `scope` values of the request, in order (e.g. `repository:foo/bar:pull,push`). */
  scope: string[]
  /** Authenticated user, or undefined for an anonymous request. */
  user?: string
  /** What the token grants (empty for anonymous requests). */
  access: TokenAccess[]
  /** `service` parameter of the request, if any. */
  service?: string
  method: 'GET' | 'POST'
}

export interface TokenServer {
  /** The realm URL, e.g. `http://127.0.0.1:PORT/service/token`. */
  url: string
  /** Every token issued to a client (tokens fetched by the harness itself are not logged). */
  issued: IssuedToken[]
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string
  /** `http://127.0.0.1:PORT` or `https://…` when started with tls. */
  url: string
  /** Filesystem storage root of the registry. */
  rootDir: string
  auth: RegistryAuth
  username?: string
  password?: string
  tokenServer?: TokenServer
  tls: boolean
  /** PEM file of the self-signed server certificate (tls only); it is its own CA. */
  caFile?: string
  /** Directory holding only `ca.crt` (= caFile), usable as `skopeo --cert-dir` (tls only). */
  certDir?: string
  /** `<root>/docker/registry/v2/blobs/sha256/xx/<hex>/data` */
  blobPath(digest: string): string
  /** Everything the registry process wrote to stdout/stderr so far (bounded to the last 256 KiB). */
  logs(): string
  stop(): Promise<void>
}

export interface StartRegistryOptions {
  auth?: RegistryAuth
  /** Defaults to `testuser` for auth variants. */
  username?: string
  /** Defaults to `testpass` for auth variants. */
  password?: string
  tls?: boolean
  /** Registry executable (default $AIRLOCK_TEST_REGISTRY_BIN or `docker-registry`); mainly for harness tests. */
  binary?: string
  /** Token auth: more users (name → password), as robot accounts of several Harbor projects. */
  users?: Record<string, string>
  /**
   * Token auth: what a user may have of a requested scope (default: everything asked). Return the
   * allowed actions (an empty list grants nothing), as Harbor limits a robot to its own project.
   */
  grant?: (user: string, access: TokenAccess) => string[]
  /**
   * Token auth: a fault for the n-th token request (counted from 1, harness requests not counted):
   * a status answer, a connection reset before any answer, or an answer cut in the middle of its body.
   */
  tokenFault?: (n: number) => TokenFault | undefined
}

export type TokenFault =
  | { status: number; headers?: Record<string, string> }
  | { reset: 'before-headers' | 'mid-body' }

/** Header that marks requests made by the harness itself; such tokens are not logged in `issued`. */
export const HARNESS_HEADER = 'x-airlock-test-harness'

export const TOKEN_SERVICE = 'test-registry'
export const TOKEN_ISSUER = 'test-issuer'
export const TOKEN_PATH = '/service/token'

const REGISTRY_BIN = process.env.AIRLOCK_TEST_REGISTRY_BIN ?? 'docker-registry'
const START_TIMEOUT_MS = 10_000
const STOP_GRACE_MS = 3_000
const MAX_LOG = 256 * 1024

// ---------------------------------------------------------------------------------------------------------
// Process tracking: every registry is killed (and its temp dir removed) when the test process exits.
// ---------------------------------------------------------------------------------------------------------

interface Tracked {
  child?: ChildProcess
  watchdog?: ChildProcess
  dirs: string[]
  servers: Server[]
}

const tracked = new Set<Tracked>()
let exitHooksInstalled = false

function cleanupAllSync(): void {
  for (const t of tracked) {
    for (const proc of [t.watchdog, t.child]) {
      try {
        if (proc && !isExited(proc)) proc.kill('SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const server of t.servers) {
      try {
        server.close()
      } catch {
        // ignore
      }
    }
    for (const dir of t.dirs) {
      try {
        rmSync(dir, { recursive: true, force: true })
      } catch {
        // best effort
      }
    }
  }
  tracked.clear()
}

function installExitHooks(): void {
  if (exitHooksInstalled) return
  exitHooksInstalled = true
  process.on('exit', cleanupAllSync)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupAllSync()
      process.removeListener(signal, onSignal)
      // If nobody else handles the signal, re-raise it so the default action (termination) happens.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------------------

function yamlString(value: string): string {
  // JSON strings are valid YAML double-quoted scalars.
  return JSON.stringify(value)
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url')
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

function base32NoPad(data: Buffer): string {
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of data) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31]
  return out
}

/**
 * docker/libtrust key ID, which distribution 2.x uses (JWT header `kid`) to pick the signing key out of
 * `auth.token.rootcertbundle`: sha256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 (48 chars),
 * grouped by 4 with ':'.
 */
export function libtrustKeyId(spkiDer: Buffer): string {
  const b32 = base32NoPad(createHash('sha256').update(spkiDer).digest().subarray(0, 30))
  return b32.match(/.{4}/g)!.join(':')
}

async function run(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`)
  }
}

async function selfSignedCert(dir: string, name: string, cn: string, extraArgs: string[] = []) {
  const certFile = path.join(dir, `${name}.crt`)
  const keyFile = path.join(dir, `${name}.key`)
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    ...extraArgs,
  ])
  return { certFile, keyFile }
}

function isExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (isExited(child)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.removeListener('exit', onExit)
      resolve(false)
    }, timeoutMs)
    const onExit = (): void => {
      clearTimeout(timer)
      resolve(true)
    }
    child.once('exit', onExit)
  })
}

/**
 * A detached `sh` loop that SIGKILLs the registry and removes its temp dir should this (test) process die
 * without running its exit hooks (e.g. a worker killed with SIGKILL). It ends by itself once the registry
 * is gone and never touches anything while this process is alive; stop() kills it first.
 */
function startWatchdog(registryPid: number, dir: string): ChildProcess | undefined {
  const script = [
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done',
    'if ! kill -0 "$1" 2>/dev/null; then kill -9 "$2" 2>/dev/null; rm -rf "$3"; fi',
  ].join('\n')
  try {
    const dog = spawn(
      'sh',
      ['-c', script, 'airlock-registry-watchdog', String(process.pid), String(registryPid), dir],
      {
        detached: true,
        stdio: 'ignore',
      },
    )
    dog.on('error', () => {})
    dog.unref()
    return dog
  } catch {
    return undefined
  }
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || isExited(child)) return
  child.kill('SIGTERM')
  if (await waitForExit(child, STOP_GRACE_MS)) return
  child.kill('SIGKILL')
  await waitForExit(child, STOP_GRACE_MS)
}

// ---------------------------------------------------------------------------------------------------------
// Token server (mimics Harbor's /service/token)
// ---------------------------------------------------------------------------------------------------------

interface TokenServerHandle extends TokenServer {
  server: Server
  close(): Promise<void>
}

function parseScope(scope: string): TokenAccess | undefined {
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first <= 0 || last === first) return undefined
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '')
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

async function startTokenServer(opts: {
  privateKeyPem: string
  kid: string
  username: string
  password: string
  users?: Record<string, string>
  grant?: StartRegistryOptions['grant']
  tokenFault?: StartRegistryOptions['tokenFault']
}): Promise<TokenServerHandle> {
  const issued: IssuedToken[] = []
  const passwords: Record<string, string> = { ...opts.users, [opts.username]: opts.password }
  let requests = 0

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ) => {
    const bytes = Buffer.from(JSON.stringify(body))
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length, ...extra })
    res.end(bytes)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname !== TOKEN_PATH) return sendJson(res, 404, { errors: [{ code: 'NOT_FOUND' }] })
    const fault = req.headers[HARNESS_HEADER] === undefined ? opts.tokenFault?.(++requests) : undefined
    if (fault && 'status' in fault)
      return sendJson(res, fault.status, { errors: [{ code: 'FAULT' }] }, fault.headers)
    if (fault?.reset === 'before-headers') {
      req.socket.destroy()
      return
    }
    if (fault?.reset === 'mid-body') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '400' })
      res.write('{"token":"eyJ0eXAiOiJKV1Qi')
      setTimeout(() => res.destroy(), 20)
      return
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      return sendJson(res, 405, { errors: [{ code: 'UNSUPPORTED' }] })
    }

    let scopes = url.searchParams.getAll('scope')
    let service = url.searchParams.get('service') ?? undefined
    let user: string | undefined
    let pass: string | undefined

    const authz = req.headers.authorization
    if (authz?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      user = colon < 0 ? decoded : decoded.slice(0, colon)
      pass = colon < 0 ? '' : decoded.slice(colon + 1)
    }

    if (req.method === 'POST') {
      // OAuth2 password grant, as docker/distribution clients may use (scope is space-separated there).
      const form = new URLSearchParams(await readBody(req))
      if (form.get('grant_type') !== 'password') {
        return sendJson(res, 400, { errors: [{ code: 'UNSUPPORTED', message: 'only grant_type=password' }] })
      }
      user = form.get('username') ?? undefined
      pass = form.get('password') ?? ''
      service = form.get('service') ?? service
      scopes = form
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter((s) => s !== '')
    }

    if (service !== undefined && service !== TOKEN_SERVICE) {
      return sendJson(res, 400, { errors: [{ code: 'UNSUPPORTED', message: `unknown service ${service}` }] })
    }
    if (user !== undefined && (passwords[user] === undefined || pass !== passwords[user])) {
      return sendJson(
        res,
        401,
        { errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] },
        { 'WWW-Authenticate': 'Basic realm="harbor"' },
      )
    }

    // Anonymous clients get a syntactically valid token without any access (like Harbor/Docker Hub
    // for private repositories); authenticated clients get everything they ask for.
    const access = (user === undefined ? [] : scopes.map(parseScope).filter((a) => a !== undefined))
      .map((a) => (user !== undefined && opts.grant ? { ...a, actions: opts.grant(user, a) } : a))
      .filter((a) => a.actions.length > 0)
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: TOKEN_ISSUER,
      sub: user ?? '',
      aud: TOKEN_SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    }
    const signingInput = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: opts.kid }))}.${base64url(JSON.stringify(claims))}`
    const signature = sign('sha256', Buffer.from(signingInput), opts.privateKeyPem)
    const token = `${signingInput}.${base64url(signature)}`

    if (req.headers[HARNESS_HEADER] === undefined) {
      const entry: IssuedToken = { scope: scopes, access, method: req.method }
      if (user !== undefined) entry.user = user
      if (service !== undefined) entry.service = service
      issued.push(entry)
    }
    sendJson(res, 200, {
      token,
      access_token: token,
      expires_in: 300,
      issued_at: new Date(now * 1000).toISOString(),
    })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] })
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}${TOKEN_PATH}`,
    issued,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

// ---------------------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------------------

/** Response header carrying a per-instance id, so the readiness probe can't be fooled by another server. */
export const INSTANCE_HEADER = 'X-Airlock-Test-Registry'

function registryConfig(p: {
  addr: string
  instanceId: string
  rootDir: string
  auth: RegistryAuth
  htpasswdFile?: string
  token?: { realm: string; bundle: string }
  tls?: { certFile: string; keyFile: string }
}): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  formatter: text',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${yamlString(p.rootDir)}`,
    '  delete:',
    '    enabled: true',
    '  redirect:',
    '    disable: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${yamlString(p.addr)}`,
    `  secret: ${yamlString(randomBytes(16).toString('hex'))}`,
    '  headers:',
    `    ${INSTANCE_HEADER}: [${yamlString(p.instanceId)}]`,
  ]
  if (p.tls) {
    lines.push(
      '  tls:',
      `    certificate: ${yamlString(p.tls.certFile)}`,
      `    key: ${yamlString(p.tls.keyFile)}`,
    )
  }
  lines.push('health:', '  storagedriver:', '    enabled: false')
  if (p.auth === 'htpasswd') {
    lines.push('auth:', '  htpasswd:', '    realm: test-registry', `    path: ${yamlString(p.htpasswdFile!)}`)
  } else if (p.auth === 'token') {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${yamlString(p.token!.realm)}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${yamlString(p.token!.bundle)}`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** Environment for the registry: inherited, minus REGISTRY_* overrides that could change its config. */
function registryEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v
  return env
}

async function waitForRegistry(p: {
  child: ChildProcess
  url: string
  ca: string | undefined
  instanceId: string
  logs: () => string
  cancelled: () => boolean
}): Promise<void> {
  const { child, url, ca, logs } = p
  const deadline = Date.now() + START_TIMEOUT_MS
  let lastError = 'no attempt'
  while (Date.now() < deadline && !p.cancelled()) {
    if (isExited(child)) {
      throw new Error(
        `${path.basename(String(child.spawnfile))} exited during startup (code ${child.exitCode}, signal ${child.signalCode}):\n${logs()}`,
      )
    }
    try {
      const res = await httpRequest(`${url}/v2/`, { ca, timeoutMs: 2_000 })
      const id = header(res, INSTANCE_HEADER)
      if ((res.status === 200 || res.status === 401) && id === p.instanceId) return
      lastError = `GET /v2/ answered ${res.status} (instance header ${id ?? 'missing'})`
    } catch (err) {
      lastError = (err as Error).message
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(
    `${path.basename(String(child.spawnfile))} did not answer GET ${url}/v2/ within ${START_TIMEOUT_MS} ms (last: ${lastError}):\n${logs()}`,
  )
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  installExitHooks()
  const auth = opts.auth ?? 'none'
  const tls = opts.tls ?? false
  const binary = opts.binary ?? REGISTRY_BIN
  const username = auth === 'none' ? undefined : (opts.username ?? 'testuser')
  const password = auth === 'none' ? undefined : (opts.password ?? 'testpass')

  const baseDir = await mkdtemp(path.join(tmpdir(), 'airlock-registry-'))
  const entry: Tracked = { dirs: [baseDir], servers: [] }
  tracked.add(entry)

  let tokenServer: TokenServerHandle | undefined
  let child: ChildProcess | undefined
  let output = ''
  const logs = () => output

  const cleanup = async (): Promise<void> => {
    if (entry.watchdog && !isExited(entry.watchdog)) entry.watchdog.kill('SIGKILL')
    if (child) await killProcess(child)
    if (tokenServer) await tokenServer.close()
    await rm(baseDir, { recursive: true, force: true, maxRetries: 3 })
    tracked.delete(entry)
  }

  try {
    const rootDir = path.join(baseDir, 'storage')
    const confDir = path.join(baseDir, 'conf')
    await mkdir(rootDir)
    await mkdir(confDir)

    let htpasswdFile: string | undefined
    let token: { realm: string; bundle: string } | undefined
    let tlsFiles: { certFile: string; keyFile: string } | undefined
    let certDir: string | undefined

    if (auth === 'htpasswd') {
      // distribution only accepts bcrypt entries.
      const line = (await run('htpasswd', ['-Bbn', username!, password!])).trim()
      htpasswdFile = path.join(confDir, 'htpasswd')
      await writeFile(htpasswdFile, `${line}\n`)
    } else if (auth === 'token') {
      const { certFile, keyFile } = await selfSignedCert(confDir, 'token-signer', TOKEN_ISSUER)
      const cert = new X509Certificate(await readFile(certFile))
      const kid = libtrustKeyId(cert.publicKey.export({ type: 'spki', format: 'der' }))
      tokenServer = await startTokenServer({
        privateKeyPem: await readFile(keyFile, 'utf8'),
        kid,
        username: username!,
        password: password!,
        users: opts.users,
        grant: opts.grant,
        tokenFault: opts.tokenFault,
      })
      entry.servers.push(tokenServer.server)
      token = { realm: tokenServer.url, bundle: certFile }
    }

    if (tls) {
      tlsFiles = await selfSignedCert(confDir, 'tls', '127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1'])
      certDir = path.join(baseDir, 'certs')
      await mkdir(certDir)
      await writeFile(path.join(certDir, 'ca.crt'), await readFile(tlsFiles.certFile))
    }
    const caFile = certDir ? path.join(certDir, 'ca.crt') : undefined
    const ca = caFile ? await readFile(caFile, 'utf8') : undefined

    // freePort() can race with other processes grabbing the port; retry a few times on EADDRINUSE.
    let host = ''
    let url = ''
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      host = `127.0.0.1:${port}`
      url = `${tls ? 'https' : 'http'}://${host}`
      const configFile = path.join(confDir, 'config.yml')
      const instanceId = randomUUID()
      await writeFile(
        configFile,
        registryConfig({ addr: host, instanceId, rootDir, auth, htpasswdFile, token, tls: tlsFiles }),
      )
      output = ''
      const proc = spawn(binary, ['serve', configFile], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: registryEnv(),
      })
      child = proc
      entry.child = proc
      if (proc.pid !== undefined) entry.watchdog = startWatchdog(proc.pid, baseDir)
      const append = (chunk: Buffer) => {
        output += chunk.toString('utf8')
        if (output.length > MAX_LOG) output = output.slice(-MAX_LOG)
      }
      proc.stdout?.on('data', append)
      proc.stderr?.on('data', append)
      let spawnFailed = false
      const spawnError = new Promise<never>((_, reject) => {
        proc.once('error', (err) => {
          spawnFailed = true
          reject(new Error(`cannot run ${binary}: ${err.message}`))
        })
      })
      spawnError.catch(() => {})
      try {
        await Promise.race([
          waitForRegistry({ child: proc, url, ca, instanceId, logs, cancelled: () => spawnFailed }),
          spawnError,
        ])
        break
      } catch (err) {
        entry.watchdog?.kill('SIGKILL')
        await killProcess(proc)
        if (attempt < 3 && /address already in use/i.test(output)) continue
        throw err
      }
    }

    let stopped: Promise<void> | undefined
    const registry: TestRegistry = {
      host,
      url,
      rootDir,
      auth,
      tls,
      blobPath(digest: string): string {
        const m = /^sha256:([a-f0-9]{64})$/.exec(digest)
        if (!m) throw new Error(`blobPath: not a sha256 digest: ${digest}`)
        const hex = m[1]!
        return path.join(rootDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')
      },
      logs,
      stop(): Promise<void> {
        stopped ??= cleanup()
        return stopped
      },
    }
    if (username !== undefined) registry.username = username
    if (password !== undefined) registry.password = password
    if (tokenServer) registry.tokenServer = { url: tokenServer.url, issued: tokenServer.issued }
    if (caFile) registry.caFile = caFile
    if (certDir) registry.certDir = certDir
    return registry
  } catch (err) {
    await cleanup()
    throw err
  }
}

// ---------------------------------------------------------------------------------------------------------
// Authenticated raw requests (used by images.ts; independent of the code under test)
// ---------------------------------------------------------------------------------------------------------

export interface Credentials {
  username: string
  password: string
}

function basic(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
}

function registryCredentials(reg: TestRegistry, override?: Credentials): Credentials | undefined {
  if (override) return override
  if (reg.username !== undefined && reg.password !== undefined) {
    return { username: reg.username, password: reg.password }
  }
  return undefined
}

/**
 * The Authorization header value the harness uses for `scopes` on this registry: none, Basic, or a
 * Bearer token fetched from the token server (not logged in `tokenServer.issued`). Throws if the token
 * server refuses the credentials.
 */
export async function getAuthHeader(
  reg: TestRegistry,
  scopes: string[],
  creds?: Credentials,
): Promise<string | undefined> {
  const c = registryCredentials(reg, creds)
  if (reg.auth === 'none') return undefined
  if (reg.auth === 'htpasswd') return c ? basic(c) : undefined
  const url = new URL(reg.tokenServer!.url)
  url.searchParams.set('service', TOKEN_SERVICE)
  for (const s of scopes) url.searchParams.append('scope', s)
  const headers: Record<string, string> = { [HARNESS_HEADER]: '1' }
  if (c) headers.Authorization = basic(c)
  const res = await httpRequest(url, { headers })
  if (res.status !== 200) {
    throw new Error(`token server answered ${res.status} for ${url.href}: ${res.body.toString('utf8')}`)
  }
  const body = JSON.parse(res.body.toString('utf8')) as { token: string }
  return `Bearer ${body.token}`
}

export interface RegistryRequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: Buffer | string
  /** Token scopes to request (token variant only). */
  scopes?: string[]
  /** Use these credentials instead of the registry's own. */
  creds?: Credentials
  /** Skip authentication entirely. */
  anonymous?: boolean
  /** Use this Authorization header value (e.g. from getAuthHeader) instead of fetching one. */
  authorization?: string
}

/** A request to `reg.url + pathOrUrl` (absolute URLs are used as-is), authenticated as the variant needs. */
export async function registryRequest(
  reg: TestRegistry,
  pathOrUrl: string,
  opts: RegistryRequestOptions = {},
) {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.authorization !== undefined) {
    headers.Authorization = opts.authorization
  } else if (!opts.anonymous) {
    const authz = await getAuthHeader(reg, opts.scopes ?? [], opts.creds)
    if (authz !== undefined) headers.Authorization = authz
  }
  const ca = reg.caFile ? await readFile(reg.caFile, 'utf8') : undefined
  return httpRequest(new URL(pathOrUrl, reg.url), { method: opts.method, headers, body: opts.body, ca })
}

export { header }
