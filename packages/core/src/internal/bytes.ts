/**
 * Byte-array helpers.
 *
 * @internal
 */

/**
 * Whether `length` bytes at `offset` lie within `size` bytes: both whole,
 * non-negative and safe, the end at most `size`. Lengths read from files are
 * checked with it before anything is allocated or read. @internal
 */
export const isRangeWithin = (offset: number, length: number, size: number): boolean =>
  Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= size

/** The chunks joined into one array. @internal */
export const concatBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
