/**
 * The `docker-daemon:` transport: images in a Docker Engine (or `podman system service`), through
 * the Docker Engine API with dockerode. Where: EngineOptions.dockerHost, else DOCKER_HOST
 * (`unix://…`, `tcp://…`), else /var/run/docker.sock.
 *
 * `docker-daemon:REF` where REF is a name (`alpine` means `docker.io/library/alpine:latest`),
 * `name@digest`, or an image ID (full, a unique prefix, `sha256:…`).
 *
 * Reading spools `GET /images/{id}/get` (docker save) to a temporary file and reads it as a
 * docker-archive (the legacy layout, or Docker 25's OCI-style one); writing builds a docker-archive
 * in a temporary file and sends it to `POST /images/load` in commit, then tags the image when the
 * load did not name it. Engines keep configs and layers, not manifests: the config digest and diff
 * IDs survive, manifest digests do not.
 */

import { type LocalImageQuery, parseLocalImageQuery } from '../../engine/local-image.js'
import { AirlockError } from '../../errors.js'
import type {
  ImageDestination,
  ImageReference,
  ImageSource,
  Transport,
  TransportContext,
} from '../transport.js'
import { openDockerDestination } from './destination.js'
import { openDockerSource } from './source.js'

export class DockerDaemonReference implements ImageReference {
  readonly transport: Transport = dockerDaemonTransport

  constructor(
    readonly within: string,
    readonly query: LocalImageQuery,
  ) {}

  toString(): string {
    return `docker-daemon:${this.within}`
  }

  newSource(ctx: TransportContext = {}): Promise<ImageSource> {
    return openDockerSource(this, ctx)
  }

  newDestination(ctx: TransportContext = {}): Promise<ImageDestination> {
    return openDockerDestination(this, ctx)
  }
}

export const dockerDaemonTransport: Transport = {
  name: 'docker-daemon',
  parse(within: string): ImageReference {
    if (!within.trim()) {
      throw new AirlockError('INVALID_REFERENCE', 'docker-daemon: names no image', {
        hint: 'use docker-daemon:NAME[:TAG], docker-daemon:NAME@DIGEST or docker-daemon:IMAGE-ID',
      })
    }
    return new DockerDaemonReference(within, parseLocalImageQuery(within))
  },
}
