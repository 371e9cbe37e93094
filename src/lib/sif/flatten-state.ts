/**
 * Which layer entries make it into the flattened rootfs, deciding from the TOP layer down (OCI
 * image-spec layer.md, "Applying Changesets" and "Whiteouts").
 *
 * Going top-down, the first entry seen for a path is the one that wins, so each path is decided once
 * (within a layer each path comes once: flatten-plan.ts drops the entries a later one replaced):
 * - a path decided by an upper layer hides the same path in lower layers;
 * - a non-directory (file, link, symlink, device, or a whiteout) hides everything below its path in
 *   lower layers, and so does a non-directory that lost to an upper directory at the same path (the
 *   lower layer replaced whatever was there before it);
 * - `.wh.NAME` removes NAME and everything below it from LOWER layers only, `.wh..wh..opq` hides the
 *   lower contents of its directory but not the directory: both are recorded while a layer is read
 *   and applied when it ends, since they never hide entries of their own layer. Neither makes its
 *   directory exist (as with umoci, which apptainer uses);
 * - a directory's metadata comes from the topmost layer with an entry for it. A directory that only
 *   exists as the parent of something emitted ("implied") takes the metadata of the first entry for
 *   it found further down (unless a layer in between removed or replaced that directory), or
 *   defaults at the end when no layer has one.
 *
 * Memory: one small integer per path seen, never file contents.
 */
const KIND = 3
/** Kind 0: not decided yet, but an opaque marker above hides what lower layers have below it. */
const UNDECIDED = 0
const DIR = 1
const OTHER = 2
const REMOVED = 3
/** A directory entry was written for the path. */
const META = 4
/** Lower layers' contents below the path are hidden. */
const HIDE_BELOW = 8
/** Lower layers' directory at the path was removed or replaced: its metadata is not taken either. */
const REPLACED = 16

export class MergeState {
  private readonly paths = new Map<string, number>()
  private whiteouts: string[] = []
  private opaques: string[] = []
  private replaced: string[] = []
  /** An opaque marker at the top level hides every lower layer. */
  private rootOpaque = false

  /** A directory entry: true when it must be written (first visible entry for the path). */
  directory(path: string): boolean {
    if (this.hiddenByAncestor(path)) return false
    // Even when the path itself was decided above, this layer had the directories leading to it.
    this.imply(path)
    const f = this.paths.get(path)
    if (f === undefined || (f & KIND) === UNDECIDED) {
      this.paths.set(path, (f ?? 0) | DIR | META)
      return true
    }
    if ((f & KIND) === DIR && !(f & (META | REPLACED))) {
      this.paths.set(path, f | META)
      return true
    }
    return false
  }

  /** A file, link, symlink, device or fifo: true when it must be written. */
  nonDirectory(path: string): boolean {
    if (this.hiddenByAncestor(path)) return false
    this.imply(path)
    const f = this.paths.get(path)
    if (f === undefined || (f & KIND) === UNDECIDED) {
      this.paths.set(path, OTHER)
      return true
    }
    // An upper directory won; this entry still replaced what lower layers had at the path.
    if ((f & KIND) === DIR) this.replaced.push(path)
    return false
  }

  /** `.wh.NAME` in the layer being read, for `path` = its directory + NAME. */
  whiteout(path: string): void {
    this.whiteouts.push(path)
  }

  /** `.wh..wh..opq` in directory `dir` of the layer being read. */
  opaque(dir: string): void {
    this.opaques.push(dir)
  }

  /** Applies the whiteouts and opaque markers of the layer just read, for the layers below it. */
  endLayer(): void {
    for (const path of [...this.whiteouts, ...this.replaced]) {
      if (this.hiddenByAncestor(path, false)) continue
      const f = this.paths.get(path)
      if (f === undefined || (f & KIND) === UNDECIDED) this.paths.set(path, REMOVED)
      else if ((f & KIND) === DIR) this.paths.set(path, f | HIDE_BELOW | REPLACED)
    }
    for (const dir of this.opaques) {
      if (dir === '') {
        this.rootOpaque = true
        continue
      }
      if (this.hiddenByAncestor(dir, false)) continue
      const f = this.paths.get(dir)
      if (f === undefined || (f & KIND) === UNDECIDED || (f & KIND) === DIR)
        this.paths.set(dir, (f ?? 0) | HIDE_BELOW)
    }
    this.whiteouts = []
    this.opaques = []
    this.replaced = []
  }

  /**
   * After all layers: true when `path` is not in the merged tree and an entry for it must be added
   * (directories: also when the tree has it only as an implied directory, which then takes this
   * entry's metadata). False when the tree has it, or a non-directory sits where a parent would be.
   */
  addIfMissing(path: string, isDirectory: boolean): boolean {
    const f = this.paths.get(path)
    if (f !== undefined && (f & KIND) !== REMOVED && (f & KIND) !== UNDECIDED) {
      if (!isDirectory || (f & KIND) !== DIR || f & META) return false
      this.paths.set(path, f | META)
      return true
    }
    const parents: string[] = []
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) parents.push(path.slice(0, i))
    if (parents.some((p) => ((this.paths.get(p) ?? DIR) & KIND) === OTHER)) return false
    for (const p of parents) {
      const k = (this.paths.get(p) ?? UNDECIDED) & KIND
      if (k === REMOVED || k === UNDECIDED) this.paths.set(p, DIR)
    }
    this.paths.set(path, isDirectory ? DIR | META : OTHER)
    return true
  }

  /** Directories something needs but no layer had an entry for (any order: tools take them late). */
  *impliedDirectories(): Generator<string> {
    for (const [path, f] of this.paths) if ((f & KIND) === DIR && !(f & META)) yield path
  }

  /**
   * Whether something above hides `path`. A hidden entry still shows that its layer had the
   * directories above the hiding one, and the hiding one too when only an opaque marker hides (a
   * directory no layer above has): those exist (implied) from then on, unless an upper layer decided
   * otherwise. Markers (`promote` false) show nothing: umoci does not create their directory.
   */
  private hiddenByAncestor(path: string, promote = true): boolean {
    if (this.rootOpaque) return true
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      const ancestor = path.slice(0, i)
      const f = this.paths.get(ancestor)
      if (f === undefined) continue
      const kind = f & KIND
      if (kind === DIR && !(f & HIDE_BELOW)) continue
      if (promote) {
        this.imply(ancestor)
        if (kind === UNDECIDED) this.paths.set(ancestor, f | DIR)
      }
      return true
    }
    return false
  }

  /** Marks the missing parents of `path` as implied directories. */
  private imply(path: string): void {
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      const parent = path.slice(0, i)
      const f = this.paths.get(parent)
      if (f === undefined || (f & KIND) === UNDECIDED) this.paths.set(parent, (f ?? 0) | DIR)
    }
  }
}
