/**
 * The two things the one top-down pass of flatten.ts cannot decide when it meets them, how it notices
 * them, and the plan that settles them.
 *
 * OCI image-spec layer.md ("Applying Changesets", "Changeset over existing files") applies a layer
 * like a tar extraction: entries in order, each replacing what is at its path (unless both are
 * directories), with the path resolved inside the root filesystem as it is at that moment. Two
 * consequences need knowledge that a top-down reader does not have yet:
 *
 * 1. A path repeated within one layer: the LAST entry wins (layer.md forbids duplicates, but GNU tar
 *    and umoci, which apptainer uses, apply them in order). Top-down, the first one was already
 *    written when the second arrives, and neither tar2sqfs (fails: "File exists") nor mksquashfs
 *    -tar (keeps the first) would replace it.
 * 2. A path that goes through a symbolic link: `lib/x.so` lands at `usr/lib/x.so` when `lib` is a
 *    symlink to `usr/lib` at that moment, in the same layer or in a lower one that the top-down pass
 *    has not read yet. umoci resolves the parent directory of every entry (and of hard link targets
 *    and whiteouts) with filepath-securejoin: inside the root, absolute targets from the root, `..`
 *    stopping at the root, non-existent components taken as they are, more than 255 links an error
 *    (ELOOP). The final component is never followed: an entry at a symlink's own path replaces it,
 *    a directory entry included (umoci without --keep-dirlinks, as apptainer runs it).
 *
 * Images built by docker, buildah or buildkit have neither (their layers are diffs of a real
 * filesystem), so the normal case costs nothing: `PlanCheck` watches the one pass for the signs of
 * either (a repeated path; a non-directory where this layer had entries below, or entries below a
 * symlink or link of this layer; a symlink where a layer above went through the path without a
 * directory entry of its own). The first sign stops the pass with `NeedsPlan`; `flattenInto` then
 * reads the layers' headers once, bottom-up (`planLayers`), replaying them as umoci would for the
 * two questions only (where each entry lands, which entries a later one replaces), and runs the
 * top-down pass again with that plan. Such an image costs up to three reads instead of one.
 *
 * Why the signs are enough: take the first entry (in application order) whose resolved path differs
 * from its name. The symlink it goes through was placed by an earlier entry whose own name was its
 * real path, a proper prefix of the later entry's name: in the same layer (a sign of this layer) or
 * in a lower one, which the top-down pass reaches after the upper layer marked the prefix (a sign
 * unless a layer in between replaced the prefix with a directory or removed it, and then the symlink
 * was gone).
 *
 * Memory: the check holds one layer's paths and the directories upper layers went through; making
 * the plan, one layer's paths and the image's symlinks; the plan itself, per layer, only the entries
 * it moves or drops.
 */
import { AirlockError } from '../errors.js'
import { type LayerSource, readLayer } from './flatten-layer.js'
import { displayName, type TarEntry } from './flatten-tar-out.js'

/** What the plan says of one entry, by its position in its layer. */
export interface PlannedEntry {
  /** Where the entry lands (its parent resolved through symlinks). */
  path?: string
  /** Hard links: the target, its parent resolved. */
  linkname?: string
  /** A later entry of the same layer replaced this one: it is not written. */
  superseded?: boolean
  /**
   * The entry was a non-directory that a later entry of the same layer replaced, after it had
   * replaced what the layers below had at its path: its path acts as a whiteout for them.
   */
  hidesLower?: boolean
}

/** Per layer (bottom first, as the layers are given), position -> what to do differently. */
export type FlattenPlan = Array<Map<number, PlannedEntry>>

/** Thrown by the one-pass flattening when the layers need a plan (see above); flattenInto handles it. */
export class NeedsPlan extends AirlockError {
  constructor(what: string) {
    super('INVALID_INPUT', `${what}; the layers need reading again with a plan (flattenInto does that)`)
  }
}

const LOOP_LIMIT = 255 // filepath-securejoin's, which umoci uses
const LOOP_HINT =
  'the image is invalid: a directory in it is a loop of symbolic links (umoci and podman refuse it too); rebuild it'

/** Proper ancestors of `path`, top first: `a/b/c` -> `a`, `a/b`. */
function* ancestors(path: string): Generator<string> {
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) yield path.slice(0, i)
}

// ---------------------------------------------------------------------------------------------
// The check during the one pass
// ---------------------------------------------------------------------------------------------

/** Per path in `through`: a layer above the current one went through it (it was not replaced since). */
const ABOVE = 1
/** The current layer went through it. */
const HERE = 2
/** Kinds in `seen`: the current layer only went through the path. */
const IMPLIED = 'i'
const NON_DIR = 'f'
/** A symlink or hard link: entries below it would go wherever it points. */
const LINK = 'l'

export class PlanCheck {
  /** Directories (names as written) that layers went through without a directory entry of their own first. */
  private readonly through = new Map<string, number>()
  /** The current layer: path -> kind, or 'd' + metadata for directory entries. */
  private seen = new Map<string, string>()
  private here: string[] = []
  /** Paths the current layer replaced with a directory entry or removed with a whiteout. */
  private replaced: string[] = []
  private label = ''

