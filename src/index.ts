/**
 * airlock as a library: `import { parseReference, copyImage } from 'airlock'`.
 * Nothing here prints or exits; failures are AirlockErrors with a stable `code`.
 */
export { findCredentials } from './lib/auth/auth-files.js'
export { type CreateBundleOptions, createBundle } from './lib/bundle/create-bundle.js'
export { type BundleListing, listBundle } from './lib/bundle/list-bundle.js'
export { type LoadBundleResult, loadBundle } from './lib/bundle/load-bundle.js'
export { type PushBundleOptions, type PushBundleReport, pushBundle } from './lib/bundle/push-bundle.js'
export type { BundleCreateReport, BundleImageReport } from './lib/bundle/types.js'
export { type VerifyReport, verifyBundle } from './lib/bundle/verify-bundle.js'
export { type AirlockConfig, loadConfig } from './lib/config/config.js'
export { type CopyOptions, type CopyResult, copyImage } from './lib/copy/copy-image.js'
export type { CopyEvent, CopyEventHandler } from './lib/copy/events.js'
export { sha256Digest } from './lib/digest.js'
export { type DoctorOptions, type DoctorReport, runDoctor } from './lib/doctor/run-doctor.js'
export {
  detectEngine,
  type EngineName,
  type LocalImage,
  listLocalImages,
  resolveLocalImage,
  tagLocalImage,
} from './lib/engine/index.js'
export { type LoadResult, loadArchive } from './lib/engine-flows/load.js'
export type { EngineFlowOptions, Notice } from './lib/engine-flows/options.js'
export { type PullResult, pullImage } from './lib/engine-flows/pull.js'
export { type PushResult, pushImage } from './lib/engine-flows/push.js'
export { type SaveResult, saveImage } from './lib/engine-flows/save.js'
export { type TagAnywhereResult, tagAnywhere } from './lib/engine-flows/tag.js'
export { AirlockError, type ErrorCode, EXIT, exitCodeFor, isAirlockError } from './lib/errors.js'
export { HarborClient, type HarborClientOptions } from './lib/harbor/client.js'
export { harborDestination, projectName } from './lib/harbor/project-name.js'
export { type InspectResult, inspectImage, readRawManifest } from './lib/inspect.js'
export { type Descriptor, MEDIA, type Platform, parseManifest, parsePlatform } from './lib/manifest.js'
export { type MirrorOptions, runMirror } from './lib/mirror/run-mirror.js'
export { loadMirrorSpec, parseMirrorSpec } from './lib/mirror/spec.js'
export type { ImageReport, MirrorReport, MirrorSpec } from './lib/mirror/types.js'
export { type DownloadOptions, type DownloadResult, downloadObject } from './lib/objectstore/download.js'
export { parseDuration, presignGet } from './lib/objectstore/presign.js'
export { connectS3, type S3ConnectionOptions } from './lib/objectstore/s3-client.js'
export { parseS3Url } from './lib/objectstore/s3-url.js'
export { type UploadOptions, type UploadResult, uploadFile } from './lib/objectstore/upload.js'
export {
  type ImageRef,
  isValidDigest,
  isValidTag,
  parseDockerRef,
  parseReference,
  registryHost,
  withDigest,
  withTag,
} from './lib/reference.js'
export { listTags, login, logout, tagImage } from './lib/registry-ops.js'
export { parseImageReference, transportNames } from './lib/transports/index.js'
export { closeAgents } from './lib/transports/registry/agent-pool.js'
export { RegistryClient } from './lib/transports/registry/client.js'
export type { Credentials, RegistryOptions } from './lib/transports/registry/options.js'
export type {
  EngineOptions,
  ImageDestination,
  ImageReference,
  ImageSource,
  Transport,
} from './lib/transports/transport.js'
