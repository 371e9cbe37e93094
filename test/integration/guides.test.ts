/**
 * The workflow guides of docs/guides/, run end to end as their readers would run them
 * (test/helpers/guide-runner.ts: the ```sh blocks in order, in one bash session per guide), against
 * local services started here, then checked for the outcome that matters to the reader. Every
 * `airlock …` command line of every guide, run or not, is checked against oclif.manifest.json.
 *
 * Real parts: docker-registry (as Docker Hub, with generated images under the names the guides use),
 * Ceph RGW (S3), podman (vfs, temporary roots), sshd (login nodes), systemd-analyze. Stand-ins for
 * what cannot run here: Harbor's API and /v2/ front (test/helpers/harbor.ts, over a real
 * docker-registry) and PROMINENCE's upload API (test/helpers/prominence.ts, over the real RGW).
 *
 * Adding a guide: put the markdown file in docs/guides/ and add an entry to GUIDES below (what the
 * reader has before starting, and what must be true after). The CLI is dist/ (build it first:
 * `npx tsc -p tsconfig.build.json && npx oclif manifest`).
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  airlockCommandLines,
  checkArgv,
  type GuideRun,
  type GuideSandbox,
  type Manifest,
  makeSandbox,
  parseBlocks,
  runCommand,
  runGuide,
  type Substitutions,
  substitute,
  unmetExpectations,
} from '../helpers/guide-runner.js'
import { amd64Image, type HubFixtures, seedHub, topDigest } from '../helpers/guides-fixtures.js'
import {
  cronScheduleProblem,
  type K8sCronJob,
  kubectlCreates,
  readCronD,
  readEnvFile,
  readK8s,
  serviceCommand,
} from '../helpers/guides-schedulers.js'
import { type HarborStandIn, startHarborStandIn } from '../helpers/harbor.js'
import { fetchManifestRaw, type GeneratedImage } from '../helpers/images.js'
import { makePodman, type Podman } from '../helpers/podman.js'
import { type ProminenceStandIn, startProminence } from '../helpers/prominence.js'
import { startRegistry, type TestRegistry } from '../helpers/registry.js'
import { startS3, type TestS3 } from '../helpers/s3.js'
import { type SshCluster, startSshCluster } from '../helpers/sshd.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const GUIDES_DIR = path.join(REPO, 'docs/guides')
const MiB = 1024 * 1024

/** The secrets the guides assume their reader has (the stand-ins accept exactly these). */
const SECRETS = {
  HARBOR_ROBOT: 'robot$airlock-mirror',
  HARBOR_ROBOT_SECRET: 'mirror-Secret-4711',
  HARBOR_USER: 'jdoe',
  HARBOR_USER_PASSWORD: 'jdoe-Password-0815',
  DOCKERHUB_TOKEN: 'dckr_pat_guides-test',
  PROMINENCE_TOKEN: 'prominence-token-guides',
}

interface Services {
  hub: TestRegistry
  fixtures: HubFixtures
  harbor: HarborStandIn
  s3: TestS3
  prominence: ProminenceStandIn
  nodes: SshCluster
}

/**
 * The substitution table: every host name and absolute path the guides use, and what it becomes here.
 * Hosts become the local services (plain HTTP on 127.0.0.1); absolute paths move under the sandbox's
 * root. The runner refuses a guide that still names an example host or a public registry in what it
 * runs, so a name missing here fails the test instead of reaching the internet.
 */
