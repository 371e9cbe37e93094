/**
 * Runs a workflow guide (docs/guides/*.md) as its reader would: the fenced code blocks in order, in one
 * bash session (`set -Eeuo pipefail`), against local services.
 *
 * Block kinds, by the fence's info string:
 * - ```sh           run.
 * - ```sh norun     shown, not run (for what cannot run in a test, e.g. `systemctl enable --now`);
 *                   its `airlock` command lines are still checked (airlockCommandLines).
 * - ```LANG file=P  (yaml, ini, cron, json, …) the file the text tells the reader to save as P: written
 *                   to P (after substitution) at that point of the session, relative to its working
 *                   directory; `~/` is the reader's home.
 * - ```text expect  output the guide shows (trimmed) after the sh block before it: every line must be
 *                   found in that block's output (`…` for any text; see unmetExpectations).
 * - anything else   (```text, ```json, ```yaml without file=, …) shown only.
 *
 * Host names and absolute paths in the guide (harbor.example.org, /etc/airlock, …) are replaced by the
 * local ones through the substitution table the caller passes (one pass, longest key first, never inside
 * a longer name), and what runs or is written must not mention an example host or docker.io afterwards,
 * so nothing a guide runs can reach the internet.
 *
 * `airlock` is the built CLI (a wrapper around bin/run.js in a bin directory first on PATH); `sudo CMD`
 * runs CMD (the test is its own root: paths under / are mapped into a temporary root).
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { BIN, runProcess } from './cli.js'

// ---------------------------------------------------------------------------------------------------------
// Markdown: fenced blocks and inline code
// ---------------------------------------------------------------------------------------------------------

export interface GuideBlock {
  /** First word of the info string: `sh`, `yaml`, `ini`, `cron`, `text`, … */
  lang: string
  /** Bare words after the language (`norun`). */
  words: string[]
  /** `key=value` words after the language (`file=/etc/airlock/mirror.yaml`). */
  attrs: Record<string, string>
  body: string
  /** 1-based line of the opening fence. */
  line: number
}

/** Is this block run by the runner? */
export function runs(b: GuideBlock): boolean {
  return (b.lang === 'sh' || b.lang === 'bash') && !b.words.includes('norun')
}

export function parseBlocks(markdown: string): GuideBlock[] {
  const lines = markdown.split('\n')
  const blocks: GuideBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]!)
    if (!open) continue
    const [, indent, fence, info] = open as unknown as [string, string, string, string]
    const body: string[] = []
    let j = i + 1
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`)
    for (; j < lines.length && !close.test(lines[j]!); j++) {
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart())
    }
    if (j >= lines.length) throw new Error(`unclosed code fence at line ${i + 1}`)
    const [lang = '', ...rest] = info.trim().split(/\s+/).filter(Boolean)
    const attrs: Record<string, string> = {}
    const words: string[] = []
    for (const w of rest) {
      const eq = w.indexOf('=')
      if (eq > 0) attrs[w.slice(0, eq)] = w.slice(eq + 1)
      else words.push(w)
    }
    blocks.push({ lang, words, attrs, body: body.join('\n'), line: i + 1 })
    i = j
  }
  return blocks
}

/** Inline code spans outside fenced blocks (`airlock quota --node NAME`), a line break in one as a space. */
export function inlineCode(markdown: string): string[] {
  const prose: string[] = []
  let inFence = false
  for (const line of markdown.split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) {
      inFence = !inFence
      prose.push('')
      continue
    }
    prose.push(inFence ? '' : line)
  }
  // A span may run over a line break, not over a blank line (a new paragraph).
  const out: string[] = []
  for (const para of prose.join('\n').split(/\n\s*\n/)) {
    for (const m of para.matchAll(/(`+)(?!`)([\s\S]+?)(?<!`)\1(?!`)/g))
      out.push(m[2]!.replace(/\s+/g, ' ').trim())
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Substitution
// ---------------------------------------------------------------------------------------------------------

export type Substitutions = ReadonlyArray<readonly [from: string, to: string]>

/**
 * One pass over `text`: every key (longest first) replaced where it is not part of a longer host name
 * or path (`index.docker.io` and `/x/etc/airlock` stay as they are), so a replacement is never
 * replaced again.
 */
export function substitute(text: string, table: Substitutions): string {
  if (table.length === 0) return text
  const keys = [...table].sort((a, b) => b[0].length - a[0].length)
  const map = new Map(keys)
  const alternation = (paths: boolean) =>
    keys
      .filter(([k]) => k.startsWith('/') === paths)
      .map(([k]) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('|') || '(?!)'
  // A path never continues one (`/x/etc/airlock`); a host may follow a `/` (`docker://docker.io`).
  const re = new RegExp(
    `(?:(?<![\\w.\\-/])(?:${alternation(true)})|(?<![\\w.\\-])(?:${alternation(false)}))(?![\\w\\-]|\\.\\w)`,
    'g',
  )
  return text.replace(re, (m) => map.get(m)!)
}

