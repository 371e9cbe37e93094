/**
 * YAML files checked against a schema (zod), with errors that name the file, line and column and
 * say what was expected: `airlock.yaml:4:11: harbor.project: expected string, received number`.
 * Used by the airlock config file and the mirror spec.
 */
import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument } from 'yaml'
import type { z } from 'zod'
import { AirlockError } from '../errors.js'

type Path = ReadonlyArray<PropertyKey>

/** `formatHint` is the hint of a file that breaks the schema (where the format is described). */
export async function loadYamlFile<T>(
  file: string,
  schema: z.ZodType<T>,
  what: string,
  formatHint?: string,
): Promise<T> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // A file the user named that is not there is bad input (exit 2), as a missing archive is.
    throw new AirlockError(
      'INVALID_INPUT',
      `cannot read ${what} ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
      { hint: `check the path of the ${what}`, cause: err },
    )
  }
  return parseYamlText(text, file, schema, what, formatHint)
}

export function parseYamlText<T>(
  text: string,
  file: string,
  schema: z.ZodType<T>,
  what: string,
  formatHint = `see docs/ for the ${what} format`,
): T {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length) {
    const e = doc.errors[0]
    const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0])
    const where = `${file}:${pos.line}:${pos.col}`
    throw new AirlockError('INVALID_INPUT', `${where}: ${what} is not valid YAML: ${firstLine(e.message)}`, {
      hint: 'fix the YAML syntax at that position (indentation, quotes, a missing colon)',
    })
  }
  const result = schema.safeParse(doc.toJS() ?? {})
  if (result.success) return result.data
  const problems = result.error.issues.slice(0, 5).map((issue) => {
    const { line, col } = position(doc, lines, issue.path)
    const key = issue.path.length ? issue.path.map(String).join('.') : '(top level)'
    return `${file}:${line}:${col}: ${key}: ${issue.message}`
  })
  const more = result.error.issues.length - problems.length
  throw new AirlockError(
    'INVALID_INPUT',
    `${what} ${file} is not valid:\n  ${problems.join('\n  ')}${more > 0 ? `\n  (${more} more)` : ''}`,
    { hint: formatHint },
  )
}

/** Where the value at `path` starts, or its nearest existing parent (for a missing key). */
function position(
  doc: ReturnType<typeof parseDocument>,
  lines: LineCounter,
  path: Path,
): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as
      | { range?: [number, number, number] }
      | undefined
    if (node && typeof node === 'object' && node.range) return lines.linePos(node.range[0])
    // A key whose value is missing or scalar-less: fall back to the document start.
  }
  return { line: 1, col: 1 }
}

function firstLine(s: string): string {
  return s.split('\n')[0]
}
