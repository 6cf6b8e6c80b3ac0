/**
 * Lists made at their final length. The pre-pass (prePass.ts) counts the
 * items each EMPTY_LIST's list gets; a large one is made at that length
 * and filled in place, instead of growing (and copying) as it fills. Until
 * it is full its length is already the final one, so every list still
 * being filled is cut to the items it has (`settle`) before anything else
 * can see it: a hook, or STOP.
 *
 * @internal
 */
import type { PyValue } from "../../Value.js"
import { PRESIZE_MIN } from "./prePass.js"

/** The longest array V8 makes with fast elements at once (`new Array(n)`); longer lists grow as they fill. */
const MAX_PRESIZE = 2 ** 25

/** The lists of one unpickling run. @internal */
export class PresizedLists {
  /** Lists made so far: the ordinal of the next. */
  #made = 0
  /** Each list not yet full, and the items it has. */
  readonly #fills = new Map<Array<PyValue>, number>()

  /**
   * @param sizes The items of each list, in the order EMPTY_LIST makes them (none: every list grows).
   * @param allocate Called with the slots of each list made at its final length, before it is made.
   */
  constructor(readonly sizes: Int32Array | undefined, readonly allocate: (slots: number) => void) {}

  /** The list the next EMPTY_LIST makes: at its final length when large, else empty. */
  next(): Array<PyValue> {
    if (this.sizes === undefined) return []
    const size = this.sizes[this.#made++]!
    if (size < PRESIZE_MIN || size > MAX_PRESIZE) return []
    this.allocate(size)
    const list = new Array<PyValue>(size)
    this.#fills.set(list, 0)
    return list
  }

  /** Appends `items[from, to)` to `list`, in place if it was made at its final length. */
  append(list: Array<PyValue>, items: ReadonlyArray<PyValue>, from: number, to: number): void {
    const fill = this.#fills.size === 0 ? undefined : this.#fills.get(list)
    if (fill === undefined) {
      for (let i = from; i < to; i++) list.push(items[i]!)
      return
    }
    let n = fill
    for (let i = from; i < to; i++) list[n++] = items[i]!
    if (n < list.length) this.#fills.set(list, n)
    else this.#fills.delete(list)
  }

  /** Cuts every list still being filled to the items it has, as it would be had it grown. Later appends grow it. */
  settle(): void {
    if (this.#fills.size === 0) return
    for (const [list, fill] of this.#fills) list.length = fill
    this.#fills.clear()
  }
}