/** Names that must not be left in what a guide runs or writes once substituted (no network escapes). */
const OUTSIDE = /\b[\w-]+\.example\.(?:org|com|net)\b|\bdocker\.io\b|\bquay\.io\b|\bghcr\.io\b/

// ---------------------------------------------------------------------------------------------------------
// Shell command lines (enough of the POSIX grammar to find simple commands and their words)
// ---------------------------------------------------------------------------------------------------------

const OPERATORS = ['&&', '||', ';;', '|&', '|', ';', '&', '(', ')', '\n']
const RESERVED = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '!', '{', '}'])
const WRAPPERS = new Set(['sudo', 'exec', 'time', 'nohup', 'command', 'env'])

/**
 * The simple commands of a shell text, each as its words with quotes removed (expansions such as
 * `$VAR` or `$(…)` stay as written). Commands inside `$(…)` are listed too. Comments, redirections
 * and here-document bodies are skipped.
 */
export function simpleCommands(src: string): string[][] {
  const commands: string[][] = []
  let words: string[] = []
  let word: string | null = null
  let pendingHeredocs: Array<{ tag: string; strip: boolean }> = []
  let skipNextWord = false
  const endWord = () => {
    if (word === null) return
    if (skipNextWord) skipNextWord = false
    else words.push(word)
    word = null
  }
  const endCommand = () => {
    endWord()
    if (words.length) commands.push(words)
    words = []
  }
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (c === '\\' && src[i + 1] === '\n') {
      i += 2
      continue
    }
    if (word === null && c === '#') {
      while (i < src.length && src[i] !== '\n') i++
      continue
    }
    if (c === '\n' && pendingHeredocs.length) {
      endCommand()
      i++
      for (const h of pendingHeredocs) {
        while (i < src.length) {
          const eol = src.indexOf('\n', i)
          const line = src.slice(i, eol < 0 ? src.length : eol)
          i = eol < 0 ? src.length : eol + 1
          if ((h.strip ? line.replace(/^\t+/, '') : line) === h.tag) break
        }
      }
      pendingHeredocs = []
      continue
    }
    if (c === ' ' || c === '\t') {
      endWord()
      i++
      continue
    }
    if (c === "'") {
      const end = src.indexOf("'", i + 1)
      if (end < 0) throw new Error(`unterminated ' in: ${src.slice(i, i + 60)}`)
      word = (word ?? '') + src.slice(i + 1, end)
      i = end + 1
      continue
    }
    if (c === '"') {
      let j = i + 1
      let text = ''
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\' && j + 1 < src.length) {
          text += src[j + 1]
          j += 2
        } else if (src[j] === '$' && src[j + 1] === '(') {
          const end = matchParen(src, j + 1)
          commands.push(...simpleCommands(src.slice(j + 2, end)))
          text += src.slice(j, end + 1)
          j = end + 1
        } else text += src[j++]
      }
      word = (word ?? '') + text
      i = j + 1
      continue
    }
    if (c === '$' && src[i + 1] === '(') {
      const end = matchParen(src, i + 1)
      commands.push(...simpleCommands(src.slice(i + 2, end)))
      word = (word ?? '') + src.slice(i, end + 1)
      i = end + 1
      continue
    }
    // Redirections: [n]> [n]>> < <<< <<TAG <<-TAG >&n; the target is not a word of the command.
    const redir = /^(\d*)(<<-?|<<<|>>|>&|<&|>|<)/.exec(src.slice(i))
    if (redir && (word === null || /^\d+$/.test(word))) {
      word = null
      i += redir[0].length
      while (src[i] === ' ' || src[i] === '\t') i++
      if (redir[2] === '<<' || redir[2] === '<<-') {
        const m = /^(['"]?)([\w-]+)\1/.exec(src.slice(i))
        if (!m) throw new Error(`bad here-document at: ${src.slice(i, i + 40)}`)
        pendingHeredocs.push({ tag: m[2]!, strip: redir[2] === '<<-' })
        i += m[0].length
      } else if (redir[2] === '>&' || redir[2] === '<&') {
        const m = /^[\d-]+/.exec(src.slice(i))
        i += m ? m[0].length : 0
      } else {
        skipNextWord = true
      }
      continue
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i))
    if (op) {
      endCommand()
      i += op.length
      continue
    }
    if (c === '\\') {
      word = (word ?? '') + (src[i + 1] ?? '')
      i += 2
      continue
    }
    word = (word ?? '') + c
    i++
  }
  endCommand()
  return commands
}

