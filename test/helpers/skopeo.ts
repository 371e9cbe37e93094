import { execFile } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestRegistry } from './registry.js'

export interface SkopeoResult {
  /** Exit code; -1 when skopeo was killed (timeout or signal; the reason is appended to stderr). */
  code: number
  /** stdout as UTF-8 text (manifests are ASCII JSON). */
  stdout: string
  /** stdout as raw bytes, for byte-exact comparisons. */
  stdoutBytes: Buffer
  stderr: string
}

// A non-existent auth location, so a developer's ~/.docker/config.json or auth.json never leaks in
// (skopeo treats a missing auth file as empty; inspect never writes it).
const isolatedHome = path.join(tmpdir(), `airlock-skopeo-no-auth-${process.pid}`)

/**
 * Run skopeo (the independent reference implementation). Resolves with the exit code and output, also
 * when skopeo fails; rejects only if skopeo cannot be run at all.
 */
export function skopeo(args: string[], opts: { timeoutMs?: number } = {}): Promise<SkopeoResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'skopeo',
      args,
      {
        encoding: 'buffer',
        maxBuffer: 64 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 60_000,
        env: {
          ...process.env,
          REGISTRY_AUTH_FILE: path.join(isolatedHome, 'auth.json'),
          DOCKER_CONFIG: isolatedHome,
        },
      },
      (err, stdout, stderr) => {
        const e = err as
          | (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string })
          | null
        if (e && typeof e.code === 'string') {
          reject(new Error(`cannot run skopeo: ${e.message}`))
          return
        }
        let errText = stderr.toString('utf8')
        let code = 0
        if (e) {
          code = typeof e.code === 'number' ? e.code : -1
          if (code === -1)
            errText += `\n[skopeo killed: ${e.signal ?? 'unknown signal'}${e.killed ? ' (timeout)' : ''}]`
        }
        resolve({ code, stdout: stdout.toString('utf8'), stdoutBytes: stdout, stderr: errText })
      },
    )
  })
}

/**
 * skopeo flags to reach `reg` for a docker:// reference: TLS (verified via the registry's CA when it
 * serves HTTPS, otherwise --tls-verify=false) and credentials (--creds, or --no-creds when anonymous).
 */
export function skopeoRegistryFlags(reg: TestRegistry, opts: { anonymous?: boolean } = {}): string[] {
  const flags = reg.certDir ? ['--cert-dir', reg.certDir, '--tls-verify=true'] : ['--tls-verify=false']
  if (!opts.anonymous && reg.username !== undefined && reg.password !== undefined) {
    flags.push('--creds', `${reg.username}:${reg.password}`)
  } else {
    flags.push('--no-creds')
  }
  return flags
}