function substitutions(svc: Services, sb: GuideSandbox): Substitutions {
  const prominenceBase = svc.prominence.url.replace(/\/prominence\/v1$/, '')
  const paths = [
    '/etc/airlock',
    '/etc/systemd/system',
    '/etc/cron.d',
    '/var/lib/airlock',
    '/var/log/airlock',
    '/var/lib/prometheus/node-exporter',
    '/usr/local/bin/airlock',
    '/media/usb',
  ]
  return [
    ['https://harbor.example.org', svc.harbor.url], // Harbor's API: the stand-in
    ['harbor.example.org', svc.harbor.host], // Harbor's registry: the stand-in's /v2/ over docker-registry
    ['docker.io', svc.hub.host], // Docker Hub: docker-registry holding the generated images
    ['https://s3.example.org', svc.s3.endpoint], // S3: Ceph RGW
    ['https://prominence.example.org', prominenceBase], // PROMINENCE's API: the stand-in
    ...paths.map((p) => [p, path.join(sb.root, p)] as const),
  ]
}

interface GuideContext {
  svc: Services
  sb: GuideSandbox
  /** Environment of the guide's session (sandbox env plus the guide's own). */
  env: Record<string, string>
  run: GuideRun
  /** A podman with temporary storage, when the guide's entry asks for one. */
  podman?: Podman
}

interface GuideCase {
  /** A podman (vfs, temporary roots) for the session: CONTAINERS_* point at it. */
  podman?: boolean
  /** What the reader has before the guide starts: files in the sandbox, environment variables. */
  setup?: (svc: Services, sb: GuideSandbox) => Promise<Record<string, string>>
  /** What the reader types when the guide's commands ask (stdin of the session). */
  input?: string
  /** What must be true after the guide ran. */
  check: (ctx: GuideContext) => Promise<void>
}

let svc: Services

/** Tools the guides' own commands use besides airlock (Debian: jq, curl, systemd, coreutils, podman, openssh-client). */
const GUIDE_TOOLS = ['jq', 'curl', 'sha256sum', 'systemd-analyze', 'podman', 'ssh']

beforeAll(async () => {
  const missing = GUIDE_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0)
  if (missing.length) throw new Error(`the guides run ${missing.join(', ')}: install them (Debian packages)`)
  const s3p = startS3().then(async (s3) => ({
    s3,
    prominence: await startProminence({
      s3,
      bucket: 'prominence-data',
      users: { [SECRETS.PROMINENCE_TOKEN]: { name: 'alice', groups: ['radiology'] } },
    }),
  }))
  const hubp = startRegistry().then(async (hub) => ({ hub, fixtures: await seedHub(hub) }))
  const harborp = startHarborStandIn({
    users: {
      [SECRETS.HARBOR_ROBOT]: SECRETS.HARBOR_ROBOT_SECRET,
      [SECRETS.HARBOR_USER]: SECRETS.HARBOR_USER_PASSWORD,
    },
    // A fresh Harbor's `library`, and the group project an ERISXdl-style admin made for the group.
    projects: [
      { name: 'library', public: true },
      { name: 'neuro-imaging', storageLimit: 50 * 1024 * MiB },
      // The project an admin made for images brought in with bundles.
      { name: 'hpc-offline' },
    ],
  })
  const nodesp = startSshCluster(
    ['erisxdl2', 'erisxdl3'].map((name, i) => ({
      name,
      setup: async (dir: string) => {
        // Each login node has its own podman storage with someone's images in it.
        const graphroot = path.join(dir, 'containers/storage')
        await mkdir(path.join(graphroot, 'vfs/dir/layer'), { recursive: true })
        await writeFile(path.join(graphroot, 'vfs/dir/layer/data'), Buffer.alloc((i + 1) * 3 * MiB, 1))
        const conf = path.join(dir, 'storage.conf')
        await writeFile(
          conf,
          `[storage]\ndriver = "vfs"\ngraphroot = "${graphroot}"\nrunroot = "${dir}/run"\n`,
        )
        return { CONTAINERS_STORAGE_CONF: conf, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }
      },
    })),
  )
  const [{ s3, prominence }, { hub, fixtures }, harbor, nodes] = await Promise.all([
    s3p,
    hubp,
    harborp,
    nodesp,
  ])
  await s3.createBucket('images')
  await s3.createBucket('medperf-models')
  svc = { hub, fixtures, harbor, s3, prominence, nodes }
}, 120_000)

