/** The local file of an upload (S3 or PROMINENCE): checked up front (a clear exit 2), and read whole when small. */
import { open, stat } from 'node:fs/promises'
import { AirlockError } from '../errors.js'

/** Size of a regular file; INVALID_INPUT when it is missing, unreadable or not a file. */
export async function regularFileSize(file: string): Promise<number> {
  try {
    const st = await stat(file)
    if (!st.isFile()) throw new AirlockError('INVALID_INPUT', `${file} is not a regular file`)
    const fh = await open(file, 'r')
    await fh.close()
    return st.size
  } catch (err) {
    if (err instanceof AirlockError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new AirlockError(
      'INVALID_INPUT',
      code === 'ENOENT' ? `${file} does not exist` : `cannot read ${file} (${code ?? String(err)})`,
      { cause: err },
    )
  }
}

/** Exactly `size` bytes of the file, read once. */
export async function readWhole(file: string, size: number): Promise<Buffer> {
  const fh = await open(file, 'r')
  try {
    const buf = Buffer.alloc(size)
    let filled = 0
    while (filled < size) {
      const { bytesRead } = await fh.read(buf, filled, size - filled, filled)
      if (bytesRead === 0) {
        throw new AirlockError('SIZE_MISMATCH', `${file} got shorter while it was read`, {
          hint: 'do not change a file while it is uploaded',
        })
      }
      filled += bytesRead
    }
    return buf
  } finally {
    await fh.close()
  }
}
