/**
 * Docker credential helpers (`docker-credential-<name> get`), the protocol of
 * docker/docker-credential-helpers: the server URL on stdin, `{"Username","Secret"}` on stdout.
 * A helper's error text is passed on, but never the secret.
 */
import { AirlockError } from '../errors.js'
import { run } from '../exec.js'
import type { Credentials } from '../transports/registry/options.js'

export async function runHelper(
  name: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`
  const res = await run(program, ['get'], { input: serverUrl, env, reject: false })
  if (res.notFound) {
    throw new AirlockError('EXEC_FAILED', `credential helper ${program} is configured but not installed`, {
      hint: 'install the helper, or remove it from credHelpers/credsStore in ~/.docker/config.json',
    })
  }
  if (res.exitCode !== 0) {
    const text = `${res.stdout} ${res.stderr}`
    if (/credentials not found/i.test(text)) return undefined
    throw new AirlockError(
      'EXEC_FAILED',
      `credential helper ${program} failed for ${serverUrl}: ${res.stderr.trim() || res.stdout.trim()}`,
    )
  }
  let doc: { Username?: string; Secret?: string }
  try {
    doc = JSON.parse(res.stdout)
  } catch {
    throw new AirlockError('EXEC_FAILED', `credential helper ${program} printed something that is not JSON`)
  }
  if (!doc.Secret) return undefined
  // "<token>" as username marks an identity token; registries take it as a password for user "<token>".
  return { username: doc.Username ?? '', password: doc.Secret }
}
