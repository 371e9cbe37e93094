/**
 * A usage error (an unknown flag, a missing or extra argument) is said in a few lines: the error,
 * a one-line usage and where the full help is. oclif would print the whole help after it (70 to
 * 110 lines), and the error scrolled away.
 */
import type { Command } from '@oclif/core'

/** True for oclif's flag and argument parse errors. */
export function isParseError(err: unknown): err is Error {
  return (
    err instanceof Error && 'parse' in err && (err as { oclif?: { exit?: number } }).oclif?.exit !== undefined
  )
}

/** `airlock copy SOURCE DESTINATION [FLAGS]` */
export function usageLine(bin: string, cmd: Command.Class): string {
  const args = Object.entries(cmd.args ?? {}).map(([name, a]) =>
    a.required ? name.toUpperCase() : `[${name.toUpperCase()}]`,
  )
  return [bin, ...(cmd.id ?? '').split(':'), ...args, '[FLAGS]'].filter(Boolean).join(' ')
}

export function usageErrorText(err: Error, bin: string, cmd: Command.Class): string {
  const message = err.message.replace(/\n?See more help with --help\s*$/, '')
  const name = [bin, ...(cmd.id ?? '').split(':')].join(' ')
  return `Error: ${message}\nUsage: ${usageLine(bin, cmd)}\nSee ${name} --help\n`
}
