/**
 * A password prompt on the terminal, echo off (as podman login asks when neither -p nor
 * --password-stdin is given).
 */
import { AirlockError } from '../lib/errors.js'

export async function promptSecret(question: string): Promise<string> {
  const { stdin, stderr } = process
  // Echo off before the question shows, so nothing typed after it is echoed.
  stdin.setRawMode(true)
  stdin.resume()
  stderr.write(question)
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = ''
      const onData = (chunk: Buffer) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData)
            resolve(text)
            return
          }
          if (ch === '\u0003') {
            stdin.off('data', onData)
            reject(new AirlockError('INTERRUPTED', 'interrupted at the password prompt; nothing was stored'))
            return
          }
          if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1)
          else text += ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    stderr.write('\n')
  }
}