afterAll(async () => {
  await Promise.all([svc?.prominence.stop(), svc?.harbor.stop(), svc?.hub.stop(), svc?.nodes.stop()])
  await svc?.s3.stop()
})

// ---------------------------------------------------------------------------------------------------------
// Checks shared by the entries
// ---------------------------------------------------------------------------------------------------------

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

async function s3Object(
  bucket: string,
  key: string,
): Promise<{ sha256: string; meta: Record<string, string> }> {
  const got = await svc.s3.client().send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  const hash = createHash('sha256')
  for await (const c of got.Body as Readable) hash.update(c as Buffer)
  return { sha256: hash.digest('hex'), meta: got.Metadata ?? {} }
}

/** The S3 credentials the reader has (the guides name the endpoint themselves). */
function s3Credentials(svc: Services): Record<string, string> {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION } = svc.s3.env as Record<string, string>
  return {
    AWS_ACCESS_KEY_ID: AWS_ACCESS_KEY_ID!,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET_ACCESS_KEY!,
    AWS_REGION: AWS_REGION!,
  }
}

/** The labels `airlock sif inspect --json` reads from a SIF the guide built. */
async function sifLabels(file: string, sb: GuideSandbox, env: Record<string, string>): Promise<unknown> {
  const inspected = await runCommand(['airlock', 'sif', 'inspect', '--json', file], { cwd: sb.work, env })
  return JSON.parse(inspected.output).labels
}

async function fetchSha256(url: string): Promise<{ status: number; sha256?: string }> {
  const res = await fetch(url)
  if (res.status !== 200) return { status: res.status }
  return {
    status: 200,
    sha256: createHash('sha256')
      .update(Buffer.from(await res.arrayBuffer()))
      .digest('hex'),
  }
}

/** The manifest a tag points at in Harbor's backing registry, parsed, with its digest. */
async function harborManifest(repo: string, tag: string) {
  const m = await fetchManifestRaw(svc.harbor.registry, repo, tag)
  if (m.status !== 200) return undefined
  return { digest: m.digest!, json: JSON.parse(m.bytes.toString('utf8')) }
}

/** Per-platform child digests of an index: `linux/amd64` → digest. */
function children(json: {
  manifests?: Array<{ digest: string; platform: { os: string; architecture: string } }>
}) {
  return Object.fromEntries(
    (json.manifests ?? []).map((m) => [`${m.platform.os}/${m.platform.architecture}`, m.digest]),
  )
}

function childrenOf(images: GeneratedImage[]) {
  return Object.fromEntries(
    images.map((i) => [`${i.platform.os}/${i.platform.architecture}`, i.manifest.digest]),
  )
}

/** The mirrored alpine tag has the source's amd64 and arm64 manifests, and nothing else. */
async function expectMirroredAlpine(tag: string): Promise<void> {
  const src = svc.fixtures.get(`library/alpine:${tag}`).item
  if (!('index' in src)) throw new Error('alpine fixtures are indexes')
  const got = await harborManifest('mirror/alpine', tag)
  expect(got, `mirror/alpine:${tag}`).toBeDefined()
  const want = childrenOf(src.images)
  expect(children(got!.json)).toEqual({
    'linux/amd64': want['linux/amd64'],
    'linux/arm64': want['linux/arm64'],
  })
}

async function expectMirroredSame(repo: string, tag: string): Promise<void> {
  const got = await harborManifest(`mirror/${repo}`, tag)
  expect(got?.digest, `mirror/${repo}:${tag}`).toBe(
    topDigest(svc.fixtures.get(`library/${repo}:${tag}`).item),
  )
}

// ---------------------------------------------------------------------------------------------------------
// The guides
// ---------------------------------------------------------------------------------------------------------

