/**
 * Which bytes of a remote file to ask for, and the small pieces already
 * fetched: a read shorter than a window fetches a whole window around it
 * (at the file's end, the window ending there), kept for the reads that
 * follow. Opening a checkpoint makes a handful of small reads at the start
 * (the first bytes, data.pkl) and at the end (the zip's end records and
 * central directory): two windows hold them all.
 *
 * @internal
 */

/** A fetched piece of the file: `bytes` from offset `start`. @internal */
export interface Window {
  readonly start: number
  readonly bytes: Uint8Array
}

/**
 * The range to fetch for a read of `length` bytes at `offset` of a file of
 * `size` bytes: the read itself when it is a window or longer; else the
 * window from `offset` or, near the end, the file's last window.
 *
 * @internal
 */
export const rangeFor = (offset: number, length: number, size: number, window: number): { readonly start: number; readonly end: number } => {
  if (length >= window) return { start: offset, end: offset + length }
  const start = offset + window > size ? Math.max(0, size - window) : offset
  return { start, end: Math.min(size, start + window) }
}

/**
 * Recently fetched windows, the most recent first, at most `count`.
 *
 * @internal
 */
export const windowCache = (count: number) => {
  const windows: Array<Window> = []
  return {
    /** The bytes of `[offset, offset + length)` when one window holds them all (a view, not a copy). */
    find: (offset: number, length: number): Uint8Array | undefined => {
      const i = windows.findIndex((w) => w.start <= offset && offset + length <= w.start + w.bytes.length)
      if (i < 0) return undefined
      const w = windows[i]!
      if (i > 0) windows.unshift(...windows.splice(i, 1))
      return w.bytes.subarray(offset - w.start, offset - w.start + length)
    },
    add: (w: Window): void => {
      windows.unshift(w)
      if (windows.length > count) windows.pop()
    }
  }
}
