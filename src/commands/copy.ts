import { Args, Flags } from '@oclif/core'
import { parsePlatform } from '../lib/manifest.js'
import { checkedCopy } from '../lib/quota/checked-copy.js'
import { AirlockCommand, EXIT_CODES_HELP } from '../ui/base-command.js'
import { withCopyProgress } from '../ui/copy-progress.js'
import { engineFlags } from '../ui/engine-flags.js'
import { boolValue, parseCreds } from '../ui/flags.js'
import { formatBytes } from '../ui/format.js'
import { forceFlag, quotaFlowOptions } from '../ui/quota-flags.js'
import { checkSkopeoCopyFlags, skopeoCopyFlags } from '../ui/skopeo-flags.js'

export default class Copy extends AirlockCommand {
  static override summary =
    'Copy an image (every platform of an index by default) between registries and layouts, keeping digests.'
  static override description =
    `Manifests are copied byte for byte, so the destination digest equals the source digest and signatures stay valid. Blobs the destination already has are skipped, blobs in another repository of the same registry are mounted, several blobs move at once, and every blob is checked against its digest while it streams. The tag is written last: an interrupted copy leaves no tag, and running it again sends only what is missing.

References (as skopeo writes them):
  docker://HOST/REPO[:TAG|@DIGEST]   a registry (the default when no transport is given)
  oci:DIR[:NAME]                     an OCI layout directory
  oci-archive:FILE[:NAME]            an OCI layout in a tar file
  docker-archive:FILE[:NAME|:@N]     a docker save / podman save archive (one image per written archive)
  containers-storage:NAME-or-ID      podman's storage (--root, --runroot, --storage-driver)
  docker-daemon:NAME-or-ID           the Docker Engine API (--docker-host, DOCKER_HOST)

Digests are kept between registries and OCI layouts/archives, and when writing into podman (containers-storage: stores the manifest it is given). docker-daemon: and docker-archive files keep config and layers but not manifests, and reading from podman or docker gives the engine's own manifest.

${EXIT_CODES_HELP}`
  static override examples = [
    '<%= config.bin %> copy docker://docker.io/library/alpine:3.20 docker://harbor.example.org/mygroup/alpine:3.20',
    '<%= config.bin %> copy --platform linux/amd64 alpine:3.20 oci:./alpine-layout:3.20',
    '<%= config.bin %> copy --dest-creds robot:secret oci:./alpine-layout:3.20 docker://127.0.0.1:5000/alpine:3.20 --dest-tls-verify=false',
    '<%= config.bin %> copy --json 127.0.0.1:5000/app:1 127.0.0.1:5001/app:1',
    '<%= config.bin %> copy docker://docker.io/library/centos:7 docker-archive:centos7.tar:centos:7',
    '<%= config.bin %> copy containers-storage:91ef0af61f39 docker://harbor.example.org/mygroup/alpine:demo-copy',
  ]
  static override args = {
    source: Args.string({ required: true, description: 'Image to read.' }),
    destination: Args.string({ required: true, description: 'Where to write it.' }),
  }
  static override flags = {
    platform: Flags.string({
      multiple: true,
      multipleNonGreedy: true,
      description:
        'Copy only this platform of an index (os/arch[/variant]); repeat for several. One platform copies that image alone.',
    }),
    jobs: Flags.integer({ char: 'j', min: 1, max: 64, default: 6, description: 'Blobs to copy at once.' }),
    'retry-times': Flags.integer({
      min: 0,
      max: 20,
      default: 3,
      description:
        'Retries of a request that fails in a way worth repeating (5xx, 429, a broken connection), and of a blob whose transfer broke: each request is sent at most N+1 times.',
    }),
    'src-creds': Flags.string({
      description: 'Credentials USER:PASS for the source registry.',
      helpValue: 'USER:PASS',
    }),
    'dest-creds': Flags.string({
      description: 'Credentials USER:PASS for the destination registry.',
      helpValue: 'USER:PASS',
    }),
    authfile: Flags.string({ description: 'Auth file for both sides (default: the usual auth files).' }),
    'src-authfile': Flags.string({ description: 'Auth file for the source.' }),
    'dest-authfile': Flags.string({ description: 'Auth file for the destination.' }),
    'tls-verify': boolValue({
      description: 'Verify TLS on both sides; false also allows plain HTTP.',
      helpValue: 'true|false',
    }),
    'src-tls-verify': boolValue({ description: 'Verify TLS of the source.', helpValue: 'true|false' }),
    'dest-tls-verify': boolValue({ description: 'Verify TLS of the destination.', helpValue: 'true|false' }),
    'cert-dir': Flags.string({
      description:
        'Directory of *.crt CAs and a *.cert/*.key client certificate for both sides, used instead of the certs.d directories (~/.config/containers/certs.d/HOST, /etc/containers/certs.d/HOST, /etc/docker/certs.d/HOST).',
      helpValue: 'DIR',
    }),
    'src-cert-dir': Flags.string({ description: 'Like --cert-dir, for the source.', helpValue: 'DIR' }),
    'dest-cert-dir': Flags.string({ description: 'Like --cert-dir, for the destination.', helpValue: 'DIR' }),
    'no-mount': Flags.boolean({ description: 'Do not try cross-repository blob mounts.' }),
    quiet: Flags.boolean({ char: 'q', description: 'No progress output.' }),
    root: engineFlags.root,
    runroot: engineFlags.runroot,
    'storage-driver': engineFlags['storage-driver'],
    'docker-host': engineFlags['docker-host'],
    tmpdir: engineFlags.tmpdir,
    ...forceFlag,
    harbor: Flags.string({
      description:
        'Harbor host: a copy into one of its projects is first checked against the project quota (config: harbor.host).',
      helpValue: 'HOST',
    }),
    config: engineFlags.config,
    ...skopeoCopyFlags,
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Copy)
    checkSkopeoCopyFlags(flags)
    const platforms = (flags.platform ?? []).map(parsePlatform)
    const engine = {
      podman: { root: flags.root, runroot: flags.runroot, storageDriver: flags['storage-driver'] },
      dockerHost: flags['docker-host'],
      tmpDir: flags.tmpdir,
    }
    const quota = await quotaFlowOptions(flags)
    const result = await withCopyProgress(
      { title: `Copying ${args.source} to ${args.destination}`, quiet: flags.quiet },
      (onEvent) =>
        checkedCopy(args.source, args.destination, {
          quota,
          platforms,
          jobs: flags.jobs,
          retries: flags['retry-times'],
          mount: !flags['no-mount'],
          signal: this.abortController.signal,
          onEvent,
          source: {
            engine,
            registry: {
              creds: parseCreds(flags['src-creds'], '--src-creds'),
              credsFlag: '--src-creds',
              authfile: flags['src-authfile'] ?? flags.authfile,
              tlsVerify: flags['src-tls-verify'] ?? flags['tls-verify'],
              certDir: flags['src-cert-dir'] ?? flags['cert-dir'],
            },
          },
          destination: {
            engine,
            registry: {
              creds: parseCreds(flags['dest-creds'], '--dest-creds'),
              credsFlag: '--dest-creds',
              authfile: flags['dest-authfile'] ?? flags.authfile,
              tlsVerify: flags['dest-tls-verify'] ?? flags['tls-verify'],
              certDir: flags['dest-cert-dir'] ?? flags['cert-dir'],
            },
          },
        }),
    )
    if (this.jsonMode) {
      this.printJson(result)
      return
    }
    const b = result.blobs
    this.log(
      result.upToDate
        ? `${result.destination} is up to date (${result.destinationDigest})`
        : `Copied ${result.source} to ${result.destination}\n` +
            `  digest   ${result.destinationDigest}${digestNote(result)}\n` +
            `  blobs    ${b.copied} copied, ${b.skipped} already there, ${b.mounted} mounted (${formatBytes(result.bytes.copied)} sent)\n` +
            `  time     ${result.seconds.toFixed(2)} s`,
    )
  }
}

function digestNote(r: {
  digestsPreserved: boolean
  sourceDigest: string
  destinationDigest: string
}): string {
  if (!r.digestsPreserved)
    return ' (an engine or docker-archive does not keep manifests: config and layers are the same, manifest digests are not)'
  if (r.destinationDigest === r.sourceDigest) return ' (same as source)'
  return ` (source ${r.sourceDigest}; one platform chosen or the index narrowed)`
}