const GUIDES: Record<string, GuideCase> = {
  'offline-bundle.md': {
    podman: true,
    async setup() {
      return { HARBOR_PASSWORD: SECRETS.HARBOR_ROBOT_SECRET }
    },
    async check({ sb, run, podman }) {
      // Every image is in the project with the digest Docker Hub has (all platforms of alpine kept).
      for (const [repo, tag] of [
        ['alpine', '3.20'],
        ['alpine', '3.19'],
        ['python', '3.12-slim'],
        ['python', '3.11-slim'],
      ] as const) {
        const got = await harborManifest(`hpc-offline/${repo}`, tag)
        expect(got?.digest, `hpc-offline/${repo}:${tag}`).toBe(
          topDigest(svc.fixtures.get(`library/${repo}:${tag}`).item),
        )
      }
      // The bundle on the "USB disk" is the updated one, in one part with its checksum file.
      const usb = path.join(sb.root, 'media/usb')
      expect(readdirSync(usb).sort(), 'files on the USB disk').toEqual([
        'images.tar.001',
        'images.tar.SHA256SUMS',
      ])
      // podman got alpine:3.20 for this machine's platform.
      const alpine = amd64Image(svc.fixtures.get('library/alpine:3.20').item)
      const ids = (await podman!.images()).map((i) => `sha256:${i.Id}`)
      expect(ids).toEqual([alpine.config.digest])
      expect(run.output).not.toContain(SECRETS.HARBOR_ROBOT_SECRET)
    },
  },
  'mirror-on-a-timer.md': {
    async setup(_svc, sb) {
      // The reader installed airlock as /usr/local/bin/airlock (the unit file and the cron line name it).
      await mkdir(path.join(sb.root, 'usr/local/bin'), { recursive: true })
      await writeFile(
        path.join(sb.root, 'usr/local/bin/airlock'),
        readFileSync(path.join(sb.bin, 'airlock')),
        {
          mode: 0o755,
        },
      )
      return { HARBOR_PASSWORD: SECRETS.HARBOR_ROBOT_SECRET, DOCKERHUB_TOKEN: SECRETS.DOCKERHUB_TOKEN }
    },
    async check({ sb, run }) {
      const root = (p: string) => path.join(sb.root, p)
      // The project was made with the spec's quota, and holds the selected tags with the source digests.
      expect(svc.harbor.projects.get('mirror')?.storageLimit).toBe(200 * 1024 * MiB)
      for (const tag of ['3.20', '3.19']) await expectMirroredAlpine(tag)
      for (const tag of ['3.12-slim', '3.11-slim']) await expectMirroredSame('python', tag)
      for (const [repo, tag] of [
        ['python', '3.12'],
        ['python', '3.10-slim'],
        ['python', '3.13.0rc1-slim'],
        ['alpine', 'edge'],
      ])
        expect(await harborManifest(`mirror/${repo}`, tag!), `${repo}:${tag} is not selected`).toBeUndefined()
      const report = JSON.parse(readFileSync(path.join(sb.work, 'mirror-report.json'), 'utf8'))
      expect(report).toMatchObject({ exitCode: 0, totals: { images: 4, copied: 4, failed: 0 } })
      expect(readFileSync(path.join(sb.work, 'airlock_mirror.prom'), 'utf8')).toMatch(
        /^airlock_mirror_exit_code\{spec="[^"]+"\} 0$/m,
      )

      // systemd: the real verifier on both units, then the service's own command line with the
      // environment systemd would give it, after Docker Hub moved alpine:3.20.
      const unit = root('etc/systemd/system/airlock-mirror.service')
      const timer = root('etc/systemd/system/airlock-mirror.timer')
      const verify = await runCommand(['systemd-analyze', 'verify', unit, timer], {
        cwd: sb.work,
        env: sb.env,
      })
      expect(verify.code, verify.output).toBe(0)
      const service = serviceCommand(unit)
      expect(service.user).toBe('mirror')
      await svc.fixtures.republish('library/alpine:3.20')
      const bySystemd = await runCommand(service.argv, { cwd: '/', env: { ...service.env, HOME: sb.home } })
      expect(bySystemd.code, bySystemd.output).toBe(0)
      await expectMirroredAlpine('3.20')
      const unitReport = JSON.parse(readFileSync(root('var/log/airlock/mirror.json'), 'utf8'))
      expect(unitReport.totals).toMatchObject({ copied: 1, failed: 0 })
      expect(existsSync(root('var/lib/prometheus/node-exporter/airlock_mirror.prom'))).toBe(true)

      // cron: the line as cron runs it (/bin/sh -c, cron's own environment plus the file's), after
      // Docker Hub moved python:3.12-slim.
      const cron = readCronD(root('etc/cron.d/airlock-mirror'))
      expect(cron.entries).toHaveLength(1)
      expect(cron.entries[0]!.user).toBe('mirror')
      await svc.fixtures.republish('library/python:3.12-slim')
      const byCron = await runCommand(['/bin/sh', '-c', cron.entries[0]!.command], {
        cwd: sb.home,
        env: { SHELL: '/bin/sh', PATH: '/usr/bin:/bin', HOME: sb.home, LOGNAME: 'mirror', ...cron.env },
      })
      expect(byCron.code, byCron.output).toBe(0)
      await expectMirroredSame('python', '3.12-slim')

      // Kubernetes: the objects the CronJob names exist (the kubectl lines make them, the file has the
      // claim), the spec is where the container reads it, and the container's command runs with the
      // Secret's keys as its environment, after Docker Hub moved alpine:3.19.
      const shown = parseBlocks(
        substitute(
          readFileSync(path.join(GUIDES_DIR, 'mirror-on-a-timer.md'), 'utf8'),
          substitutions(svc, sb),
        ),
      )
      const kubectl = shown
        .filter((b) => b.lang === 'sh')
        .map((b) => b.body)
        .join('\n')
      const k8s = readK8s(path.join(sb.work, 'airlock-mirror-cronjob.yaml'))
      const [cronJob] = k8s.byKind<K8sCronJob>('CronJob')
      expect(cronJob?.apiVersion).toBe('batch/v1')
      expect(cronJob!.spec.concurrencyPolicy).toBe('Forbid')
      expect(cronScheduleProblem(cronJob!.spec.schedule.split(/\s+/))).toBeUndefined()
      const pod = cronJob!.spec.jobTemplate.spec.template.spec
      expect(['Never', 'OnFailure']).toContain(pod.restartPolicy)
      expect(pod.containers).toHaveLength(1)
      const container = pod.containers[0]!
      const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]))
      const mounts = container.volumeMounts ?? []
      for (const m of mounts) expect(volumes.has(m.name), `volume ${m.name}`).toBe(true)
      const claims = k8s
        .byKind<{ metadata: { name: string } }>('PersistentVolumeClaim')
        .map((d) => d.metadata.name)
      for (const v of volumes.values())
        if (v.persistentVolumeClaim) expect(claims).toContain(v.persistentVolumeClaim.claimName)
      const [secret] = kubectlCreates(kubectl, ['secret', 'generic'])
      expect((container.envFrom ?? []).map((e) => e.secretRef?.name)).toContain(secret!.name)
      const envFile = secret!.words.find((w) => w.startsWith('--from-env-file='))!.split('=')[1]!
      const [configMap] = kubectlCreates(kubectl, ['configmap'])
      const specVolume = [...volumes.values()].find((v) => v.configMap)
      expect(specVolume?.configMap?.name).toBe(configMap!.name)
      const key = configMap!.words.find((w) => w.startsWith('--from-file='))!.split('=')[1]!
      const specMount = mounts.find((m) => m.name === specVolume!.name)
      const argv = [...(container.command ?? []), ...(container.args ?? [])]
      expect(argv).toContain(path.join(specMount!.mountPath, key))
      await svc.fixtures.republish('library/alpine:3.19')
      const byK8s = await runCommand(argv, {
        cwd: sb.work,
        env: { PATH: sb.env.PATH!, HOME: sb.home, ...readEnvFile(envFile) },
      })
      expect(byK8s.code, byK8s.output).toBe(0)
      await expectMirroredAlpine('3.19')
      // Every scheduled run let go of the lock.
      expect(existsSync(root('var/lib/airlock/mirror.lock'))).toBe(false)
      expect(run.output).not.toContain(SECRETS.HARBOR_ROBOT_SECRET)
    },
  },
  'erisxdl.md': {
    podman: true,
    async setup(svc, sb) {
      // The reader's ssh reaches the other login nodes by name (their ~/.ssh/config): here the nodes are
      // local sshd's, named in the cluster's ssh config.
      sb.addTool('ssh', `#!/bin/sh\nexec /usr/bin/ssh -F ${svc.nodes.configFile} "$@"\n`)
      return {}
    },
    // The reader types the Harbor password at the `read` prompt.
    input: `${SECRETS.HARBOR_USER_PASSWORD}\n`,
    async check({ sb, env, run, podman }) {
      const pulled = amd64Image(svc.fixtures.get('pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime').item)
      // The group's project holds the image, under the lowercased name, with the pulled image's ID.
      const pushed = await harborManifest('neuro-imaging/pytorch', '2.3.1-cuda12.1')
      expect(pushed?.json.config.digest).toBe(pulled.config.digest)
      expect(svc.harbor.projects.has('Neuro-Imaging')).toBe(false)
      // The registry-to-registry copy kept Docker Hub's digest.
      const copied = await harborManifest('neuro-imaging/pytorch', '2.3.1-cuda12.1-cudnn8-runtime')
      expect(copied?.digest).toBe(pulled.manifest.digest)
      // The login stored the credentials where podman reads them, readable by the reader only.
      const authFile = path.join(sb.home, '.config/containers/auth.json')
      expect(statSync(authFile).mode & 0o777).toBe(0o600)
      expect(Object.keys(JSON.parse(readFileSync(authFile, 'utf8')).auths)).toContain(svc.harbor.host)
      expect(run.output).not.toContain(SECRETS.HARBOR_USER_PASSWORD)
      // The local copy is gone again, as the guide ends; both names were on the same image until then.
      const ids = (await podman!.images()).map((i) => i.Id)
      expect(ids.some((id) => pulled.config.digest.endsWith(id))).toBe(false)
      expect(run.output).toMatch(new RegExp(`^${pulled.config.digest}$`, 'm'))
      // The quotas the guide looked at, now: every node answers; Harbor counts the pushed image.
      const quota = await runCommand(
        ['airlock', 'quota', '--json', '--harbor', svc.harbor.url, '--project', 'neuro-imaging'],
        {
          cwd: sb.work,
          env,
        },
      )
      expect(quota.code, quota.output).toBe(0)
      const report = JSON.parse(quota.output)
      expect(report.nodes.map((n: { node: string; reachable: boolean }) => [n.node, n.reachable])).toEqual([
        ['local', true],
        ['erisxdl2', true],
        ['erisxdl3', true],
      ])
      expect(report.nodes[1].usage).toBeGreaterThanOrEqual(3 * MiB)
      expect(report.nodes[2].usage).toBeGreaterThanOrEqual(6 * MiB)
      expect(report.harbor.used).toBeGreaterThan(pulled.layers[0]!.size)
    },
  },
  'prominence.md': {
    podman: true,
    async setup(svc, sb) {
      // The reader has logged in with the prominence CLI (its token file) and has S3 credentials.
      await mkdir(path.join(sb.home, '.prominence'), { recursive: true })
      await writeFile(
        path.join(sb.home, '.prominence/token'),
        JSON.stringify({ access_token: SECRETS.PROMINENCE_TOKEN, token_type: 'Bearer' }),
        { mode: 0o600 },
      )
      return s3Credentials(svc)
    },
    async check({ sb, env }) {
      const file = (f: string) => path.join(sb.work, f)
      const sif = sha256(file('centos7.sif'))
      // The SIF holds the image that was saved (its labels), and a rebuild gives the same bytes.
      const centos = svc.fixtures.get('library/centos:7').item as GeneratedImage
      const labels = JSON.parse(centos.config.bytes.toString('utf8')).config.Labels
      expect(await sifLabels(file('centos7.sif'), sb, env)).toMatchObject(labels)
      expect(sha256(file('again.sif'))).toBe(sif)
      // PROMINENCE got the file under the reader's name, with its SHA-256, and the store kept both.
      expect(svc.prominence.calls.at(-1)).toMatchObject({
        user: 'alice',
        name: 'centos7.sif',
        checksum: sif,
        method: 'post',
        key: 'uploads/alice/centos7.sif',
      })
      expect(await s3Object(svc.prominence.bucket, 'uploads/alice/centos7.sif')).toEqual({
        sha256: sif,
        meta: { prominence_sha256: sif },
      })
      // The job names the file that was uploaded.
      const job = JSON.parse(readFileSync(file('centos7-job.json'), 'utf8'))
      expect(job.tasks[0].image).toBe('centos7.sif')
      // The bucket route: the object carries the SHA-256, and the URL gives the same bytes to anyone.
      expect(await s3Object('images', 'hpc/centos7.sif')).toEqual({ sha256: sif, meta: { sha256: sif } })
      const upload = JSON.parse(readFileSync(file('upload.json'), 'utf8'))
      expect(upload).toMatchObject({ sha256: sif, url: 's3://images/hpc/centos7.sif' })
      expect(new URL(upload.presignedUrl).searchParams.get('X-Amz-Expires')).toBe(String(7 * 24 * 3600))
      expect(await fetchSha256(upload.presignedUrl)).toEqual({ status: 200, sha256: sif })
      // What the worker got and checked.
      expect(sha256(file('worker/centos7.sif'))).toBe(sif)
      expect(sha256(file('checked.sif'))).toBe(sif)
    },
  },
  'medperf-sif.md': {
    async setup(svc) {
      // The model owner's S3 credentials, as the AWS CLI would find them.
      return s3Credentials(svc)
    },
    async check({ sb, env }) {
      const file = (f: string) => path.join(sb.work, f)
      const json = (f: string) => JSON.parse(readFileSync(file(f), 'utf8'))
      const sif = sha256(file('chestxray-densenet-1.0.sif'))
      // The SIF is the registry image for this machine's platform.
      const model = amd64Image(svc.fixtures.get('medlab/chestxray-densenet:1.0').item)
      expect(await sifLabels(file('chestxray-densenet-1.0.sif'), sb, env)).toMatchObject(
        JSON.parse(model.config.bytes.toString('utf8')).config.Labels,
      )
      // The object has the file's bytes and SHA-256; the first upload sent it, the others only signed.
      expect(await s3Object('medperf-models', 'chestxray/chestxray-densenet-1.0.sif')).toEqual({
        sha256: sif,
        meta: { sha256: sif },
      })
      const [upload, short, renewed] = ['upload.json', 'short.json', 'renewed.json'].map(json)
      expect(upload).toMatchObject({
        sha256: sif,
        skipped: false,
        bytesSent: readFileSync(file('chestxray-densenet-1.0.sif')).length,
      })
      expect(short).toMatchObject({ sha256: sif, skipped: true })
      expect(renewed).toMatchObject({ sha256: sif, skipped: true })
      // The handed-out link gives the same bytes to plain fetch, for 7 days; the short one has expired.
      expect(new URL(upload.presignedUrl).searchParams.get('X-Amz-Expires')).toBe('604800')
      expect(await fetchSha256(upload.presignedUrl)).toEqual({ status: 200, sha256: sif })
      expect((await fetchSha256(short.presignedUrl)).status).toBe(403)
      expect(await fetchSha256(renewed.presignedUrl)).toEqual({ status: 200, sha256: sif })
      expect(Date.parse(renewed.presignedUrlExpires) - Date.now()).toBeGreaterThan(6.9 * 24 * 3600 * 1000)
      // What the MedPerf side downloaded and checked.
      expect(sha256(file('medperf-side/chestxray-densenet-1.0.sif'))).toBe(sif)
    },
  },
}

