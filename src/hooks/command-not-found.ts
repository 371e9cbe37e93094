/**
 * `airlock coppy`: say what is wrong and which commands are near, then exit 2 (a usage error).
 * Never prompts and never runs a guessed command (oclif's plugin-not-found would ask on a TTY).
 */
import type { Hook } from '@oclif/core'

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]
}

/** The nearest commands to `id`, if within a few edits (or starting with it). */
export function nearCommands(id: string, ids: string[]): string[] {
  const limit = Math.max(2, Math.floor(id.length / 3))
  const scored = ids.map((c) => ({ c, d: c.startsWith(id) ? 0.5 : distance(id, c) }))
  const best = Math.min(limit, ...scored.map(({ d }) => d))
  return scored
    .filter(({ d }) => d <= best)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, 3)
    .map(({ c }) => c)
}

const hook: Hook<'command_not_found'> = async function (opts) {
  const sep = opts.config.topicSeparator
  const show = (id: string) => id.replaceAll(':', sep)
  const ids = opts.config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases])
  const near = nearCommands(opts.id, ids)
  const bin = opts.config.bin
  let text = `Error: "${show(opts.id)}" is not an ${bin} command.\n`
  if (near.length > 0) text += `Did you mean: ${near.map((c) => `${bin} ${show(c)}`).join(', ')}?\n`
  text += `See ${bin} --help for the list of commands.\n`
  process.stderr.write(text)
  this.exit(2)
}

export default hook
