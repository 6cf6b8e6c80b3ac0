/**
 * A pre-pass over a pickle's opcodes that finds which memo keys are ever
 * fetched (GET, BINGET, LONG_BINGET). A pickler memoizes nearly every string,
 * tuple and container it writes, but fetches few: the unpickler keeps only the
 * fetched ones, so the rest are not held twice over (in the memo and in the
 * result), which in a JS heap costs a write barrier and a scavenger visit each.
 *
 * @internal
 */
import { type ArgKind, Op, OPCODES } from "./opcodes.js"

/** What the pre-pass found: which keys are fetched, and a bound on the keys put. @internal */
export interface MemoUse {
  /** `fetched[k] === 1` when some GET fetches key `k` (keys past its end are never fetched). */
  readonly fetched: Uint8Array
  /** Every key a PUT, BINPUT, LONG_BINPUT or MEMOIZE stores is below this bound. */
  readonly putBound: number
}

// Argument layouts, by opcode: a fixed size (0..8) or one of these.
const UNKNOWN = -1
const LEN1 = 101 // 1-byte length, then bytes (SHORT_BINUNICODE, LONG1, ...)
const LEN4 = 104 // 4-byte length, then bytes (BINUNICODE, LONG4, BINSTRING, ...)
const LEN8 = 108 // 8-byte length, then bytes
const LINE = 110 // one newline-terminated line
const TWO_LINES = 111 // two newline-terminated lines

const layoutOf: Record<ArgKind, number> = {
  none: 0, u8: 1, u16: 2, i32: 4, u32: 4, u64: 8, f64be: 8,
  long1: LEN1, bytes1: LEN1, long4: LEN4, bytes4: LEN4, bytes4s: LEN4, bytes8: LEN8,
  intnl: LINE, longnl: LINE, floatnl: LINE, decimalnl: LINE, stringnl: LINE, unicodenl: LINE, asciinl: LINE,
  twolines: TWO_LINES
}
/** Each opcode's argument layout. */
const layout = Int16Array.from(OPCODES, (info) => (info === undefined ? UNKNOWN : layoutOf[info.arg]))

const { BINGET, BINPUT, GET, LONG_BINGET, LONG_BINPUT, MEMOIZE, PUT, STOP } = Op

/** The unsigned 32-bit little-endian integer at `p`. */
const u32At = (buf: Uint8Array, p: number): number =>
  (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16)) + buf[p + 3]! * 0x1000000

/** The decimal argument of GET/PUT at `p` (up to the newline at `eol`), or -1 if it is not a plain decimal. */
const decimalKey = (buf: Uint8Array, p: number, eol: number): number => {
  if (p === eol || eol - p > 9) return -1
  let k = 0
  for (; p < eol; p++) {
    const d = buf[p]! - 0x30
    if (d < 0 || d > 9) return -1
    k = k * 10 + d
  }
  return k
}

/**
 * Scans the opcodes of the pickle at `buf[start, end)` up to its STOP.
 * Returns undefined when it cannot say cheaply (an unknown opcode, a pickle
 * cut short, sparse or odd memo keys): the unpickler then memoizes every
 * value, as it would without the pre-pass, and reports any error itself.
 *
 * @internal
 */
export const scanMemoUse = (buf: Uint8Array, start: number, end: number): MemoUse | undefined => {
  // Each put takes two bytes or more, so keys past the pickle's length are sparse: give up (the memo keeps everything).
  const limit = end - start + 256
  let fetched = new Uint8Array(256)
  let putBound = 0
  let memoOps = 0
  let p = start
  while (p < end) {
    const code = buf[p]!
    const kind = layout[code]!
    const a = p + 1
    // The key this opcode fetches or stores, if any.
    let got = -1
    let put = -1
    if (kind <= 8) {
      if (kind === UNKNOWN || a + kind > end) return undefined
      if (code === BINGET) got = buf[a]!
      else if (code === LONG_BINGET) got = u32At(buf, a)
      else if (code === BINPUT) put = buf[a]!
      else if (code === LONG_BINPUT) put = u32At(buf, a)
      else if (code === MEMOIZE) memoOps++
      else if (code === STOP) return { fetched, putBound: Math.max(putBound, memoOps + 1) }
      p = a + kind
    } else if (kind === LEN1) {
      if (a + 1 > end) return undefined
      p = a + 1 + buf[a]!
    } else if (kind === LEN4) {
      if (a + 4 > end) return undefined
      // Lengths of 2 GiB or more the VM rejects (LONG4, BINSTRING) or cannot hold.
      const n = u32At(buf, a)
      if (n > 0x7fffffff) return undefined
      p = a + 4 + n
    } else if (kind === LEN8) {
      if (a + 8 > end) return undefined
      if (u32At(buf, a + 4) !== 0) return undefined
      p = a + 8 + u32At(buf, a)
    } else {
      let eol = buf.indexOf(0x0a, a)
      if (eol < 0 || eol >= end) return undefined
      if (code === GET || code === PUT) {
        const k = decimalKey(buf, a, eol)
        if (k < 0) return undefined
        if (code === GET) got = k
        else put = k
      } else if (kind === TWO_LINES) {
        eol = buf.indexOf(0x0a, eol + 1)
        if (eol < 0 || eol >= end) return undefined
      }
      p = eol + 1
    }
    if (put >= 0) {
      if (put >= limit) return undefined
      memoOps++ // MEMOIZE's key is the number of puts before it
      if (put >= putBound) putBound = put + 1
    } else if (got >= 0) {
      if (got >= limit) return undefined
      if (got >= fetched.length) {
        const grown = new Uint8Array(Math.min(limit, Math.max(got + 1, 2 * fetched.length)))
        grown.set(fetched)
        fetched = grown
      }
      fetched[got] = 1
    }
  }
  return undefined
}