  startLayer(label: string): void {
    this.label = label
  }

  /** Every entry of the layer being read, markers included, in order; throws NeedsPlan. */
  entry(e: TarEntry): void {
    const path = e.path
    const slash = path.lastIndexOf('/')
    if (path.startsWith('.wh.', slash + 1)) {
      this.mark(path, slash, false)
      if (!path.startsWith('.wh..wh.', slash + 1)) {
        this.replaced.push(path.slice(0, slash + 1) + path.slice(slash + 5))
      }
      return
    }
    this.mark(path, slash, true)
    if (e.type === 'link') {
      const link = e.linkname ?? ''
      this.mark(link, link.lastIndexOf('/'), false)
    }
    const isDir = e.type === 'directory'
    const kind = isDir ? `d${dirSignature(e)}` : e.type === 'symlink' || e.type === 'link' ? LINK : NON_DIR
    const prev = this.seen.get(path)
    if (prev === IMPLIED) {
      if (!isDir) this.fire(`${displayName(path)} replaces entries the same layer has below it`)
    } else if (prev !== undefined && !(isDir && prev === kind)) {
      this.fire(`${displayName(path)} appears twice`)
    }
    if (kind === LINK && (this.through.get(path) ?? 0) & ABOVE) {
      this.fire(`${displayName(path)} is a link, and a layer above has entries below it`)
    }
    if (isDir) this.replaced.push(path)
    this.seen.set(path, kind)
  }

  /** After the layer's last entry: what it went through counts for the layers below. */
  endLayer(): void {
    // A directory entry or a whiteout here replaced or removed whatever lower layers had at the path.
    for (const p of this.replaced) {
      const f = this.through.get(p)
      if (f !== undefined && f & ABOVE) this.through.set(p, f & ~ABOVE)
    }
    for (const p of this.here) this.through.set(p, ABOVE)
    this.seen = new Map()
    this.here = []
    this.replaced = []
  }

  /**
   * The proper ancestors of `path` (its last slash at `slash`) are resolved, and for an entry made
   * directories where missing.
   */
  private mark(path: string, slash: number, entry: boolean): void {
    if (slash < 0) return
    // Its parent seen before in this layer: the ancestors were looked at then, and anything that
    // replaced one of them since was a sign already.
    const parent = this.seen.get(path.slice(0, slash))
    if (parent !== undefined && (parent === IMPLIED || parent[0] === 'd')) return
    for (let i = path.indexOf('/'); i !== -1 && i <= slash; i = path.indexOf('/', i + 1)) {
      const a = path.slice(0, i)
      const s = this.seen.get(a)
      if (s === LINK || (s === NON_DIR && entry)) {
        this.fire(
          `${displayName(path)} lies below ${displayName(a)}, which the same layer has as a non-directory`,
        )
      }
      if (s !== undefined && s !== IMPLIED) continue // a directory entry of this layer came first
      if (entry && s === undefined) this.seen.set(a, IMPLIED)
      const f = this.through.get(a) ?? 0
      if (!(f & HERE)) {
        this.through.set(a, f | HERE)
        this.here.push(a)
      }
    }
  }

  private fire(why: string): never {
    throw new NeedsPlan(`${this.label}: ${why}`)
  }
}

/** What a directory entry sets; two entries with the same signature are interchangeable. */
function dirSignature(e: TarEntry): string {
  const x = e.xattrs ? [...e.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).join(',') : ''
  return `${e.mode}:${e.uid}:${e.gid}:${e.uname ?? ''}:${e.gname ?? ''}:${e.mtime}:${x}`
}

// ---------------------------------------------------------------------------------------------
// The plan: the layers' headers replayed bottom-up
// ---------------------------------------------------------------------------------------------

/** The symlinks of the root filesystem at a point of the replay, by real path. */
class Symlinks {
  private readonly links = new Map<string, string>()
  /** Path -> number of symlinks strictly below it. */
  private readonly below = new Map<string, number>()
  /** Symlinks placed by the layer being replayed (whiteouts never remove those). */
  private mine = new Set<string>()

  startLayer(): void {
    this.mine = new Set()
  }

  get(path: string): string | undefined {
    return this.links.get(path)
  }

  set(path: string, target: string): void {
    if (!this.links.has(path)) this.count(path, 1)
    this.links.set(path, target)
    this.mine.add(path)
  }

  /** Removes the symlink at `path` and (`tree`) those below it; `keepMine`: not this layer's own. */
  remove(path: string, tree: boolean, keepMine = false): void {
    const drop = (p: string) => {
      if (keepMine && this.mine.has(p)) return
      if (this.links.delete(p)) this.count(p, -1)
    }
    drop(path)
    if (!tree || !this.below.get(path)) return
    const prefix = `${path}/`
    for (const p of [...this.links.keys()]) if (p.startsWith(prefix)) drop(p)
  }

