/**
 * String identity across a load → save round trip.
 *
 * CPython memoizes strings by object identity: two equal strings that were
 * distinct objects are written twice, a shared one is written once and then
 * fetched with BINGET. JS strings have no identity, so the unpickler records
 * it here: every string instance gets a token (the offset of the opcode that
 * made it), and each container gets the tokens of its string slots, in item
 * order (a Map's as key, value, key, value, ...). The pickler memoizes
 * strings by these tokens, so a loaded value re-pickles with the memo
 * structure it was read with. Values built in TS have no tokens; their
 * strings are memoized by value.
 *
 * @internal
 */

/** Tokens of a container's slots; undefined for slots holding no string. @internal */
export type Tokens = Array<number | undefined>

const registry = new WeakMap<object, Tokens>()

/** Records the tokens of a container's slots (nothing when no slot holds a string). @internal */
export const setTokens = (container: object, tokens: Tokens): void => {
  if (tokens.some((t) => t !== undefined)) registry.set(container, tokens)
}

/** Appends tokens for slots added to a container (in place: appends happen once per item). @internal */
export const appendTokens = (container: object, before: number, tokens: Tokens): void => {
  let existing = registry.get(container)
  if (existing === undefined) {
    if (!tokens.some((t) => t !== undefined)) return
    existing = new Array<number | undefined>(before).fill(undefined)
    registry.set(container, existing)
  }
  existing.length = before
  for (const t of tokens) existing.push(t)
}

/** The tokens of a container's slots, if it was unpickled with any. @internal */
export const tokensOf = (container: object): Tokens | undefined => registry.get(container)

const globalParts = new WeakMap<object, ReadonlyMap<string, Tokens>>()

/**
 * Records, on a pickle's root value, the strings its STACK_GLOBALs took
 * their module and name from (`module\nname` → their two tokens, undefined
 * in an untracked run, where equal strings were one object): CPython shares
 * one string object between a global's name and an equal user string when
 * it is the same object (an interned identifier, `'dtype'` as a dict key
 * and as `numpy.dtype`'s name), and a re-pickled value must too. @internal
 */
export const setGlobalParts = (root: object, parts: ReadonlyMap<string, Tokens>): void => {
  if (parts.size > 0) globalParts.set(root, parts)
}

/** The STACK_GLOBAL strings of a root value that was unpickled (`setGlobalParts`). @internal */
export const globalPartsOf = (root: object): ReadonlyMap<string, Tokens> | undefined => globalParts.get(root)

/** The first hash lane's start. @internal */
export const HASH_A = 0x811c9dc5 | 0
/** The second hash lane's start, for a string of `length` char codes. @internal */
export const hashB = (length: number): number => 0x01000193 ^ length
/** The first lane after char code `ch`. @internal */
export const stepA = (a: number, ch: number): number => Math.imul(a ^ ch, 16777619)
/** The second lane after char code `ch`. @internal */
export const stepB = (b: number, ch: number): number => Math.imul(b ^ ch, 0x5bd1e995)

/**
 * A log of string values kept as 64-bit hashes only (two FNV-1a lanes),
 * cheap enough to record every string an unpickler makes: `add` appends to
 * a typed array, and `hasRepeats` finds equal hashes afterwards by
 * partitioning them into buckets and putting each bucket in turn into one
 * small, cache-resident hash table. (A large table probed at every `add` cost
 * more than twice as much: its random probes miss the cache while the
 * unpickler allocates.) `hasRepeats` is true when two values were equal, or,
 * with odds around n² / 2^65, only collided; a caller that treats that as
 * "maybe a repeat" and falls back to exact work stays exact.
 *
 * @internal
 */
export class StringHashLog {
  private hi = new Int32Array(16)
  private lo = new Int32Array(16)
  private size = 0

  /** Records a value. */
  add(s: string): void {
    let a = HASH_A
    let b = hashB(s.length)
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i)
      a = stepA(a, ch)
      b = stepB(b, ch)
    }
    this.addHash(a, b)
  }

  /**
   * Records a value by its hash lanes, when the caller computed them (from
   * `HASH_A`, `hashB(length)`, then `stepA` and `stepB` over its char codes).
   */
  addHash(a: number, b: number): void {
    if (this.size === this.hi.length) this.grow()
    this.hi[this.size] = a
    this.lo[this.size++] = b
  }

  /** Whether two recorded values may be equal (always true when two are). */
  hasRepeats(): boolean {
    const { hi, lo, size } = this
    if (size <= 32) return this.hasRepeatsAmongFew()
    // 2^bits buckets (2 to 65,536) of about 256 hashes each, by the top bits of `hi`.
    let bits = 1
    while (bits < 16 && size >>> (bits + 8) > 0) bits++
    const shift = 32 - bits
    const buckets = 1 << bits
    const start = new Int32Array(buckets + 1)
    for (let i = 0; i < size; i++) start[(hi[i]! >>> shift) + 1]++
    let largest = 0
    for (let k = 0; k < buckets; k++) {
      largest = Math.max(largest, start[k + 1]!)
      start[k + 1] += start[k]!
    }
    const next = start.slice(0, buckets)
    const bucketHi = new Int32Array(size)
    const bucketLo = new Int32Array(size)
    for (let i = 0; i < size; i++) {
      const at = next[hi[i]! >>> shift]!++
      bucketHi[at] = hi[i]!
      bucketLo[at] = lo[i]!
    }
    // Each bucket in turn goes into one small open-addressing table, slots by the low bits of `lo`; `stamp`
    // marks which bucket filled a slot, so the table is never cleared.
    let capacity = 16
    while (capacity < 2 * largest) capacity *= 2
    const mask = capacity - 1
    const tableHi = new Int32Array(capacity)
    const tableLo = new Int32Array(capacity)
    const stamp = new Int32Array(capacity)
    let probes = 0
    for (let k = 0; k < buckets; k++) {
      for (let i = start[k]!; i < start[k + 1]!; i++) {
        const h = bucketHi[i]!
        const l = bucketLo[i]!
        let j = l & mask
        while (stamp[j] === k + 1) {
          if (tableHi[j] === h && tableLo[j] === l) return true
          j = (j + 1) & mask
          // Hashes made to cluster (hostile strings) would make this quadratic: answer "maybe", as a collision does.
          if (++probes > 16 * size) return true
        }
        stamp[j] = k + 1
        tableHi[j] = h
        tableLo[j] = l
      }
    }
    return false
  }

  /** `hasRepeats` for a few hashes: compares every pair, allocating nothing. */
  private hasRepeatsAmongFew(): boolean {
    const { hi, lo, size } = this
    for (let i = 1; i < size; i++) {
      for (let j = 0; j < i; j++) if (hi[i] === hi[j] && lo[i] === lo[j]) return true
    }
    return false
  }

  private grow(): void {
    const hi = new Int32Array(this.size * 2)
    const lo = new Int32Array(this.size * 2)
    hi.set(this.hi)
    lo.set(this.lo)
    this.hi = hi
    this.lo = lo
  }
}