// ---------------------------------------------------------------------------------------------------------

describe('docs/guides', () => {
  it('every guide has an entry here, so every guide runs', () => {
    const files = readdirSync(GUIDES_DIR).filter((f) => f.endsWith('.md'))
    expect(files.length).toBeGreaterThan(0)
    expect(files.filter((f) => !GUIDES[f])).toEqual([])
  })

  it('every airlock command line of every guide parses: the command exists, and so does every flag', () => {
    const manifest = JSON.parse(readFileSync(path.join(REPO, 'oclif.manifest.json'), 'utf8')) as Manifest
    const problems: string[] = []
    let count = 0
    for (const f of readdirSync(GUIDES_DIR).filter((x) => x.endsWith('.md'))) {
      for (const line of airlockCommandLines(readFileSync(path.join(GUIDES_DIR, f), 'utf8'))) {
        count++
        const problem = checkArgv(line.argv, manifest, line)
        if (problem) problems.push(`${f} (${line.where}): airlock ${line.argv.join(' ')}: ${problem}`)
      }
    }
    expect(problems).toEqual([])
    expect(count).toBeGreaterThan(20)
    // The check itself catches a renamed flag, a missing command and a missing argument.
    expect(checkArgv(['upload', 'x.sif', '--to', 's3://b/', '--presigned', '7d'], manifest)).toMatch(
      /no flag --presigned/,
    )
    expect(checkArgv(['sif', 'convert', 'x.tar'], manifest)).toMatch(/no command/)
    expect(checkArgv(['save', 'app:1'], manifest)).toMatch(/needs --output/)
    expect(checkArgv(['pull'], manifest)).toMatch(/needs 1 argument/)
    expect(checkArgv(['save', 'a', '--format', 'tar'], manifest)).toMatch(/not one of/)
  })

  for (const [file, guide] of Object.entries(GUIDES)) {
    it(`${file} runs end to end`, async () => {
      const sb = makeSandbox(file.replace(/\.md$/, ''))
      let podman: Podman | undefined
      try {
        const env: Record<string, string> = { TMPDIR: path.join(sb.dir, 'tmp') }
        await mkdir(env.TMPDIR!, { recursive: true })
        if (guide.podman) {
          podman = await makePodman()
          // podman itself pulls from the stand-in "Docker Hub", which speaks plain HTTP.
          const registries = path.join(podman.dir, 'registries-guides.conf')
          await writeFile(
            registries,
            `unqualified-search-registries = []\nshort-name-mode = "disabled"\n[[registry]]\nlocation = "${svc.hub.host}"\ninsecure = true\n`,
          )
          Object.assign(env, {
            CONTAINERS_STORAGE_CONF: podman.storageConf,
            CONTAINERS_CONF: podman.env.CONTAINERS_CONF!,
            CONTAINERS_REGISTRIES_CONF: registries,
          })
        }
        Object.assign(env, await guide.setup?.(svc, sb))
        const run = await runGuide({
          file: path.join(GUIDES_DIR, file),
          sandbox: sb,
          substitutions: substitutions(svc, sb),
          env,
          ...(guide.input ? { input: guide.input } : {}),
          timeoutMs: 150_000,
        })
        expect(run.code, run.output).toBe(0)
        expect(unmetExpectations(run), run.output).toEqual([])
        await guide.check({ svc, sb, env: { ...sb.env, ...env }, run, ...(podman ? { podman } : {}) })
      } finally {
        await podman?.cleanup()
        rmSync(sb.dir, { recursive: true, force: true })
      }
    }, 180_000)
  }
})