  /** Removes the symlinks strictly below `dir` (an opaque marker), except this layer's own. */
  removeBelow(dir: string): void {
    if (dir === '') {
      for (const p of [...this.links.keys()]) this.remove(p, false, true)
      return
    }
    if (!this.below.get(dir)) return
    const prefix = `${dir}/`
    for (const p of [...this.links.keys()]) if (p.startsWith(prefix)) this.remove(p, false, true)
  }

  /**
   * `path` (a directory) resolved inside the root as filepath-securejoin does. `what` names the
   * entry in the error for a loop.
   */
  resolve(path: string, what: () => string): string {
    if (!this.links.size || path === '') return path
    let cur = ''
    const lengths: number[] = []
    const todo = path.split('/').reverse()
    let followed = 0
    while (todo.length) {
      const c = todo.pop() as string
      if (c === '' || c === '.') continue
      if (c === '..') {
        cur = cur.slice(0, lengths.pop() ?? 0)
        continue
      }
      const next = cur ? `${cur}/${c}` : c
      const target = this.links.get(next)
      if (target === undefined) {
        lengths.push(cur.length)
        cur = next
        continue
      }
      if (++followed > LOOP_LIMIT) {
        throw new AirlockError(
          'INVALID_INPUT',
          `${what()}: more than ${LOOP_LIMIT} symbolic links to follow (a loop) at ${displayName(next)}`,
          { hint: LOOP_HINT },
        )
      }
      if (target.startsWith('/')) {
        cur = ''
        lengths.length = 0
      }
      const parts = target.split('/')
      for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i])
    }
    return cur
  }

  private count(path: string, delta: number): void {
    for (const a of ancestors(path)) this.below.set(a, (this.below.get(a) ?? 0) + delta)
  }
}

const join = (dir: string, base: string) => (dir ? `${dir}/${base}` : base)

/**
 * Reads every layer's headers once, bottom-up, and says for each entry where it lands and whether a
 * later entry of its layer replaced it. Throws INVALID_INPUT for a loop of symlinks.
 */
export async function planLayers(sources: LayerSource[], signal?: AbortSignal): Promise<FlattenPlan> {
  const links = new Symlinks()
  const plan: FlattenPlan = []
  for (const src of sources) {
    links.startLayer()
    const layer = new Map<number, PlannedEntry>()
    /** This layer's entries by real path: position, and whether a directory. */
    const mine = new Map<string, { position: number; dir: boolean }>()
    /** Real paths this layer has entries below. */
    const parents = new Set<string>()
    const note = (position: number, what: PlannedEntry) =>
      layer.set(position, { ...layer.get(position), ...what })
    let position = -1
    for await (const { entry } of readLayer(src, signal)) {
      position++
      if (!entry) continue
      const what = () => `${src.label}: entry ${displayName(entry.path)}`
      const slash = entry.path.lastIndexOf('/')
      const base = entry.path.slice(slash + 1)
      const dir = links.resolve(slash < 0 ? '' : entry.path.slice(0, slash), what)
      const path = join(dir, base)
      if (path !== entry.path) note(position, { path })
      if (base.startsWith('.wh.')) {
        // Whiteouts remove from the layers below only (umoci keeps what this layer extracted).
        if (base === '.wh..wh..opq') links.removeBelow(dir)
        else if (!base.startsWith('.wh..wh.')) links.remove(join(dir, base.slice(4)), true, true)
        continue
      }
      const isDir = entry.type === 'directory'
      let linksTo: string | undefined
      if (entry.type === 'link') {
        const name = entry.linkname ?? ''
        const ls = name.lastIndexOf('/')
        const real = join(links.resolve(ls < 0 ? '' : name.slice(0, ls), what), name.slice(ls + 1))
        if (real !== name) note(position, { linkname: real })
        linksTo = links.get(real) // a hard link to a symlink is that symlink again
      }
      // A later entry replaces an earlier one of the same layer at its path (and what is below it),
      // unless both are directories; one below an earlier non-directory replaces that by a directory.
      const prev = mine.get(path)
      if (prev) note(prev.position, { superseded: true, ...(prev.dir ? {} : { hidesLower: true }) })
      if (!isDir && parents.has(path)) {
        const prefix = `${path}/`
        for (const [p, m] of mine) {
          if (!p.startsWith(prefix)) continue
          note(m.position, { superseded: true })
          mine.delete(p)
        }
        for (const p of parents) if (p.startsWith(prefix)) parents.delete(p)
      }
      for (const a of ancestors(path)) {
        const m = mine.get(a)
        if (m && !m.dir) {
          note(m.position, { superseded: true, hidesLower: true })
          mine.delete(a)
        }
        parents.add(a)
      }
      mine.set(path, { position, dir: isDir })
      // The symlinks from now on: anything at the path replaces a symlink there, a non-directory
      // also what was below it; a symlink (or a hard link to one) is a new one.
      links.remove(path, !isDir)
      if (entry.type === 'symlink') links.set(path, entry.linkname ?? '')
      else if (linksTo !== undefined) links.set(path, linksTo)
    }
    plan.push(layer)
  }
  return plan
}
