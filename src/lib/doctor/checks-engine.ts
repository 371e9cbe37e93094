/**
 * The local engines of `pull`, `push`, `tag`, `save` and `load`: podman on PATH, the Docker Engine
 * API where `--docker-host` / config `dockerHost` / `DOCKER_HOST` / /var/run/docker.sock point, and
 * which of them airlock would pick (detectEngine itself, so the answer is the commands' answer).
 */

import { detectEngine } from '../engine/detect-engine.js'
import { unreachableHint } from '../engine/docker-api.js'
import { dockerEndpoint } from '../engine/index.js'
import { podmanName } from './checks-basic.js'
import { type DockerProbe, type DoctorContext, dockerTrouble, reason } from './context.js'
import type { CapabilityReport, DoctorCheck } from './types.js'

function dockerFix(ctx: DoctorContext, probe: DockerProbe): string {
  if (!probe.address)
    return probe.error?.hint ?? 'set DOCKER_HOST to unix:///PATH/docker.sock or tcp://HOST:PORT'
  try {
    return unreachableHint(dockerEndpoint(ctx.engineOptions))
  } catch {
    return 'set DOCKER_HOST to unix:///PATH/docker.sock or tcp://HOST:PORT'
  }
}

export async function checkEngine(ctx: DoctorContext): Promise<CapabilityReport> {
  const name = podmanName(ctx)
  const [podman, docker, picked] = await Promise.all([
    ctx.tool(name),
    ctx.docker(),
    detectEngine({ ...ctx.engineOptions, engine: ctx.engine }).then(
      (engine) => ({ engine, error: undefined }),
      (error: unknown) => ({ engine: undefined, error }),
    ),
  ])
  const podmanCheck: DoctorCheck = podman.path
    ? {
        name: 'podman',
        status: podman.version ? 'ok' : 'warn',
        optional: ctx.engine !== 'podman',
        found: podman.path,
        ...(podman.version
          ? { version: podman.version }
          : {
              detail: `${podman.path} --version printed no version within ${ctx.timeoutMs} ms`,
              fix: `run ${podman.path} --version to see what is wrong`,
            }),
      }
    : {
        name: 'podman',
        status: 'missing',
        optional: ctx.engine !== 'podman',
        detail: `${name} is not on PATH`,
        fix: 'apt-get install podman',
      }
  const dockerCheck: DoctorCheck = docker.reachable
    ? {
        name: 'Docker Engine API',
        status: 'ok',
        optional: ctx.engine !== 'docker',
        found: docker.address,
        ...(docker.version ? { version: docker.version } : {}),
        detail: `answers /_ping (address from ${docker.source})`,
      }
    : {
        name: 'Docker Engine API',
        status: 'missing',
        optional: ctx.engine !== 'docker',
        ...(docker.address ? { found: docker.address } : {}),
        detail: `${dockerTrouble(docker)}; address from ${docker.source}`,
        fix: dockerFix(ctx, docker),
      }

  // What the commands would do: detectEngine's choice, and whether that engine works.
  let usable: boolean
  let summary: string
  let pickedCheck: DoctorCheck
  const asked = ctx.engine ? ` (asked for with ${ctx.engineSource})` : ''
  if (picked.engine === 'podman') {
    usable = true
    summary = `podman${podman.version ? ` ${podman.version}` : ''}${asked || ' (found first)'}`
    pickedCheck = {
      name: 'engine used',
      status: 'ok',
      found: 'podman',
      detail: `podman${asked || ' is on PATH, so it comes first'}`,
    }
  } else if (picked.engine === 'docker') {
    usable = docker.reachable
    summary = docker.reachable
      ? `the Docker Engine API at ${docker.address}${asked}`
      : `the Docker Engine API at ${docker.address ?? '?'} would be used, but it does not answer`
    pickedCheck = docker.reachable
      ? {
          name: 'engine used',
          status: 'ok',
          found: 'docker',
          detail: `Docker Engine API at ${docker.address}${asked}`,
        }
      : {
          name: 'engine used',
          status: 'missing',
          found: 'docker',
          detail: `docker is picked (${ctx.engine === 'docker' ? 'asked for' : `podman is not on PATH and the address comes from ${docker.source}`}), but the API does not answer`,
          fix: dockerFix(ctx, docker),
        }
  } else {
    usable = false
    const err = picked.error as { message?: string; hint?: string }
    summary = ctx.engine
      ? `${ctx.engine} is asked for with ${ctx.engineSource}, but it is not usable`
      : 'no engine: pull, push, tag, save and load cannot run'
    pickedCheck = {
      name: 'engine used',
      status: 'missing',
      detail: reason(picked.error),
      fix: err?.hint ?? 'apt-get install podman',
    }
  }
  return {
    name: 'engine',
    commands: 'pull, push, tag (local images), save, load',
    usable,
    summary,
    checks: [pickedCheck, podmanCheck, dockerCheck],
  }
}