function matchParen(src: string, open: number): number {
  let depth = 0
  let quote: string | null = null
  for (let i = open; i < src.length; i++) {
    const c = src[i]
    if (quote) {
      if (c === quote) quote = null
      else if (c === '\\' && quote === '"') i++
      continue
    }
    if (c === "'" || c === '"') quote = c
    else if (c === '(') depth++
    else if (c === ')' && --depth === 0) return i
  }
  throw new Error(`unbalanced $( in: ${src.slice(open - 1, open + 60)}`)
}

/** The words after `airlock` when this simple command runs airlock (after assignments, sudo, exec …). */
export function airlockArgv(words: string[]): string[] | undefined {
  let i = 0
  while (i < words.length) {
    const w = words[i]!
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) || RESERVED.has(w) || WRAPPERS.has(w)) i++
    else break
  }
  const cmd = words[i]
  if (cmd === undefined || (cmd !== 'airlock' && !cmd.endsWith('/airlock'))) return undefined
  return words.slice(i + 1)
}

export interface CommandLine {
  /** Where it was found: `sh block at line 12`, `inline code`, … */
  where: string
  argv: string[]
  /** A mention in the text (`airlock mirror`), not a whole command line: arguments may be left out. */
  mention?: boolean
}

/** Shell text of a cron.d file's entries (the command after the schedule and the user). */
export function cronCommands(body: string): Array<{ schedule: string[]; user: string; command: string }> {
  const out = []
  for (const raw of body.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) continue
    const fields = line.split(/\s+/)
    const n = fields[0]!.startsWith('@') ? 1 : 5
    const rest = line.replace(new RegExp(`^(\\S+\\s+){${n + 1}}`), '')
    out.push({ schedule: fields.slice(0, n), user: fields[n]!, command: rest })
  }
  return out
}

/** `KEY=value` settings of an ini/systemd block, in order (Exec lines with their prefixes removed). */
export function iniSettings(body: string): Array<{ section: string; key: string; value: string }> {
  const out = []
  let section = ''
  for (const raw of body.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#') || line.startsWith(';')) continue
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec) {
      section = sec[1]!
      continue
    }
    const eq = line.indexOf('=')
    if (eq > 0) out.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() })
  }
  return out
}

