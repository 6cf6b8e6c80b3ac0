/**
 * A pre-pass over a pickle's opcodes that finds two things the unpickler
 * cannot know as it goes:
 *
 * - which memo keys are ever fetched (GET, BINGET, LONG_BINGET). A pickler
 *   memoizes nearly every string, tuple and container it writes, but fetches
 *   few: the unpickler keeps only the fetched ones, so the rest are not held
 *   twice over (in the memo and in the result), which in a JS heap costs a
 *   write barrier and a scavenger visit each;
 * - how many items APPENDS and APPEND will add to each list EMPTY_LIST makes,
 *   found by modelling the stack (each slot's list, if it holds one). A JS
 *   array grown item by item is copied at every growth, about three times its
 *   final size in all, each copy a fresh allocation (in V8 a large one is
 *   fresh pages from the OS); a list made at its final size is written once.
 *
 * @internal
 */
import { type ArgKind, Op, OPCODES } from "./opcodes.js"

/** What the pre-pass found. @internal */
export interface PrePass {
  /** `fetched[k] === 1` when some GET fetches key `k` (keys past its end are never fetched). */
  readonly fetched: Uint8Array
  /** Every key a PUT, BINPUT, LONG_BINPUT or MEMOIZE stores is below this bound. */
  readonly putBound: number
  /**
   * The number of items appended to the `i`th list EMPTY_LIST makes, in
   * opcode order, counting the appends made while it is on the stack (not
   * through the memo); undefined when no list gets `PRESIZE_MIN` or more, or
   * the stack could not be modelled (a missing MARK, an underflow).
   */
  readonly listSizes: Int32Array | undefined
}

/** Lists that get fewer items are not worth sizing ahead: small arrays grow in the young generation. @internal */
export const PRESIZE_MIN = 256
/** The deepest stack the pre-pass models (the VM's default limit); deeper, it gives up on list sizes. */
const MAX_MODEL_DEPTH = 10_000_000

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

const { APPEND, APPENDS, BINGET, BINPUT, DUP, EMPTY_LIST, GET, LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, POP, PUT, READONLY_BUFFER, STOP } = Op
/** Values each opcode pops, after those down to the MARK if it pops one. */
const POPS = Uint8Array.from(OPCODES, (info) => info?.pops ?? 0)
/** Values each opcode pushes. */
const PUSHES = Uint8Array.from(OPCODES, (info) => info?.pushes ?? 0)
/** `1` for the opcodes that pop down to the topmost MARK. */
const POPS_MARK = Uint8Array.from(OPCODES, (info) => (info?.popsMark ? 1 : 0))

/**
 * How the stack model treats each opcode. Most pop some values and push one
 * new value, never a list: for those, the change to the stack's height
 * (-2 to 1). KEEPS: leaves the stack as it is (PROTO, FRAME, the memo puts,
 * and READONLY_BUFFER, which the VM passes over). OTHER: MARKs, lists, DUP,
 * and the opcodes that only pop.
 */
const KEEPS = 100
const OTHER = 101
const modelStep = (code: number): number => {
  const info = OPCODES[code]
  if (info === undefined || code === READONLY_BUFFER) return KEEPS
  if (info.pops === 0 && info.pushes === 0 && !info.popsMark && code !== MARK) return KEEPS
  return info.pushes === 1 && !info.popsMark && code !== EMPTY_LIST ? info.pushes - info.pops : OTHER
}
const MODEL_STEP = Int8Array.from({ length: 256 }, (_, code) => modelStep(code))

/**
 * The pre-pass's model of the stack: for each slot, the ordinal of the list
 * EMPTY_LIST made that it holds, or -1; the stack heights at the MARKs; and
 * the items appended to each list so far. It gives up (`failed`) on a
 * missing MARK, on popping an empty stack, and deeper than
 * `MAX_MODEL_DEPTH`; it does not check that values are taken from above the
 * topmost MARK, where the VM would fail (and return no list).
 */
class StackModel {
  private slots = new Int32Array(64)
  private depth = 0
  private marks = new Int32Array(16)
  private markCount = 0
  private sizes = new Int32Array(16)
  private lists = 0
  private largest = 0
  failed = false

  /** Applies one opcode's stack effect. */
  step(code: number): void {
    const step = MODEL_STEP[code]!
    if (step === KEEPS) return
    const depth = this.depth + step
    if (step === OTHER || depth < 1 || depth > this.slots.length) return this.other(code)
    this.slots[depth - 1] = -1
    this.depth = depth
  }

  /** Any opcode's stack effect, in full. */
  private other(code: number): void {
    let depth = this.depth
    let pops = POPS[code]!
    if (POPS_MARK[code] === 1 || (code === POP && depth === this.floor())) {
      if (this.markCount === 0) return this.fail()
      const at = this.marks[--this.markCount]!
      if (code === APPENDS && at > this.floor()) this.append(this.slots[at - 1]!, depth - at)
      depth = at
      // POP with a MARK on top pops just the MARK.
      if (code === POP) pops = 0
    }
    if (depth - pops < 0 || (code === APPEND && depth < 2)) return this.fail()
    if (code === APPEND) this.append(this.slots[depth - 2]!, 1)
    depth -= pops
    // DUP pushes its popped value's list twice; every other value pushed is a new one.
    const list = code === EMPTY_LIST ? this.newList() : code === DUP ? this.slots[depth]! : -1
    const pushes = PUSHES[code]!
    if (depth + pushes > this.slots.length) {
      if (depth + pushes > MAX_MODEL_DEPTH) return this.fail()
      this.slots = grown(this.slots, depth + pushes)
    }
    for (let i = 0; i < pushes; i++) this.slots[depth++] = list
    this.depth = depth
    if (code === MARK) {
      if (this.markCount === this.marks.length) this.marks = grown(this.marks, this.markCount + 1)
      this.marks[this.markCount++] = depth
    }
  }

  /** The list sizes found, if any list reaches `PRESIZE_MIN`. */
  result(): Int32Array | undefined {
    return this.failed || this.largest < PRESIZE_MIN ? undefined : this.sizes.subarray(0, this.lists)
  }

  private floor(): number {
    return this.markCount === 0 ? 0 : this.marks[this.markCount - 1]!
  }

  private newList(): number {
    if (this.lists === this.sizes.length) this.sizes = grown(this.sizes, this.lists + 1)
    return this.lists++
  }

  private append(list: number, items: number): void {
    if (list < 0) return
    const size = this.sizes[list]! + items
    this.sizes[list] = size
    if (size > this.largest) this.largest = size
  }

  private fail(): void {
    this.failed = true
  }
}

/** `a` copied into an array at least twice as long and at least `need` long. */
const grown = (a: Int32Array, need: number): Int32Array<ArrayBuffer> => {
  const b = new Int32Array(Math.max(need, 2 * a.length))
  b.set(a)
  return b
}

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
 * value and grows every list, as it would without the pre-pass, and reports
 * any error itself.
 *
 * @internal
 */
export const scanPrePass = (buf: Uint8Array, start: number, end: number): PrePass | undefined => {
  // Each put takes two bytes or more, so keys past the pickle's length are sparse: give up (the memo keeps everything).
  const limit = end - start + 256
  let fetched = new Uint8Array(256)
  let putBound = 0
  let memoOps = 0
  const stack = new StackModel()
  let p = start
  while (p < end) {
    const code = buf[p]!
    if (!stack.failed) stack.step(code)
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
      else if (code === STOP) return { fetched, putBound: Math.max(putBound, memoOps + 1), listSizes: stack.result() }
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
