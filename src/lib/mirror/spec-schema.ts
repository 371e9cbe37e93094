/**
 * The mirror spec's YAML as written (zod). Objects are strict: an unknown key is an error at that key.
 * Values are checked here one by one (regexes compile, semver ranges parse, sizes convert, platforms
 * are os/arch[/variant]); spec.ts then applies defaults and checks what spans several keys.
 * docs/mirror-spec.md documents every key.
 */
import semver from 'semver'
import { z } from 'zod'
import { parsePlatform } from '../manifest.js'
import { isValidTag } from '../reference.js'
import { parseNaming } from './naming.js'

/** An error for a missing value that says what belongs there (other type errors keep zod's message). */
const required = (what: string) => (iss: { input: unknown }) =>
  iss.input === undefined ? `required: ${what}` : undefined

/** A z.object whose unknown keys are issues at the key itself (so the error points at its line). */
function strict<S extends z.ZodRawShape>(shape: S, missing?: string) {
  const allowed = Object.keys(shape).join(', ')
  return z
    .object(shape, missing === undefined ? undefined : { error: required(missing) })
    .catchall(z.unknown().refine(() => false, { error: `unknown key (expected one of: ${allowed})` }))
}

function fail(
  ctx: z.RefinementCtx,
  message: string,
  input: unknown,
  path: PropertyKey[] = [],
): typeof z.NEVER {
  ctx.issues.push({ code: 'custom', message, input, path })
  return z.NEVER
}

const regex = z.string().superRefine((text, ctx) => {
  try {
    new RegExp(text)
  } catch (err) {
    fail(ctx, `not a valid regular expression: ${(err as Error).message}`, text)
  }
})

const tag = z
  .string({
    error: (iss) =>
      typeof iss.input === 'number'
        ? `got the number ${iss.input}: quote the tag as written (YAML reads 3.20 unquoted as the number 3.2)`
        : undefined,
  })
  .refine(isValidTag, {
    error: 'not a valid tag (letters, digits, "_", "." and "-", up to 128, not starting with "." or "-")',
  })

const semverRange = z.string().refine((r) => r.trim() !== '' && semver.validRange(r) !== null, {
  error: 'not a valid semver range (node-semver syntax, e.g. ">=1.2 <2", "^3", "~1.4.2")',
})

const latest = z.preprocess(
  (v) => (typeof v === 'number' ? { count: v } : v),
  strict({
    count: z.number().int().min(1, { error: 'latest keeps at least 1 tag' }),
    by: z.enum(['semver', 'created']).optional(),
  }),
)

/** `all` or a list of os/arch[/variant]; `all` is returned as is. */
const platforms = z.unknown().transform((v, ctx): string[] | 'all' => {
  if (v === 'all') return 'all'
  if (!Array.isArray(v) || v.length === 0) {
    return fail(ctx, 'expected "all" or a non-empty list of platforms like [linux/amd64, linux/arm64]', v)
  }
  v.forEach((p, i) => {
    try {
      if (typeof p !== 'string') throw new Error('not a string')
      parsePlatform(p)
    } catch {
      fail(ctx, `"${String(p)}" is not os/arch[/variant] (e.g. linux/amd64, linux/arm/v7)`, p, [i])
    }
  })
  return [...new Set(v as string[])]
})

const naming = z.string().transform((text, ctx) => {
  try {
    return parseNaming(text)
  } catch (err) {
    return fail(ctx, `${(err as Error).message}; ${(err as { hint?: string }).hint ?? ''}`, text)
  }
})

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
}

/** `50GiB`, `500MB`, `1.5 TiB`, a number of bytes, or -1 / `unlimited`; undefined when not a size. */
export function parseSize(v: unknown): number | undefined {
  if (v === -1 || v === 'unlimited') return -1
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined
  if (typeof v !== 'string') return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(v)
  const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined
  if (!m || unit === undefined) return undefined
  const bytes = Math.floor(Number(m[1]) * unit)
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : undefined
}

