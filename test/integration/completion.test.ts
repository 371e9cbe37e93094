/**
 * Shell completion (@oclif/plugin-autocomplete) set up as docs/install.md says, in an isolated HOME,
 * and driven in real shells: bash by calling the function that `complete -p airlock` names with
 * COMP_WORDS/COMP_CWORD, zsh interactively on a pseudo-terminal (zsh/zpty) by typing TAB.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, ok, runProcess } from '../helpers/cli.js'

/** A program run in the HOME of `env`. */
const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs?: number) =>
  runProcess(cmd, args, { env, cwd: env.HOME, timeoutMs })

let tmp: string
let env: NodeJS.ProcessEnv
let cacheDir: string

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'airlock-completion-'))
  const home = path.join(tmp, 'home')
  const bin = path.join(tmp, 'bin')
  mkdirSync(home)
  mkdirSync(bin)
  // `airlock` on PATH, as an installed one is (the build of this checkout).
  writeFileSync(path.join(bin, 'airlock'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`)
  chmodSync(path.join(bin, 'airlock'), 0o755)
  cacheDir = path.join(home, '.cache')
  env = {
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    XDG_CACHE_HOME: cacheDir,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    LANG: 'C.UTF-8',
    TERM: 'xterm',
  }
  // The steps of docs/install.md: build the completion files, hook them into both shells' rc files.
  ok(await run('airlock', ['autocomplete', '-r'], env), 'airlock autocomplete -r')
  ok(
    await run('bash', ['-c', `printf '\\n%s\\n' "$(airlock autocomplete script bash)" >> ~/.bashrc`], env),
    'bashrc',
  )
  ok(
    await run('bash', ['-c', `printf '\\n%s\\n' "$(airlock autocomplete script zsh)" >> ~/.zshrc`], env),
    'zshrc',
  )
})

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

describe('completion files', () => {
  it('are written under XDG_CACHE_HOME and hooked into ~/.bashrc and ~/.zshrc', () => {
    const dir = path.join(cacheDir, 'airlock', 'autocomplete')
    for (const f of ['bash_setup', 'zsh_setup', 'functions/bash/airlock.bash', 'functions/zsh/_airlock'])
      expect(existsSync(path.join(dir, f)), f).toBe(true)
    expect(readFileSync(path.join(env.HOME!, '.bashrc'), 'utf8')).toContain(
      `AIRLOCK_AC_BASH_SETUP_PATH=${path.join(dir, 'bash_setup')} && test -f $AIRLOCK_AC_BASH_SETUP_PATH && source $AIRLOCK_AC_BASH_SETUP_PATH;`,
    )
    expect(readFileSync(path.join(env.HOME!, '.zshrc'), 'utf8')).toContain(
      `AIRLOCK_AC_ZSH_SETUP_PATH=${path.join(dir, 'zsh_setup')}`,
    )
  })
})

describe('bash', () => {
  /**
   * What bash offers for TAB after `words` (the last one being the word under the cursor): sources
   * ~/.bashrc, finds the function `complete -p airlock` registers, and calls it as bash would.
   */
  async function complete(...words: string[]): Promise<string[]> {
    const script = [
      'source ~/.bashrc',
      'spec=$(complete -p airlock) || { echo "no completion for airlock" >&2; exit 3; }',
      `fn=\${spec#*-F }; fn=\${fn%% *}`,
      `COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}; COMPREPLY=()`,
      `"$fn" "$1" "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"`,
      `printf "%s\\n" "\${COMPREPLY[@]}"`,
    ].join('\n')
    const r = ok(
      await run('bash', ['-c', script, 'bash', ...words], env),
      `bash completion of ${words.join(' ')}`,
    )
    // Readline drops duplicates (the function offers a topic once per command in it).
    return [...new Set(r.stdout.split('\n').filter(Boolean))]
  }

  it('registers a completion function for airlock', async () => {
    const r = ok(await run('bash', ['-c', 'source ~/.bashrc && complete -p airlock'], env), 'complete -p')
    expect(r.stdout.trim()).toBe('complete -F _airlock_autocomplete airlock')
  })

  it('completes topics and commands: bun → bundle, si → sif, then their subcommands', async () => {
    expect(await complete('airlock', 'bun')).toEqual(['bundle'])
    expect(await complete('airlock', 'si')).toEqual(['sif'])
    expect(await complete('airlock', 'co')).toEqual(['copy'])
    expect(await complete('airlock', 'sif', '')).toEqual(expect.arrayContaining(['build', 'inspect']))
    expect(await complete('airlock', 'bundle', '')).toContain('create')
    expect(await complete('airlock', '')).toEqual(expect.arrayContaining(['copy', 'mirror', 'bundle', 'sif']))
  })

  it('lists the flags of the command typed: copy --<TAB>', async () => {
    const flags = await complete('airlock', 'copy', '--')
    expect(flags).toEqual(
      expect.arrayContaining(['--platform', '--src-creds', '--dest-tls-verify', '--json']),
    )
    expect(flags).not.toContain('--referrers') // a flag of bundle create, not of copy
    expect(await complete('airlock', 'copy', '--pla')).toEqual(['--platform'])
    expect(await complete('airlock', 'sif', 'build', '--squ')).toEqual(['--squashfs-tool'])
  })
})