/** Every container of every Pod template in the YAML documents, with its argv (command + args). */
export function k8sContainers(
  body: string,
): Array<{ kind: string; name: string; container: Record<string, unknown>; argv: string[] }> {
  const out: Array<{ kind: string; name: string; container: Record<string, unknown>; argv: string[] }> = []
  for (const doc of parseAllDocuments(body)) {
    if (doc.errors.length) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`)
    const obj = doc.toJS() as Record<string, unknown> | null
    if (!obj || typeof obj !== 'object') continue
    const kind = String(obj.kind ?? '')
    const name = String((obj.metadata as { name?: string } | undefined)?.name ?? '')
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(visit)
      else if (node && typeof node === 'object') {
        const rec = node as Record<string, unknown>
        for (const key of ['containers', 'initContainers']) {
          const list = rec[key]
          if (Array.isArray(list) && list.every((c) => c && typeof c === 'object' && 'image' in c)) {
            for (const c of list as Array<Record<string, unknown>>) {
              const argv = [...((c.command as string[]) ?? []), ...((c.args as string[]) ?? [])].map(String)
              out.push({ kind, name, container: c, argv })
            }
          }
        }
        Object.values(rec).forEach(visit)
      }
    }
    visit(obj)
  }
  return out
}

/** Argv lists of the shell text of one command: `sh -c SCRIPT` is looked into. */
function argvsOf(argv: string[]): string[][] {
  if ((argv[0] === 'sh' || argv[0] === 'bash' || argv[0] === '/bin/sh') && argv[1] === '-c' && argv[2])
    return simpleCommands(argv[2])
  return [argv]
}

/** Every `airlock …` command line of a guide: run and norun sh blocks, unit files, cron, YAML, inline code. */
export function airlockCommandLines(markdown: string): CommandLine[] {
  const out: CommandLine[] = []
  const add = (where: string, commands: string[][], mention = false) => {
    for (const words of commands) {
      const argv = airlockArgv(words)
      if (argv) out.push({ where, argv, ...(mention ? { mention } : {}) })
    }
  }
  for (const b of parseBlocks(markdown)) {
    const where = `${b.lang}${b.words.length ? ` ${b.words.join(' ')}` : ''} block at line ${b.line}`
    if (b.lang === 'sh' || b.lang === 'bash' || b.lang === 'shell') add(where, simpleCommands(b.body))
    else if (b.lang === 'ini' || b.lang === 'systemd') {
      for (const s of iniSettings(b.body))
        if (/^Exec/.test(s.key)) add(where, simpleCommands(s.value.replace(/^[-@:+!]+/, '')))
    } else if (b.lang === 'cron' || b.lang === 'crontab') {
      for (const e of cronCommands(b.body)) add(where, simpleCommands(e.command))
    } else if (b.lang === 'yaml' || b.lang === 'yml') {
      let containers: ReturnType<typeof k8sContainers> = []
      try {
        containers = k8sContainers(b.body)
      } catch {
        containers = []
      }
      for (const c of containers) add(where, argvsOf(c.argv))
    }
  }
  for (const code of inlineCode(markdown))
    if (/^(sudo\s+)?airlock\s/.test(code)) add('inline code', simpleCommands(code), true)
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Checking command lines against oclif.manifest.json
// ---------------------------------------------------------------------------------------------------------

interface ManifestFlag {
  type: 'boolean' | 'option'
  required?: boolean
  char?: string
  allowNo?: boolean
  options?: string[]
}
interface ManifestCommand {
  args: Record<string, { required?: boolean }>
  strict?: boolean
  flags: Record<string, ManifestFlag>
}
export interface Manifest {
  commands: Record<string, ManifestCommand>
}

const literal = (v: string) => !/[$`*?[]/.test(v)

/** Why this argv (the words after `airlock`) would not parse, or undefined when it does. */
export function checkArgv(
  argv: string[],
  manifest: Manifest,
  opts: { mention?: boolean } = {},
): string | undefined {
  if (argv.length === 0 || ['--version', '--help', '-h', 'help'].includes(argv[0]!)) return undefined
  const positional = argv.findIndex((w) => w.startsWith('-'))
  const head = positional < 0 ? argv : argv.slice(0, positional)
  let id: string | undefined
  let used = 0
  for (let n = Math.min(head.length, 3); n >= 1; n--) {
    const candidate = head.slice(0, n).join(':')
    if (manifest.commands[candidate]) {
      id = candidate
      used = n
      break
    }
  }
  if (!id) return `no command "airlock ${argv[0]}"`
  const cmd = manifest.commands[id]!
  const byChar = new Map(
    Object.entries(cmd.flags)
      .filter(([, f]) => f.char)
      .map(([name, f]) => [f.char!, name]),
  )
  const checkValue = (name: string, value: string | undefined): string | undefined => {
    if (value === undefined) return `--${name} needs a value`
    const f = cmd.flags[name]!
    if (f.options && literal(value) && !f.options.includes(value))
      return `--${name} ${value}: not one of ${f.options.join('|')}`
    return undefined
  }
  let args = 0
  let help = false
  const seen = new Set<string>()
  for (let i = used; i < argv.length; i++) {
    const w = argv[i]!
    if (w === '--') {
      args += argv.length - i - 1
      break
    }
    if (w === '--help' || w === '-h') {
      help = true
      continue
    }
    if (w.startsWith('--')) {
      const eq = w.indexOf('=')
      const name = eq < 0 ? w.slice(2) : w.slice(2, eq)
      const f = cmd.flags[name]
      if (!f) {
        const negated = name.startsWith('no-') ? cmd.flags[name.slice(3)] : undefined
        if (negated?.allowNo && eq < 0) continue
        return `airlock ${id.replace(/:/g, ' ')} has no flag --${name}`
      }
      seen.add(name)
      if (f.type === 'boolean') {
        if (eq >= 0) return `--${name} takes no value`
        continue
      }
      const problem = checkValue(name, eq < 0 ? argv[++i] : w.slice(eq + 1))
      if (problem) return problem
      continue
    }
    if (w.startsWith('-') && w.length > 1 && literal(w)) {
      const name = byChar.get(w[1]!)
      if (!name) return `airlock ${id.replace(/:/g, ' ')} has no flag ${w.slice(0, 2)}`
      const f = cmd.flags[name]!
      seen.add(name)
      if (f.type === 'option') {
        const problem = checkValue(name, w.length > 2 ? w.slice(2) : argv[++i])
        if (problem) return problem
      } else if (w.length > 2) return `${w}: -${w[1]} takes no value`
      continue
    }
    args++
  }
  const declared = Object.values(cmd.args)
  if (cmd.strict !== false && args > declared.length)
    return `airlock ${id.replace(/:/g, ' ')} takes ${declared.length} argument(s), got ${args}`
  if (!help && !opts.mention) {
    const required = declared.filter((a) => a.required).length
    if (args < required) return `airlock ${id.replace(/:/g, ' ')} needs ${required} argument(s), got ${args}`
    const missing = Object.entries(cmd.flags).filter(([n, f]) => f.required && !seen.has(n))
    if (missing.length)
      return `airlock ${id.replace(/:/g, ' ')} needs ${missing.map(([n]) => `--${n}`).join(', ')}`
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// Running a guide
// ---------------------------------------------------------------------------------------------------------

export interface GuideSandbox {
  /** Temporary directory holding everything below. */
  dir: string
  /** Stands in for `/`: absolute paths of the guide (/etc/airlock, …) are mapped below it. */
  root: string
  /** The reader's HOME (no auth files, no config). */
  home: string
  /** Working directory the session starts in. */
  work: string
  /** First on PATH: `airlock` (the built CLI) and whatever the caller adds (addTool). */
  bin: string
  /** The environment of the session (HOME, PATH, …; XDG_RUNTIME_DIR and auth variables unset). */
  env: Record<string, string>
  /** Puts an executable script into `bin`. */
  addTool(name: string, script: string): string
}

export function makeSandbox(name: string): GuideSandbox {
  const dir = mkdtempSync(path.join(tmpdir(), `airlock-guide-${name}-`))
  const [root, home, work, bin] = ['root', 'home', 'work', 'bin'].map((d) => path.join(dir, d)) as [
    string,
    string,
    string,
    string,
  ]
  for (const d of [root, home, work, bin]) mkdirSync(d, { recursive: true })
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      /^(AWS_|PROMINENCE_|REGISTRY_AUTH_FILE$|DOCKER_|XDG_|CONTAINERS_|AIRLOCK_)/.test(k)
    )
      continue
    env[k] = v
  }
  Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    // The SDK's notice that Node 20 support ends would be noise in every S3 command's output.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    NO_COLOR: '1',
  })
  const addTool = (tool: string, script: string) => {
    const file = path.join(bin, tool)
    writeFileSync(file, script)
    chmodSync(file, 0o755)
    return file
  }
  addTool('airlock', `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`)
  return { dir, root, home, work, bin, env, addTool }
}