const size = z.unknown().transform((v, ctx) => {
  const bytes = parseSize(v)
  return bytes ?? fail(ctx, 'expected a size: 50GiB, 500MB, a number of bytes, or -1/unlimited', v)
})

const credentials = strict({
  username: z.string().min(1).optional(),
  passwordEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'the NAME of an environment variable, e.g. HARBOR_PASSWORD' })
    .optional(),
  authfile: z.string().min(1).optional(),
  password: z
    .unknown()
    .refine(() => false, {
      error:
        'secrets do not belong in the spec: put it in an environment variable and name it with passwordEnv',
    })
    .optional(),
}).superRefine((c, ctx) => {
  if (c.passwordEnv !== undefined && c.username === undefined) {
    fail(ctx, 'passwordEnv needs a username', c, ['passwordEnv'])
  }
  if (c.username !== undefined && c.passwordEnv === undefined && c.authfile === undefined) {
    fail(ctx, 'username needs passwordEnv (the variable holding the password or token)', c, ['username'])
  }
})

const positiveInt = (max: number) => z.number().int().min(1).max(max)

export const RegistrySettingsSchema = strict({
  credentials: credentials.optional(),
  tlsVerify: z.boolean().optional(),
  // As skopeo's --cert-dir: *.crt, *.cert and *.key directly inside (containers-certs.d(5)).
  certDir: z
    .string()
    .superRefine((p, ctx) => {
      if (!p.startsWith('/'))
        fail(ctx, 'certDir must be an absolute path (mirror runs from cron, any directory)', p)
    })
    .optional(),
  concurrency: positiveInt(256).optional(),
  rps: z.number().positive().optional(),
})

const harborUrl = z.string().superRefine((text, ctx) => {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {}
  if (!url || !/^https?:$/.test(url.protocol) || (url.pathname !== '/' && url.pathname !== '')) {
    fail(ctx, 'expected the URL of Harbor, e.g. https://harbor.example.org', text)
  } else if (url.username || url.password) {
    fail(ctx, 'no credentials in the URL: use harbor.credentials with passwordEnv', '(redacted)')
  } else if (url.search || url.hash) {
    fail(ctx, 'expected the URL of Harbor without a query or fragment', text)
  }
})

export const HarborSchema = strict({
  url: harborUrl.optional(),
  createProject: z.boolean().optional(),
  storageLimit: size.optional(),
  credentials: credentials.optional(),
})

export const DefaultsSchema = strict(
  {
    target: z.string({ error: required('the target registry host[:port], e.g. target: harbor.example.org') }),
    project: z.string().optional(),
    harbor: HarborSchema.optional(),
    platforms: platforms.optional(),
    tlsVerify: z.boolean().optional(),
    concurrency: positiveInt(256).optional(),
    naming: naming.optional(),
    referrers: z.boolean().optional(),
    immutable: z.array(regex).optional(),
    retries: z.number().int().min(0).max(100).optional(),
  },
  'defaults, with at least target (the target registry host[:port])',
)

export const ImageSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { source: v } : v),
  strict({
    source: z.string({ error: required('the source repository, e.g. source: docker.io/library/alpine') }),
    tags: z.array(tag).min(1).optional(),
    all: z.boolean().optional(),
    include: z.array(regex).min(1).optional(),
    exclude: z.array(regex).min(1).optional(),
    semver: semverRange.optional(),
    latest: latest.optional(),
    platforms: platforms.optional(),
    target: z.string().min(1).optional(),
    naming: naming.optional(),
    referrers: z.boolean().optional(),
    immutable: z.array(regex).optional(),
  }),
)

export const RawSpecSchema = strict({
  version: z.literal(1, { error: 'version must be 1 (the only spec version)' }).optional(),
  defaults: DefaultsSchema,
  registries: z.record(z.string(), RegistrySettingsSchema).optional(),
  images: z
    .array(ImageSchema, { error: required('images, a list of sources to mirror') })
    .min(1, { error: 'list at least one image' }),
})

export type RawSpec = z.output<typeof RawSpecSchema>
export type RawImage = z.output<typeof ImageSchema>
export type RawCredentials = z.output<typeof credentials>
