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
