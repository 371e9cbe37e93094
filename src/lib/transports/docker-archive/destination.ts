/**
 * Writing one image as a `docker save`-format archive (Docker Image Specification v1.2, "Combined
 * Image JSON + Filesystem Changeset Format"), as containers/image writes it so that `docker load`,
 * `podman load` and `apptainer build x.sif docker-archive://x.tar` read it:
 *
 *   <hex>.tar       each layer blob as it came (compressed layers stay compressed, as skopeo keeps them)
 *   <hex>.json      the image config
 *   repositories    {"<name>": {"<tag>": "<top layer id>"}} when the reference has a tag (legacy readers)
 *   manifest.json   [{"Config": "<hex>.json", "RepoTags": ["<name>:<tag>"], "Layers": ["<hex>.tar", ...]}]
 *
 * manifest.json is written last. No manifest bytes are stored, so digests of manifests are not
 * preserved (capabilities.preservesDigests false); config and layer digests are.
 */
import type { Readable } from 'node:stream'
import { sha256Digest } from '../../digest.js'
import { AirlockError } from '../../errors.js'
import { type Descriptor, MEDIA, parseManifest } from '../../manifest.js'
import { type ImageRef, isValidDigest } from '../../reference.js'
import { TarFileWriter } from '../archive/tar-writer.js'
import type { ImageDestination, ImageReference, RawManifest, ReuseResult } from '../transport.js'
import type { ManifestItem } from './manifest-json.js'

const CONFIG_TYPES = new Set<string>([
  'application/vnd.docker.container.image.v1+json',
  'application/vnd.oci.image.config.v1+json',
])

export class DockerArchiveDestination implements ImageDestination {
  readonly capabilities = { concurrentBlobs: false, canMount: false, preservesDigests: false }
  /** One image: the engine picks a platform from an index before writing here. */
  readonly supportedManifestTypes: readonly string[] = [MEDIA.dockerManifest, MEDIA.ociManifest]
  /** Archive path of every blob written, by digest. */
  private readonly paths = new Map<string, string>()
  private item: ManifestItem | undefined
  private layerDigests: string[] = []

  private constructor(
    readonly reference: ImageReference,
    private readonly writer: TarFileWriter,
    private readonly tag: ImageRef | undefined,
  ) {}

  static async create(
    reference: ImageReference,
    path: string,
    tag?: ImageRef,
  ): Promise<DockerArchiveDestination> {
    return new DockerArchiveDestination(
      reference,
      await TarFileWriter.create(path, reference.toString()),
      tag,
    )
  }

  async currentDigest(): Promise<string | undefined> {
    return undefined
  }

  async hasManifest(_digest: string): Promise<boolean> {
    return false
  }

  async tryReuseBlob(desc: Descriptor): Promise<ReuseResult> {
    return this.paths.has(desc.digest) ? 'exists' : undefined
  }

  async putBlob(desc: Descriptor, stream: Readable): Promise<void> {
    const name = `${hexOf(desc.digest, this.reference)}${CONFIG_TYPES.has(desc.mediaType) ? '.json' : '.tar'}`
    await this.writer.addStream(name, desc.size, stream)
    this.paths.set(desc.digest, name)
  }

  async putManifest(m: RawManifest): Promise<void> {
    const parsed = parseManifest(m.bytes, m.mediaType, `${this.reference}`)
    if (parsed.kind !== 'image' || !parsed.config || !parsed.layers) {
      throw new AirlockError('UNSUPPORTED', `${this.reference} holds one image, not an index (${m.digest})`, {
        hint: 'choose one platform with --platform os/arch',
      })
    }
    if (!CONFIG_TYPES.has(parsed.config.mediaType)) {
      throw new AirlockError(
        'UNSUPPORTED',
        `${this.reference} can hold container images only, not ${parsed.config.mediaType} artifacts`,
        { hint: 'copy artifacts to an OCI layout (oci:DIR) or oci-archive: instead' },
      )
    }
    this.item = {
      Config: this.pathOf(parsed.config),
      RepoTags: this.tag ? [`${this.tag.name}:${this.tag.tag}`] : [],
      Layers: parsed.layers.map((l) => this.pathOf(l)),
    }
    this.layerDigests = parsed.layers.map((l) => l.digest)
  }

  private pathOf(desc: Descriptor): string {
    const p = this.paths.get(desc.digest)
    if (!p)
      throw new AirlockError(
        'INTERNAL',
        `${this.reference}: blob ${desc.digest} was not written before its manifest`,
      )
    return p
  }

  async commit(top: RawManifest): Promise<void> {
    if (!this.item) await this.putManifest(top)
    const item = this.item as ManifestItem
    if (this.tag && this.layerDigests.length) {
      // docker and containers/image name the top layer's legacy ID here; only pre-1.10 docker load
      // reads it (and then needs per-layer directories, which are not written). A chain ID is unique.
      const topLayerId = hexOf(chainId(this.layerDigests), this.reference)
      const repositories = { [this.tag.name]: { [this.tag.tag ?? 'latest']: topLayerId } }
      await this.writer.addBuffer('repositories', Buffer.from(JSON.stringify(repositories)))
    }
    await this.writer.addBuffer('manifest.json', Buffer.from(JSON.stringify([item])))
    await this.writer.commit()
  }

  async close(): Promise<void> {
    await this.writer.abort()
  }
}

function hexOf(digest: string, ref: ImageReference): string {
  if (!isValidDigest(digest))
    throw new AirlockError('INVALID_INPUT', `${ref}: invalid digest ${JSON.stringify(digest)}`)
  return digest.slice(digest.indexOf(':') + 1)
}

/** docker's layer.CreateChainID, over the layer digests as stored. */
function chainId(digests: string[]): string {
  let chain = ''
  for (const d of digests) chain = chain ? sha256Digest(`${chain} ${d}`) : d
  return chain
}
