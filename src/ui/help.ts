/**
 * oclif's help, with descriptions rendered as written where they are indented: a line that starts
 * with whitespace (a YAML example, a table of references, the exit codes) is kept byte for byte so it
 * can be copied; other lines are wrapped to the terminal as oclif does. Named in package.json
 * (oclif.helpClass); loaded only when help is shown.
 */
import { CommandHelp, Help } from '@oclif/core'

class AirlockCommandHelp extends CommandHelp {
  protected override description(): string | undefined {
    const cmd = this.command
    if (!cmd.description) return super.description()
    const text = cmd.summary ? `${cmd.summary}\n\n${cmd.description}` : cmd.description
    return text
      .split(/\r?\n/)
      .map((line) => (line === '' || /^\s/.test(line) ? line : this.wrap(line)))
      .join('\n')
  }
}

export default class AirlockHelp extends Help {
  protected override CommandHelpClass = AirlockCommandHelp
}
