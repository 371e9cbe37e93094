/**
 * redact: the last line of defence against secrets in what airlock prints.
 */
import { describe, expect, it } from 'vitest'
import { addSecret, redact, secretsOfArgv, secretsOfEnv } from '../../src/ui/redact.js'

const JWT =
  'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0dXNlciIsImFjY2VzcyI6W119.c2lnbmF0dXJlLXBhcnQtX2FuZC0tZGFzaGVz'

describe('redact', () => {
  it('hides user and password in URLs of any scheme', () => {
    expect(redact('GET https://robot$ci:s3cr3t-P4ss@harbor.example.org/v2/ failed')).toBe(
      'GET https://***:***@harbor.example.org/v2/ failed',
    )
    expect(redact('proxy http://alice:pw%40x@10.0.0.1:3128 refused')).toBe(
      'proxy http://***:***@10.0.0.1:3128 refused',
    )
    const two = redact('from https://a:one@x.example/ to docker://b:two@y.example/')
    expect(two).not.toMatch(/one|two/)
  })

  it('hides Bearer and Basic credentials', () => {
    const out = redact(`request had Authorization: Bearer ${JWT}, retry with Basic dGVzdHVzZXI6dGVzdHBhc3M=`)
    expect(out).toBe('request had Authorization: Bearer ***, retry with Basic ***')
    expect(out).not.toContain('dGVzdHVzZXI6dGVzdHBhc3M')
  })

  it('hides signatures, credentials and tokens in query strings, keeping the other params', () => {
    const s3 =
      'https://bucket.s3.amazonaws.com/blob?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef'
    const out = redact(`redirected to ${s3} and failed`)
    expect(out).toContain('X-Amz-Signature=***')
    expect(out).toContain('X-Amz-Credential=***&')
    expect(out).toContain('X-Amz-Date=20240101T000000Z')
    expect(out).toContain('X-Amz-Algorithm=AWS4-HMAC-SHA256')
    expect(out).not.toContain('0123456789abcdef')
    expect(out).not.toContain('AKIAEXAMPLE')
    expect(out.endsWith(' and failed')).toBe(true)

    expect(redact('https://r/token?service=reg&scope=repository:a:pull&token=abc.def')).toBe(
      'https://r/token?service=reg&scope=repository:a:pull&token=***',
    )
    expect(redact('/v2/a/blobs/uploads/u1?_state=eyJuYW1lIjoiYSJ9&digest=sha256:aa')).toBe(
      '/v2/a/blobs/uploads/u1?_state=***&digest=sha256:aa',
    )
    expect(redact('x?access_token=zzz&password=hunter2')).toBe('x?access_token=***&password=***')
  })

  it('hides the session token and signatures of pre-signed URLs of other object stores', () => {
    // ECR redirects to S3 with temporary credentials (X-Amz-Security-Token is a secret), GCR/Artifact
    // Registry to GCS (X-Goog-Signature), ACR to Azure blob storage (SAS "sig").
    const out = redact(
      [
        'https://s3.example/b?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEXAMPLE&X-Amz-Signature=ff',
        'https://storage.googleapis.com/b/o?X-Goog-Credential=sa%40p.iam&X-Goog-Signature=abcdef99',
        'https://acct.blob.core.windows.net/c/b?sv=2021-08-06&se=2024-01-01&sig=AzureSig%3D',
        'https://d111.cloudfront.net/b?Expires=1700000000&Signature=CloudFrontSig~x&Key-Pair-Id=K2',
      ].join(' '),
    )
    for (const secret of ['IQoJb3JpZ2luX2VjEXAMPLE', 'sa%40p.iam', 'abcdef99', 'AzureSig', 'CloudFrontSig'])
      expect(out, secret).not.toContain(secret)
    expect(out).toContain('sv=2021-08-06')
    expect(out).toContain('Key-Pair-Id=K2')
  })

  it('leaves references, digests and ordinary messages alone', () => {
    const text = [
      'copying docker://127.0.0.1:5000/lib/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      'docker://alpine@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582',
      'manifest lib/app:1.0 on 127.0.0.1:5000 failed: HTTP 401 (UNAUTHORIZED: authentication required)',
      'the registry refused user "testuser"; oci:/tmp/layout:v1',
      'Bearer realm="https://auth/token"',
    ].join('\n')
    expect(redact(text)).toBe(text)
  })
})

