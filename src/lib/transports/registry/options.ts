/**
 * Options for talking to registries, shared by every registry request of one side of a copy.
 */
export interface Credentials {
  username: string
  password: string
}

export interface RegistryOptions {
  /** Explicit credentials (`--creds user:pass`); they win over auth files. */
  creds?: Credentials
  /**
   * The flag that gives this side's credentials, for hints (`--dest-creds` on copy); default
   * `--creds`. Where there is no such flag, what to set instead (words not starting with `--`).
   */
  credsFlag?: string
  /** Auth file to read (and for login, write) instead of the usual locations (`--authfile`). */
  authfile?: string
  /**
   * Verify TLS certificates (default true). false also allows plain HTTP, as skopeo's
   * `--tls-verify=false` does. Loopback registries (127.0.0.0/8, ::1, localhost) may always fall
   * back to plain HTTP, as Docker allows.
   */
  tlsVerify?: boolean
  /** Per-registry TLS overrides from config files: host -> verify. */
  insecureRegistries?: string[]
  /**
   * Roots of per-host certificate directories, `<root>/<host[:port]>/{*.crt,*.cert,*.key}`
   * (containers-certs.d(5)); default $HOME/.config/containers/certs.d, /etc/containers/certs.d,
   * /etc/docker/certs.d. The first host directory that exists is used.
   */
  certDirs?: string[]
  /**
   * `--cert-dir DIR`: DIR itself holds `*.crt` (CAs), `*.cert` + `*.key` (client certificate) for
   * every host of this side, replacing the per-host search, as skopeo's --cert-dir does.
   */
  certDir?: string
  /**
   * Attempts after the first for a request that failed in a retryable way (5xx, 429, connection
   * broken before or inside the body): `--retry-times`. Default 3. See src/lib/http/retry.ts.
   */
  retries?: number
  /** Base backoff in ms (doubles each attempt, with jitter). Default 250. */
  backoffMs?: number
  /** Upper bound on a Retry-After wait, in seconds. Default 60. */
  maxRetryAfterSeconds?: number
  /** Chunk size for chunked uploads; 0 (default) streams each blob in one PATCH. */
  chunkSize?: number
  /** Environment used for auth file discovery (defaults to process.env). */
  env?: NodeJS.ProcessEnv
  /**
   * Request observer (tests and benchmarks count requests with it; the mirror reports Docker Hub's
   * `RateLimit-Remaining` header from it).
   */
  onRequest?: (info: {
    method: string
    host: string
    path: string
    status: number
    rateLimitRemaining?: string
  }) => void
  /**
   * Called before each request is sent; resolves when it may go and returns a release function,
   * called when the response headers arrive or the request fails (per-registry request rate and
   * concurrency of mirror runs).
   */
  throttle?: (host: string, signal?: AbortSignal) => Promise<() => void>
}