export interface GuideRunOptions {
  /** The guide's markdown file. */
  file: string
  sandbox: GuideSandbox
  substitutions: Substitutions
  /** More environment (the reader's secrets, service settings); wins over the sandbox's. */
  env?: Record<string, string>
  /** What the reader types when a command asks (the session's stdin); nothing by default. */
  input?: string
  timeoutMs?: number
}

export interface GuideRun {
  code: number | null
  /** stdout and stderr of the whole session, interleaved. */
  output: string
  /** The blocks after substitution. */
  blocks: GuideBlock[]
  /** The bash script that ran. */
  script: string
}

function heredocTag(body: string, n: number): string {
  let tag = `GUIDE_FILE_${n}`
  while (body.includes(tag)) tag += '_'
  return tag
}

/** The bash script for the blocks: sh blocks verbatim, file blocks as here-documents, in order. */
export function guideScript(blocks: GuideBlock[]): string {
  const parts = [
    'set -Eeuo pipefail',
    'exec 2>&1',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
    'sudo() { if [[ "${1:-}" == -* ]]; then echo "guide-runner: sudo $1 is not supported" >&2; return 2; fi; "$@"; }',
    'trap \'echo "guide-runner: $GUIDE_AT failed (exit $?): $BASH_COMMAND" >&2\' ERR',
  ]
  blocks.forEach((b, n) => {
    const at = `${b.lang} block at line ${b.line}`
    if (b.attrs.file) {
      const tag = heredocTag(b.body, n)
      // `~/…` is the reader's home, as a shell would expand it.
      const file = b.attrs.file.startsWith('~/')
        ? `"$HOME"/${JSON.stringify(b.attrs.file.slice(2))}`
        : JSON.stringify(b.attrs.file)
      parts.push(
        `GUIDE_AT=${JSON.stringify(`file ${b.attrs.file} (${at})`)}`,
        `mkdir -p "$(dirname ${file})"`,
        `cat > ${file} <<'${tag}'\n${b.body}\n${tag}`,
      )
    } else if (runs(b)) {
      parts.push(`GUIDE_AT=${JSON.stringify(at)}`, `echo "guide-runner: ${at}"`, b.body)
    }
  })
  parts.push('GUIDE_AT=end', 'echo "guide-runner: done"')
  return `${parts.join('\n')}\n`
}