describe('redact: credential headers, fields and tokens', () => {
  it('masks credential headers as node and errors print them, keeping the scheme', () => {
    const dump = [
      "headers: { authorization: 'Basic dGVzdHVzZXI6dGVzdHBhc3M=', 'x-amz-security-token': 'FwoGZXIvYXdzEXAMPLE' }",
      'Proxy-Authorization: Basic cHJveHk6cHc=',
      'Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/us-east-1/s3/aws4_request, Signature=ff00',
      '"Authorization":"Bearer opaque-token-value"',
    ].join('\n')
    const out = redact(dump)
    for (const s of [
      'dGVzdHVzZXI6dGVzdHBhc3M',
      'FwoGZXIvYXdzEXAMPLE',
      'cHJveHk6cHc',
      'AKIAEXAMPLE',
      'opaque-token-value',
    ])
      expect(out, s).not.toContain(s)
    expect(out).toContain("authorization: 'Basic ***'")
    expect(out).toContain('Proxy-Authorization: Basic ***')
    expect(out).toContain('"Authorization":"Bearer ***"')
  })

  it('masks secret fields of JSON and inspected objects, and JWTs anywhere', () => {
    const out = redact(
      `{"token":"t0k3n-abc","access_token":"a1","password":"hunter2","auth":"dXNlcjpwYXNzd29yZA=="} { secretAccessKey: 'wJalrXUtnFEMI', sessionToken: 'IQoJ' } got ${JWT}.`,
    )
    for (const s of [
      't0k3n-abc',
      '"a1"',
      'hunter2',
      'dXNlcjpwYXNzd29yZA',
      'wJalrXUtnFEMI',
      'IQoJ',
      JWT.slice(0, 40),
    ])
      expect(out, s).not.toContain(s)
    expect(out).toContain('"token":"***"')
    expect(out).toContain("secretAccessKey: '***'")
  })

  it('leaves prose about authentication alone', () => {
    const text =
      'Basic authentication failed; Bearer tokens expire; "auth": "none", "auth": "checkAuth"; token bucket; passwordEnv: HARBOR_PASSWORD'
    expect(redact(text)).toBe(text)
  })
})

describe('known secrets', () => {
  it('finds the secrets of argv in every form, and none in ordinary flags', () => {
    const argv = [
      'copy',
      '--src-creds',
      'alice:pa:ss',
      '--dest-creds=bob:b0b-secret',
      '--creds',
      'nocolon-secret',
      '-p',
      'short',
      '-pattached',
      '--harbor-password=hp',
      '--aws-secret-access-key',
      'sk',
      '--password-stdin',
      'registry.example.org',
      '--token-file',
      '/tmp/t',
      'https://carol:c%40rol@h.example/x',
      'docker://127.0.0.1:5000/lib/app:v1',
    ]
    expect(secretsOfArgv(argv)).toEqual([
      { user: 'alice', secret: 'pa:ss' },
      { user: 'bob', secret: 'b0b-secret' },
      { secret: 'nocolon-secret' },
      { secret: 'short' },
      { secret: 'attached' },
      { secret: 'hp' },
      { secret: 'sk' },
      { user: 'carol', secret: 'c%40rol' },
      { user: 'carol', secret: 'c@rol' },
    ])
  })

  it('finds secret variables of the environment by name, not paths or short flags', () => {
    const env = {
      AWS_SECRET_ACCESS_KEY: 'wJalr',
      AWS_SESSION_TOKEN: 'IQoJb3JpZ2lu',
      HARBOR_PASSWORD: 'harbor-pw-123',
      GITLAB_TOKEN: 'short',
      AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token-file-path',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE12',
      HOME: '/root',
    }
    expect(secretsOfEnv(env).sort()).toEqual(['IQoJb3JpZ2lu', 'harbor-pw-123', 'wJalr'])
  })

  it('masks a known secret as given, escaped, URL-encoded and as base64(user:password); the user stays', () => {
    addSecret('Qx"9\\/y%z-known', 'erin')
    const out = redact(
      [
        "argv: [ '--creds', 'erin:Qx\"9\\\\/y%z-known' ]",
        '{"creds":"erin:Qx\\"9\\\\/y%z-known"}',
        'https://h/?p=Qx%229%5C%2Fy%25z-known',
        `auth ${Buffer.from('erin:Qx"9\\/y%z-known').toString('base64')}`,
      ].join('\n'),
    )
    expect(out).not.toMatch(/Qx|known|ZXJpbjpReCI5X/)
    expect(out).toContain("'erin:***'")
  })

  it('masks a short secret only where it certainly is one', () => {
    addSecret('ab', 'frank')
    expect(redact("login frank:ab [ '-p', 'ab' ] --password=ab about")).toBe(
      "login frank:*** [ '-p', '***' ] --password=*** about",
    )
  })
})
