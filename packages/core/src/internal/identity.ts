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

/**
 * A set of string values kept as 64-bit hashes only (two FNV-1a lanes in
 * typed arrays, open addressing): cheap enough to watch every string an
 * unpickler makes. `add` returns false when the value was (or, with odds
 * around n² / 2^65, collides with) one seen before; a caller that treats
 * that as "maybe a duplicate" and falls back to exact work stays exact.
 *
 * @internal
 */
export class StringHashSet {
  private lo: Int32Array
  private hi: Int32Array
  private used: Uint8Array
  private size = 0

  /** `expected`: about how many strings will be added (sizes the table; it grows 4× when half full). */
  constructor(expected = 512) {
    let capacity = 16
    while (capacity < 2 * expected && capacity < 1 << 22) capacity *= 2
    this.lo = new Int32Array(capacity)
    this.hi = new Int32Array(capacity)
    this.used = new Uint8Array(capacity)
  }

  /** Adds a value; false if it may have been added before. */
  add(s: string): boolean {
    let a = 0x811c9dc5 | 0
    let b = 0x01000193 ^ s.length
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i)
      a = Math.imul(a ^ ch, 16777619)
      b = Math.imul(b ^ ch, 0x5bd1e995)
    }
    if (!this.insert(a, b)) return false
    if (++this.size * 2 > this.used.length) this.grow()
    return true
  }

  private insert(a: number, b: number): boolean {
    const mask = this.used.length - 1
    let i = (a ^ (b >>> 15)) & mask
    while (this.used[i] === 1) {
      if (this.lo[i] === a && this.hi[i] === b) return false
      i = (i + 1) & mask
    }
    this.used[i] = 1
    this.lo[i] = a
    this.hi[i] = b
    return true
  }

  private grow(): void {
    const { lo, hi, used } = this
    this.lo = new Int32Array(used.length * 4)
    this.hi = new Int32Array(used.length * 4)
    this.used = new Uint8Array(used.length * 4)
    for (let i = 0; i < used.length; i++) if (used[i] === 1) this.insert(lo[i]!, hi[i]!)
  }
}