export async function runGuide(opts: GuideRunOptions): Promise<GuideRun> {
  const markdown = substitute(readFileSync(opts.file, 'utf8'), opts.substitutions)
  const blocks = parseBlocks(markdown)
  for (const b of blocks) {
    if (!(runs(b) || b.attrs.file)) continue
    const leak = OUTSIDE.exec(b.body) ?? (b.attrs.file ? OUTSIDE.exec(b.attrs.file) : null)
    if (leak) {
      throw new Error(
        `${path.basename(opts.file)}: ${b.lang} block at line ${b.line} still names ${leak[0]} after substitution; add it to the table`,
      )
    }
  }
  if (!blocks.some(runs)) throw new Error(`${path.basename(opts.file)} has no sh block to run`)
  const script = guideScript(blocks)
  const scriptFile = path.join(opts.sandbox.dir, 'guide.sh')
  writeFileSync(scriptFile, script)
  const r = await runProcess('bash', ['--noprofile', '--norc', scriptFile], {
    cwd: opts.sandbox.work,
    env: { ...opts.sandbox.env, ...opts.env },
    input: opts.input ?? '',
    timeoutMs: opts.timeoutMs ?? 120_000,
  })
  const output = r.timedOut ? `${r.output}\nguide-runner: timed out\n` : r.output
  return { code: r.code, output, blocks, script }
}

/**
 * ```text expect blocks: the output a guide shows after a command, trimmed. Each line of one must be
 * found in the output of the closest run block before it: `…` stands for any text, a run of spaces
 * for any run of whitespace, and the rest is literal (after substitution, like the whole guide).
 * Returns what was not found.
 */
export function unmetExpectations(run: GuideRun): string[] {
  const segments = new Map<number, string[]>()
  let current: string[] | undefined
  for (const line of run.output.split('\n')) {
    const m = /^guide-runner: (?:sh|bash) block at line (\d+)$/.exec(line)
    if (m) {
      current = []
      segments.set(Number(m[1]), current)
    } else current?.push(line)
  }
  const problems: string[] = []
  let lastRun: GuideBlock | undefined
  for (const b of run.blocks) {
    if (runs(b)) lastRun = b
    if (b.lang !== 'text' || !b.words.includes('expect')) continue
    if (!lastRun) {
      problems.push(`text expect block at line ${b.line} follows no sh block`)
      continue
    }
    const out = segments.get(lastRun.line) ?? []
    for (const want of b.body.split('\n').map((l) => l.trim())) {
      if (!want || want === '…') continue
      const re = new RegExp(
        want
          .split('…')
          .map((part) =>
            part
              .split(/\s+/)
              .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
              .join('\\s+'),
          )
          .join('.*'),
      )
      if (!out.some((l) => re.test(l)))
        problems.push(
          `line ${b.line}: "${want}" is not in the output of the sh block at line ${lastRun.line}`,
        )
    }
  }
  return problems
}

/** Runs a command line (systemd ExecStart, a cron command, a container's argv) the way its runner would. */
export async function runCommand(
  argv: string[],
  opts: { cwd: string; env: Record<string, string>; timeoutMs?: number },
): Promise<{ code: number | null; output: string }> {
  const r = await runProcess(argv[0]!, argv.slice(1), { ...opts, timeoutMs: opts.timeoutMs ?? 60_000 })
  return { code: r.code, output: r.output }
}
