import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AirlockError } from '../../src/lib/errors.js'
import { connectS3 } from '../../src/lib/objectstore/s3-client.js'

const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }
const saved = { ...process.env }

beforeEach(() => {
  // No credentials or config of this machine; no instance metadata lookups.
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k]
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials'
  process.env.AWS_CONFIG_FILE = '/nonexistent/config'
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
})
afterEach(() => {
  process.env = { ...saved }
})

describe('connectS3', () => {
  it('takes the endpoint from --endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL; path-style with one', async () => {
    const a = await connectS3({ endpoint: 'http://127.0.0.1:7480/', credentials: creds })
    expect(a).toMatchObject({ endpoint: 'http://127.0.0.1:7480', label: '127.0.0.1:7480', pathStyle: true })
    expect(a.region).toBe('us-east-1')
    a.close()
    const env = {
      AWS_ENDPOINT_URL: 'https://generic.example',
      AWS_ENDPOINT_URL_S3: 'https://s3.example:9000',
    }
    const b = await connectS3({ env, credentials: creds, region: 'eu-1' })
    expect(b).toMatchObject({ endpoint: 'https://s3.example:9000', region: 'eu-1', pathStyle: true })
    b.close()
    const c = await connectS3({
      env: { AWS_ENDPOINT_URL: 'https://generic.example' },
      credentials: creds,
      pathStyle: false,
    })
    expect(c).toMatchObject({ endpoint: 'https://generic.example', pathStyle: false })
    c.close()
    const d = await connectS3({
      env: { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
      credentials: creds,
    })
    expect(d).toMatchObject({ label: 'AWS S3', pathStyle: false })
    expect(d.endpoint).toBeUndefined()
    d.close()
  })

  it('reads credentials and region the AWS way (environment)', async () => {
    process.env.AWS_ACCESS_KEY_ID = creds.accessKeyId
    process.env.AWS_SECRET_ACCESS_KEY = creds.secretAccessKey
    process.env.AWS_REGION = 'eu-west-3'
    const c = await connectS3({ endpoint: 'http://127.0.0.1:7480' })
    expect(c.region).toBe('eu-west-3')
    expect((await c.client.config.credentials()).accessKeyId).toBe(creds.accessKeyId)
    c.close()
  })

  it('says clearly when there are no credentials (exit 2)', async () => {
    const err = await connectS3({ endpoint: 'http://127.0.0.1:7480' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AirlockError)
    expect((err as AirlockError).code).toBe('INVALID_INPUT')
    expect((err as AirlockError).message).toMatch(/no AWS credentials found for 127\.0\.0\.1:7480/)
  })

  it('refuses endpoints with userinfo without repeating them', async () => {
    for (const endpoint of [
      'http://user:TopSecret123@127.0.0.1:7480',
      'ftp://host',
      'not a url',
      'http://h/?X-Amz-Signature=TopSecret123',
    ]) {
      const err = (await connectS3({ endpoint, credentials: creds }).catch((e: unknown) => e)) as AirlockError
      expect(err.code, endpoint).toBe('INVALID_INPUT')
      expect(`${err.message} ${err.hint}`).not.toContain('TopSecret123')
    }
  })
})