describe('zsh', () => {
  /**
   * Types each input into an interactive zsh (reading only ~/.zshrc) on a pseudo-terminal, where
   * `airlock` is a function that prints its arguments, so `airlock bun<TAB><Enter>` prints what TAB
   * made of the line. An input `{wait:PATTERN}` waits until the terminal shows PATTERN (zle draws
   * nothing while typed input is pending). Returns everything the terminal showed.
   */
  async function typeInZsh(...inputs: string[]): Promise<string> {
    const driver = path.join(tmp, 'drive.zsh')
    writeFileSync(
      driver,
      [
        'zmodload zsh/zpty || exit 3',
        'zpty z zsh -d -i',
        `zpty -w z 'PS1="%% "; unsetopt beep; airlock() { print -r -- "ARGS<$*>" }'`,
        'all=""',
        'for input in "$@"; do',
        `  if [[ $input == "{wait:"*"}" ]]; then zpty -r z out "*\${input[7,-2]}*"; all+=$out`,
        '  else zpty -w -n z "$input"; fi',
        'done',
        `zpty -w z 'print END""MARK; exit'`,
        "zpty -r z out '*ENDMARK*'",
        'print -r -- "$all$out"',
      ].join('\n'),
    )
    const r = ok(await run('zsh', ['-f', driver, ...inputs], env, 20_000), 'zsh')
    return r.stdout.replaceAll('\r', '')
  }

  it('the generated _airlock is valid zsh and compinit binds it to airlock', async () => {
    const fn = path.join(cacheDir, 'airlock', 'autocomplete', 'functions', 'zsh', '_airlock')
    ok(await run('zsh', ['-n', fn], env), 'zsh -n _airlock')
    const r = ok(await run('zsh', ['-d', '-i', '-c', 'print -r -- "$_comps[airlock]"'], env), 'zsh -i')
    expect(r.stdout.trim()).toBe('_airlock')
  })

  it('completes bun<TAB> to bundle, sif b<TAB> to sif build, copy --pla<TAB> to --platform', async () => {
    const out = await typeInZsh('airlock bun\t\n', 'airlock sif b\t\n', 'airlock copy --pla\t\n')
    expect(out).toContain('ARGS<bundle>')
    expect(out).toContain('ARGS<sif build>')
    expect(out).toContain('ARGS<copy --platform>')
  })

  it('lists the flags of copy for copy --<TAB>', async () => {
    // TAB lists the choices under the line; ^U then clears the line.
    const out = await typeInZsh('airlock copy --\t', '{wait:dest-tls-verify}', '\x15\n')
    expect(out).toContain('--src-creds')
    expect(out).toContain('--dest-tls-verify')
    expect(out).not.toContain('--referrers')
  })
})
