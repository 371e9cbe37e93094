/**
 * The engine library: local podman and Docker images for `airlock pull/tag/push` and friends. No
 * printing, no oclif; failures are AirlockErrors.
 */

export { type DetectOptions, detectEngine, findExecutable } from './detect-engine.js'
export { DEFAULT_DOCKER_SOCKET, type DockerEndpoint, dockerEndpoint, pingDocker } from './docker-api.js'
export {
  type EngineName,
  engineTransportRef,
  isShortName,
  type LocalImage,
  type LocalImageQuery,
  type LocalLookup,
  parseLocalImageQuery,
} from './local-image.js'
export { engineLabel, listLocalImages, lookupLocalImage, resolveLocalImage } from './resolve-image.js'
export { type TagLocalResult, tagLocalImage } from './tag-image.js'
