/** The S3 connection flags of upload, download and doctor (kept apart so doctor does not load the AWS SDK). */
import { Flags } from '@oclif/core'
import type { S3ConnectionOptions } from '../lib/objectstore/s3-client.js'

/** Where S3 is and how to address it; shared with `airlock download`. */
export const s3Flags = {
  endpoint: Flags.string({
    // --endpoint-url as the AWS CLI spells it.
    aliases: ['endpoint-url'],
    description:
      'S3 server URL for non-AWS stores (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS). Alias: --endpoint-url.',
    helpValue: 'URL',
  }),
  region: Flags.string({ description: 'Region (default: AWS_REGION or the profile; us-east-1 otherwise).' }),
  profile: Flags.string({
    description: 'Profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE).',
  }),
  'path-style': Flags.boolean({
    allowNo: true,
    description: 'Path-style addressing (HOST/BUCKET/KEY); default: on with an endpoint, off for AWS.',
  }),
  'ca-bundle': Flags.string({
    description:
      "PEM file of the CAs to trust for an HTTPS endpoint, as the AWS CLI's --ca-bundle (default: AWS_CA_BUNDLE, then ca_bundle of the profile).",
    helpValue: 'FILE',
  }),
}

export function s3Connection(flags: {
  endpoint?: string
  region?: string
  profile?: string
  'path-style'?: boolean
  'ca-bundle'?: string
}): S3ConnectionOptions {
  // The SDK prints a Node-version notice on stderr when a client is made; a CLI user cannot act on it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  return {
    endpoint: flags.endpoint,
    region: flags.region,
    profile: flags.profile,
    pathStyle: flags['path-style'],
    caBundle: flags['ca-bundle'],
  }
}
