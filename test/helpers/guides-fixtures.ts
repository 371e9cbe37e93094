/**
 * The images the workflow guides (docs/guides/*.md) name, generated (never downloaded) and pushed to
 * the local registry that stands in for Docker Hub, under the repository names the guides use
 * (`docker.io/library/alpine` → `<hub>/library/alpine`). Small layers: the guides are about the
 * commands, not about sizes, and the whole guides test has to stay fast on two cores.
 */
import { type GeneratedImage, type GeneratedIndex, makeImage, makeIndex, pushRaw } from './images.js'
import type { TestRegistry } from './registry.js'

const AMD64 = { os: 'linux', architecture: 'amd64' }
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' }
const S390X = { os: 'linux', architecture: 's390x' }

export interface HubImage {
  /** Repository path under the registry, as after `docker.io/`: `library/alpine`. */
  repo: string
  tag: string
  item: GeneratedImage | GeneratedIndex
}

/** The top manifest digest of a pushed fixture (the index for multi-platform ones). */
export function topDigest(item: GeneratedImage | GeneratedIndex): string {
  return 'index' in item ? item.index.digest : item.manifest.digest
}

/** The image for linux/amd64 (this machine's platform in CI) of a fixture. */
export function amd64Image(item: GeneratedImage | GeneratedIndex): GeneratedImage {
  if (!('index' in item)) return item
  const img = item.images.find((i) => i.platform.architecture === 'amd64')
  if (!img) throw new Error('fixture has no linux/amd64 image')
  return img
}

export interface HubFixtures {
  images: HubImage[]
  /** `repo:tag` → fixture. */
  get(repoTag: string): HubImage
  /**
   * Publishes a new build under an existing tag (as upstream does when a tag moves): same platforms and
   * layer sizes, new bytes. Returns the new fixture.
   */
  republish(repoTag: string): Promise<HubImage>
}

/**
 * Generates and pushes every fixture. Each tag gets its own seed, so every tag has its own digest
 * (a mirror that copied the wrong tag would show).
 */
export async function seedHub(hub: TestRegistry): Promise<HubFixtures> {
  let seed = 9100
  const images: HubImage[] = []
  const index = async (repo: string, tag: string, layerSizes: number[], platforms = [AMD64, ARM64]) => {
    const item = await makeIndex({ platforms, layerSizes, seed: seed++ })
    images.push({ repo, tag, item })
  }
  const single = async (repo: string, tag: string, layerSizes: number[], format: 'oci' | 'docker') => {
    const item = await makeImage({ layerSizes, seed: seed++, format, platform: AMD64 })
    images.push({ repo, tag, item })
  }
  // mirror-on-a-timer.md: alpine by exact tags, python by an include regex (and tags it must leave).
  // alpine has a platform more than the spec asks for, as on Docker Hub: its index is rewritten.
  for (const tag of ['3.20', '3.19', '3.18', 'edge', 'latest'])
    await index('library/alpine', tag, [3000], [AMD64, ARM64, S390X])
  for (const tag of ['3.12-slim', '3.11-slim', '3.10-slim', '3.12', '3.13.0rc1-slim'])
    await index('library/python', tag, [2000, 1500])
  // prominence.md: the classic batch-system image.
  await single('library/centos', '7', [40_000, 8000], 'docker')
  // erisxdl.md: a deep-learning image, big enough (≈ 1.5 MB) that the quota numbers move.
  await single('pytorch/pytorch', '2.3.1-cuda12.1-cudnn8-runtime', [1_200_000, 300_000], 'docker')
  // medperf-sif.md: a model container.
  await index('medlab/chestxray-densenet', '1.0', [60_000])

  // Blobs go up per repository; the tags of one repository share nothing but the registry.
  await Promise.all(images.map((i) => pushRaw(hub, i.repo, i.tag, i.item)))
  const byName = new Map(images.map((i) => [`${i.repo}:${i.tag}`, i]))
  const get = (repoTag: string): HubImage => {
    const i = byName.get(repoTag)
    if (!i) throw new Error(`no guide fixture ${repoTag}`)
    return i
  }
  return {
    images,
    get,
    async republish(repoTag) {
      const old = get(repoTag)
      const layerSizes = ('index' in old.item ? old.item.images[0]! : old.item).layers.map(
        (l) => l.size, // only used as a size hint: any size gives a new image
      )
      const item =
        'index' in old.item
          ? await makeIndex({ platforms: old.item.images.map((i) => i.platform), layerSizes, seed: seed++ })
          : await makeImage({ layerSizes, seed: seed++, platform: old.item.platform })
      const next = { ...old, item }
      await pushRaw(hub, next.repo, next.tag, item)
      byName.set(repoTag, next)
      return next
    },
  }
}
