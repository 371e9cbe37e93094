/**
 * A real S3 server for tests: Ceph RADOS Gateway (Debian packages ceph-mon ceph-osd radosgw ceph-common)
 * started by the project's own scripts/s3/start-rgw.sh on a free 127.0.0.1 port, with all state in a
 * temp dir, and stopped by PID with scripts/s3/stop-rgw.sh. One RGW per test file (start in beforeAll).
 *
 * What Ceph 16 RGW does and does not do (flexible checksums ignored, HTTP 411 on the SDK's default
 * streaming checksums, ...) is noted in docs/upload.md.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { freePort } from './ports.js'

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/s3')
const START = path.join(SCRIPTS, 'start-rgw.sh')
const STOP = path.join(SCRIPTS, 'stop-rgw.sh')

export interface TestS3 {
  /** `http://127.0.0.1:PORT` */
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  /** AWS_* env for the CLI: AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION */
  env: NodeJS.ProcessEnv
  /** A client independent of the code under test: path-style, checksums only WHEN_REQUIRED. */
  client(): S3Client
  createBucket(name: string): Promise<void>
  /** The state directory (logs in `dir/log/`). */
  dir: string
  stop(): Promise<void>
}

// The SDK's notice that Node 20 support ends: noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const running = new Set<string>()
let hooksInstalled = false

function stopSync(dir: string): void {
  try {
    execFileSync(STOP, [dir, '--purge'], { stdio: 'ignore', timeout: 30_000 })
  } catch {
    // best effort
  }
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch {
    // best effort
  }
}

function installExitHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', () => {
    for (const dir of running) stopSync(dir)
    running.clear()
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const dir of running) stopSync(dir)
      running.clear()
      process.removeListener(signal, onSignal)
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}

/**
 * The Ceph daemons run in their own sessions (setsid), so they would outlive a test worker killed with
 * SIGKILL. This detached loop stops them (by PID, through stop-rgw.sh) once this process is gone.
 */
function startWatchdog(dir: string): void {
  const script =
    'while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done; [ -d "$3" ] && "$2" "$3" --purge'
  try {
    const dog = spawn('sh', ['-c', script, 'airlock-rgw-watchdog', String(process.pid), STOP, dir], {
      detached: true,
      stdio: 'ignore',
    })
    dog.on('error', () => {})
    dog.unref()
  } catch {
    // no watchdog: the exit hooks still run on a normal exit
  }
}

function runScript(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(START, args, { env, timeout: 180_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }))
      else resolve({ stdout, stderr })
    })
  })
}

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (m) out[m[1]!] = m[2]!
  }
  return out
}

export interface StartS3Options {
  /** memstore (default, data in RAM) or bluestore. */
  objectStore?: 'memstore' | 'bluestore'
}

export async function startS3(opts: StartS3Options = {}): Promise<TestS3> {
  installExitHooks()
  // Admin socket paths must stay short (start-rgw.sh refuses DIR longer than 70 characters).
  const base = tmpdir().length <= 40 ? tmpdir() : '/tmp'
  const dir = await mkdtemp(path.join(base, 'airlock-s3-'))
  running.add(dir)
  startWatchdog(dir)
  const env: NodeJS.ProcessEnv = { ...process.env, RGW_OBJECTSTORE: opts.objectStore ?? 'memstore' }
  delete env.RGW_MON_PORT
  delete env.RGW_ACCESS_KEY
  delete env.RGW_SECRET_KEY

  let lastError: unknown
  let started = false
  for (let attempt = 1; attempt <= 3 && !started; attempt++) {
    const port = await freePort()
    try {
      await runScript([dir, String(port)], env)
      started = true
    } catch (err) {
      lastError = err
      const e = err as { stderr?: string }
      // The port may have been taken between freePort() and the daemon's bind: try another one.
      if (!/in use|did not answer/.test(e.stderr ?? '')) break
    }
  }
  if (!started) {
    stopSync(dir)
    running.delete(dir)
    const e = lastError as { message?: string; stderr?: string }
    throw new Error(`start-rgw.sh failed: ${e?.message ?? String(lastError)}\n${e?.stderr ?? ''}`)
  }

  const vars = parseEnvFile(await readFile(path.join(dir, 's3.env'), 'utf8'))
  const endpoint = vars.S3_ENDPOINT!
  const accessKeyId = vars.AWS_ACCESS_KEY_ID!
  const secretAccessKey = vars.AWS_SECRET_ACCESS_KEY!
  const region = 'us-east-1'

  const clients: S3Client[] = []
  const client = (): S3Client => {
    const c = new S3Client({
      endpoint,
      region,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      // Ceph 16 answers the SDK's default streaming checksums with HTTP 411 (see docs/upload.md).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    })
    clients.push(c)
    return c
  }

  let stopped: Promise<void> | undefined
  return {
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    dir,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: region,
    },
    client,
    async createBucket(name: string): Promise<void> {
      const c = client()
      await c.send(new CreateBucketCommand({ Bucket: name }))
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        for (const c of clients) c.destroy()
        await new Promise<void>((resolve) => {
          execFile(STOP, [dir, '--purge'], { timeout: 60_000 }, () => resolve())
        })
        await rm(dir, { recursive: true, force: true, maxRetries: 3 })
        running.delete(dir)
      })()
      return stopped
    },
  }
}
