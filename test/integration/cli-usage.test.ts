/**
 * Wrong guesses and help: a usage error is a few lines (not the whole help), -h and `help` work
 * everywhere, a mistyped command gets suggestions without a prompt, skopeo's harmless copy flags
 * are accepted; and what the docs tell users to copy works (the YAML of `mirror --help`, the
 * completion line appended to an rc file).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse as parseYaml, stringify } from 'yaml'
import { parseMirrorSpec } from '../../src/lib/mirror/spec.js'
import { ok, runCli, runProcess } from '../helpers/cli.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
const tmp = mkdtempSync(path.join(tmpdir(), 'airlock-usage-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('usage errors', () => {
  it.each([
    [
      ['copy', '--bogus', 'a', 'b'],
      'Nonexistent flag: --bogus',
      'airlock copy SOURCE DESTINATION [FLAGS]',
      'airlock copy --help',
    ],
    [
      ['copy', 'a', 'b', 'c'],
      'Unexpected argument: c',
      'airlock copy SOURCE DESTINATION [FLAGS]',
      'airlock copy --help',
    ],
    [
      ['bundle', 'create', '--nope'],
      'Nonexistent flag: --nope',
      'airlock bundle create',
      'airlock bundle create --help',
    ],
  ])('%j: the error, one usage line and where the help is; exit 2', async (args, error, usage, see) => {
    const r = await runCli(args)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    const lines = r.stderr.trimEnd().split('\n')
    expect(lines[0]).toBe(`Error: ${error}`)
    expect(lines.length).toBeLessThanOrEqual(4)
    expect(r.stderr).toContain(`Usage: ${usage}`)
    expect(r.stderr).toContain(`See ${see}`)
    expect(r.stderr).not.toContain('FLAGS\n')
  })

  it('--json still gives one JSON error document', async () => {
    const r = await runCli(['copy', '--bogus', 'a', 'b', '--json'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout).error.code).toBe('INVALID_INPUT')
  })
})

describe('help', () => {
  it.each([[['-h']], [['help']], [['--help']]])('%j shows the root help', async (args) => {
    const r = ok(await runCli(args), args.join(' '))
    expect(r.stdout).toContain('USAGE\n  $ airlock [COMMAND]')
    expect(r.stdout).toMatch(/^\s+copy\s+Copy an image/m)
  })

  it.each([[['copy', '-h']], [['help', 'copy']], [['copy', '--help']]])(
    '%j shows the help of copy',
    async (args) => {
      const r = ok(await runCli(args), args.join(' '))
      expect(r.stdout).toContain('$ airlock copy SOURCE DESTINATION')
      expect(r.stdout).toContain('--platform')
    },
  )

  it('help of a topic command: bundle create -h, help bundle create', async () => {
    for (const args of [
      ['bundle', 'create', '-h'],
      ['help', 'bundle', 'create'],
    ]) {
      const r = ok(await runCli(args), args.join(' '))
      expect(r.stdout).toContain('$ airlock bundle create')
    }
  })
})

describe('mistyped commands', () => {
  it.each([
    ['coppy', 'airlock copy'],
    ['mirorr', 'airlock mirror'],
    ['bundle creat', 'airlock bundle create'],
  ])('%s: suggests %s, exit 2, no prompt with stdin not a terminal', async (typed, suggestion) => {
    const r = await runCli(typed.split(' '), { timeoutMs: 20_000 })
    expect(r.code, 'timed out (a prompt?)').toBe(2)
    expect(r.stderr).toContain(`"${typed}" is not an airlock command`)
    expect(r.stderr).toContain(`Did you mean: ${suggestion}`)
    expect(r.stderr).not.toContain('?\u001b')
  })

  it('no suggestion for something far from every command', async () => {
    const r = await runCli(['zzzzzzzzzz'])
    expect(r.code).toBe(2)
    expect(r.stderr).not.toContain('Did you mean')
    expect(r.stderr).toContain('See airlock --help')
  })
})

describe("skopeo's copy flags for what airlock does anyway", () => {
  it('--all, --multi-arch all and --preserve-digests are accepted and documented', async () => {
    const src = `oci:${path.join(tmp, 'no-such-layout')}:x`
    const r = await runCli([
      'copy',
      '--all',
      '--multi-arch',
      'all',
      '--preserve-digests',
      src,
      `oci:${tmp}/out:x`,
    ])
    // Parsed: the copy itself fails on the missing source, not on the flags.
    expect(r.stderr).not.toMatch(/Nonexistent flag|Usage:/)
    expect(r.stderr).toContain('no-such-layout')
    const help = ok(await runCli(['copy', '--help']), 'copy --help')
    expect(help.stdout).toContain('SKOPEO COMPATIBILITY')
    for (const f of ['--all', '--multi-arch', '--preserve-digests']) expect(help.stdout).toContain(f)
  })

  it('--multi-arch system is a usage error pointing at --platform', async () => {
    const r = await runCli(['copy', '--multi-arch', 'system', 'a', 'b'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--multi-arch system is not supported')
    expect(r.stderr).toContain('--platform')
  })
})

describe('what the docs say to copy', () => {
  it('the YAML spec of mirror --help keeps its indentation and is a valid spec', async () => {
    const r = ok(
      await runCli(['mirror', '--help'], { env: { ...process.env, COLUMNS: '80' } }),
      'mirror --help',
    )
    const lines = r.stdout.split('\n')
    const start = lines.findIndex((l) => l.trim() === 'defaults:')
    const end = lines.findIndex((l, i) => i > start && l.trim() === '')
    expect(start).toBeGreaterThan(0)
    const block = lines.slice(start, end)
    const indent = block[0]!.match(/^ */)![0].length
    const yamlText = block.map((l) => l.slice(indent)).join('\n')
    const doc = parseYaml(yamlText)
    expect(doc.defaults.project).toBe('mirror')
    expect(doc.images).toHaveLength(2)
    const spec = parseMirrorSpec(stringify(doc), 'mirror --help')
    expect(spec.images.map((i) => i.source)).toEqual(['docker.io/library/alpine', 'docker.io/library/python'])
  })

  it.each([
    ['README.md', '.bashrc'],
    ['docs/install.md', '.bashrc'],
    ['docs/install.md', '.zshrc'],
  ])('the completion line of %s keeps a %s without a final newline intact', async (doc, rc) => {
    const shell = rc === '.bashrc' ? 'bash' : 'zsh'
    const line = readFileSync(path.join(ROOT, doc), 'utf8')
      .split('\n')
      .find((l) => l.includes(`autocomplete script ${shell}`) && l.includes(`~/${rc}`))!
    expect(line).toBeDefined()
    // Just the append: an `airlock` that prints a script without a final newline either.
    const cmd = line.slice(line.indexOf('printf')).replace(/\s*(;|#).*$/, '')
    const home = mkdtempSync(path.join(tmp, 'home-'))
    writeFileSync(path.join(home, rc), 'alias ll="ls -l"')
    const stub = `airlock() { printf 'complete -F _airlock airlock'; }`
    ok(
      await runProcess('bash', ['-c', `${stub}; ${cmd}; echo 'export EDITOR=vi' >> ~/${rc}`], {
        env: { PATH: '/usr/bin:/bin', HOME: home },
      }),
      cmd,
    )
    const after = readFileSync(path.join(home, rc), 'utf8').split('\n')
    expect(after).toContain('alias ll="ls -l"')
    expect(after).toContain('complete -F _airlock airlock')
    expect(after).toContain('export EDITOR=vi')
  })
})
