/**
 * airlock's own config file (YAML): site defaults so users need not repeat flags.
 *
 *   harbor:
 *     host: harbor.example.org
 *     project: mygroup          # a group name; capitals are lowercased
 *   engine: podman              # or docker
 *   podman: { root: ..., runroot: ..., storageDriver: vfs }
 *   dockerHost: unix:///run/user/1000/docker.sock
 *   quota: { limit: 50G, nodes: [login1, login2], warn: 80, fail: 95 }
 *
 * Found at --config, else $AIRLOCK_CONFIG, else $XDG_CONFIG_HOME/airlock/config.yaml
 * (~/.config/airlock/config.yaml), else /etc/airlock/config.yaml. The first that exists is used.
 * Flags win over the file.
 */
import { access } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { AirlockError } from '../errors.js'
import { loadYamlFile } from './yaml-file.js'

export const ConfigSchema = z
  .object({
    harbor: z
      .object({
        host: z.string().min(1),
        project: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    engine: z.enum(['podman', 'docker']).optional(),
    podman: z
      .object({
        root: z.string().min(1).optional(),
        runroot: z.string().min(1).optional(),
        storageDriver: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    dockerHost: z.string().min(1).optional(),
    /** `airlock quota` and the preflight checks (src/lib/quota). */
    quota: z
      .object({
        /** Limit on podman's image storage when no quota tool reports one: bytes, or `50G` (binary units). */
        limit: z
          .union([
            z.number().int().nonnegative(),
            z.string().regex(/^\s*\d+(\.\d+)?\s*[KMGTPE]?(i?B)?\s*$/i, 'expected a size such as 50G or 512M'),
          ])
          .optional(),
        /** Nodes to probe over ssh (ssh names, as in ~/.ssh/config). */
        nodes: z.array(z.string().min(1)).optional(),
        /** How to reach the nodes over ssh (src/lib/quota/ssh-runner.ts). */
        ssh: z
          .object({
            /** ssh -F FILE instead of ~/.ssh/config. */
            configFile: z.string().min(1).optional(),
            identityFile: z.string().min(1).optional(),
            user: z.string().min(1).optional(),
            port: z.number().int().min(1).max(65535).optional(),
            /** Seconds (default 5). */
            connectTimeout: z.number().int().min(1).max(300).optional(),
            strictHostKeyChecking: z.enum(['yes', 'accept-new', 'no']).optional(),
            /** More `-o` options for ssh, e.g. `ProxyJump=gateway`. */
            options: z.array(z.string().min(1)).optional(),
          })
          .strict()
          .optional(),
        /** Percent of the limit at which `airlock quota` warns (default 80). */
        warn: z.number().min(0).max(100).optional(),
        /** Percent of the limit at which `airlock quota` fails with exit 4 (default 95). */
        fail: z.number().min(0).max(100).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

export type AirlockConfig = z.infer<typeof ConfigSchema> & { file?: string }

export function configCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return [join(xdg, 'airlock', 'config.yaml'), '/etc/airlock/config.yaml']
}

/** The config in effect; `{}` when there is none. An explicit file that is missing is an error. */
export async function loadConfig(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AirlockConfig> {
  const given = explicit ?? env.AIRLOCK_CONFIG
  if (given) {
    const cfg = await loadYamlFile(given, ConfigSchema, 'airlock config').catch((err) => {
      if (
        err instanceof AirlockError &&
        (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
      ) {
        throw new AirlockError('INVALID_INPUT', err.message, {
          hint: explicit ? 'check the --config path' : 'AIRLOCK_CONFIG names a file that does not exist',
        })
      }
      throw err
    })
    return { ...cfg, file: given }
  }
  for (const file of configCandidates(env)) {
    if (
      await access(file).then(
        () => true,
        () => false,
      )
    )
      return { ...(await loadYamlFile(file, ConfigSchema, 'airlock config')), file }
  }
  return {}
}
