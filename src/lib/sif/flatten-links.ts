/**
 * Hard links while layers are read top-down (flatten-state.ts).
 *
 * A hard link entry `L -> T` in layer k names the file that is at T when layer k is applied: an
 * earlier entry of layer k (the usual case, tar writers put the first name first), or else T in the
 * nearest layer below k that has it (cross-layer links). Links become "inodes": the first name whose
 * data is written is the inode's primary, every other visible name is written as a hard link to it,
 * always AFTER the primary (mksquashfs -tar drops a link whose target comes later).
 *
 * - T was written (it won its path): L links to T, at once.
 * - T is in a lower layer: L waits until that layer is read. If T wins its path there, it is written
 *   and L follows; if T lost (an upper layer replaced or removed it), its data is written under L's
 *   name instead, which keeps L's contents as they were when layer k was applied.
 * - T was an earlier entry of the same layer that lost its path: its data has already gone by, so the
 *   layer is read again once (rare: a file replaced above while another name of it survives) and the
 *   data is written under L's name.
 * - T is in no layer below, or is a directory: the image is invalid (INVALID_INPUT).
 *
 * Memory: per layer one number per non-directory entry (its position and whether it was written);
 * link entries themselves only while they wait.
 */
import { AirlockError } from '../errors.js'
import { displayName, type TarEntry } from './flatten-tar-out.js'

export interface Inode {
  /** The written name holding the data. */
  primary?: string
  /** Visible link entries waiting for the primary. */
  pending: TarEntry[]
  /** Position in the current layer of the entry defining the inode, when its data was not written. */
  skipped?: number
  /** For messages: the layer of the first link that waited for a lower layer. */
  wantedBy?: string
}

const HINT = 'the image is invalid (a hard link to a missing file or to a directory); rebuild it'

/**
 * A hard link to nothing or to a directory. Without a plan (flatten-plan.ts) it can also come from a
 * repeated path or a path through a symlink that the pass had not seen yet, so flatten.ts then asks
 * for a plan first.
 */
export class LinkError extends AirlockError {
  constructor(message: string) {
    super('INVALID_INPUT', message, { hint: HINT })
  }
}

export class LinkTracker {
  /** Current layer: path -> position*2 + written, or the inode once a link needed one. */
  private local = new Map<string, number | Inode>()
  /** Paths links of the layers above wait for. */
  private readonly wanted = new Map<string, Inode>()
  /**
   * Paths links of the current layer wait for: never answered by a later entry of the same layer
   * (in tar order that entry replaced the file the link named), so kept apart until the layer ends.
   */
  private here = new Map<string, Inode>()
  private label = ''

  startLayer(label: string): void {
    this.endLayer()
    this.label = label
    this.local = new Map()
  }

  /** Before a file/symlink/device entry at `path` is decided: the inode upper links wait on, if any. */
  takeWanted(path: string): Inode | undefined {
    const inode = this.wanted.get(path)
    if (inode) this.wanted.delete(path)
    return inode
  }

  /** Links of this layer and of layers above still waiting for the same path wait for the same file. */
  private endLayer(): void {
    for (const [path, inode] of this.here) {
      const upper = this.wanted.get(path)
      if (upper) upper.pending.push(...inode.pending)
      else this.wanted.set(path, inode)
    }
    this.here = new Map()
  }

  /** A directory entry at `path`: refuses it when visible links were waiting for a file there. */
  directory(path: string): void {
    const inode = this.takeWanted(path)
    if (inode?.pending.length) {
      throw new LinkError(
        `${inode.wantedBy}: hard link ${displayName(inode.pending[0].path)} points to ${displayName(path)}, which is a directory`,
      )
    }
  }

  /**
   * A file/symlink/device entry, after it was decided. `written` is the name its data went to (its
   * own path, or a waiting link's), undefined when it was not written. Returns link entries to write now.
   */
  target(path: string, position: number, inode: Inode | undefined, written: string | undefined): TarEntry[] {
    if (!inode) {
      this.local.set(path, position * 2 + (written === path ? 1 : 0))
      return []
    }
    this.local.set(path, inode)
    if (written === undefined) {
      inode.skipped = position
      return []
    }
    return this.resolve(inode, written)
  }

  /**
   * A hard link entry (linkname resolved to a path). Returns entries to write now. `replacedLater`:
   * a later entry of this layer takes the path (flatten-plan.ts), so links of upper layers waiting
   * for the path wait for that one, not this.
   */
  link(entry: TarEntry, visible: boolean, replacedLater = false): TarEntry[] {
    const target = entry.linkname ?? ''
    let inode: Inode
    const found = this.local.get(target)
    if (typeof found === 'number') {
      inode = { pending: [] }
      if (found & 1) inode.primary = target
      else inode.skipped = Math.floor(found / 2)
      this.local.set(target, inode)
    } else if (found) inode = found
    else {
      inode = this.here.get(target) ?? { pending: [], wantedBy: this.label }
      this.here.set(target, inode)
    }
    this.local.set(entry.path, inode)
    const out: TarEntry[] = []
    // Upper links waiting for this path wait for the same file as this link.
    const waiting = replacedLater ? undefined : this.takeWanted(entry.path)
    if (waiting && waiting !== inode) inode.pending.push(...waiting.pending)
    if (visible) inode.pending.push(entry)
    if (inode.primary) out.push(...this.resolve(inode, inode.primary))
    return out
  }

  /** At the end of a layer: position -> inode of entries whose data must be read again. */
  refetch(): Map<number, Inode> {
    const out = new Map<number, Inode>()
    for (const v of this.local.values()) {
      if (typeof v !== 'number' && !v.primary && v.pending.length && v.skipped !== undefined)
        out.set(v.skipped, v)
    }
    return out
  }

  /** The inode's data was written under `primary`: the links that waited, to write now. */
  resolve(inode: Inode, primary: string): TarEntry[] {
    inode.primary = primary
    const ready = inode.pending.filter((e) => e.path !== primary).map((e) => ({ ...e, linkname: primary }))
    inode.pending = []
    return ready
  }

  /** After the last layer: fails on links whose target no layer had. */
  finish(): void {
    this.endLayer()
    for (const [target, inode] of this.wanted) {
      if (!inode.pending.length) continue
      throw new LinkError(
        `${inode.wantedBy}: hard link ${displayName(inode.pending[0].path)} points to ${displayName(target)}, which no layer below it has`,
      )
    }
  }
}
