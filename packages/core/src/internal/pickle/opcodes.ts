/**
 * The pickle opcode table (protocols 0-5, every opcode pickletools knows)
 * and a decoder that reads one opcode with its argument from a buffer.
 *
 * The decoder is pure and allocation-light: it writes into a mutable
 * `OpCursor` so the unpickler's hot loop allocates nothing per opcode.
 *
 * @internal
 */
import { PickleError } from "../../Errors.js"
import { HASH_A, hashB, stepA, stepB, type StringHashLog } from "./identity.js"

/** How an opcode's inline argument is encoded. @internal */
export type ArgKind =
  | "none"
  | "u8" // 1-byte unsigned
  | "u16" // 2-byte unsigned LE
  | "i32" // 4-byte signed LE
  | "u32" // 4-byte unsigned LE
  | "u64" // 8-byte unsigned LE (FRAME)
  | "f64be" // BINFLOAT
  | "long1" // 1-byte length + two's-complement LE
  | "long4" // 4-byte signed length + two's-complement LE
  | "bytes1" // 1-byte length + bytes
  | "bytes4" // 4-byte unsigned length + bytes
  | "bytes4s" // 4-byte signed length + bytes (BINSTRING)
  | "bytes8" // 8-byte length + bytes
  | "intnl" // decimal line; "00"/"01" are bools (INT)
  | "longnl" // decimal line with optional trailing L (LONG)
  | "floatnl" // float line (FLOAT)
  | "decimalnl" // decimal line (GET, PUT)
  | "stringnl" // quoted repr line (STRING)
  | "unicodenl" // raw-unicode-escape line (UNICODE)
  | "asciinl" // plain line (PERSID)
  | "twolines" // module line + name line (GLOBAL, INST)

/** Static description of one opcode. @internal */
export interface OpInfo {
  readonly code: number
  readonly name: string
  readonly arg: ArgKind
  readonly proto: number
  /** The opcode pops everything down to the topmost MARK (and the MARK), before its `pops`. */
  readonly popsMark: boolean
  /** How many values it pops (after those down to the MARK, if `popsMark`). */
  readonly pops: number
  /** How many values it pushes. */
  readonly pushes: number
}

/**
 * Stack effects, as [pops, pushes], where they are not [0, 1] (push one
 * value). MARK pushes a mark, not a value; POP pops the MARK instead when the
 * MARK is on top (as CPython's does).
 */
const EFFECTS: Readonly<Record<string, readonly [number, number]>> = {
  MARK: [0, 0], STOP: [1, 0], POP: [1, 0], DUP: [1, 2], PROTO: [0, 0], FRAME: [0, 0],
  PUT: [0, 0], BINPUT: [0, 0], LONG_BINPUT: [0, 0], MEMOIZE: [0, 0],
  TUPLE1: [1, 1], TUPLE2: [2, 1], TUPLE3: [3, 1], APPEND: [1, 0], SETITEM: [2, 0], BUILD: [1, 0],
  REDUCE: [2, 1], NEWOBJ: [2, 1], NEWOBJ_EX: [3, 1], STACK_GLOBAL: [2, 1], BINPERSID: [1, 1], READONLY_BUFFER: [1, 1],
  // Down to the MARK, then nothing more:
  APPENDS: [0, 0], SETITEMS: [0, 0], ADDITEMS: [0, 0], POP_MARK: [0, 0]
}

const table: Array<OpInfo | undefined> = new Array(256).fill(undefined)
const def = (ch: string | number, name: string, arg: ArgKind, proto: number, popsMark = false) => {
  const code = typeof ch === "number" ? ch : ch.charCodeAt(0)
  const [pops, pushes] = EFFECTS[name] ?? [0, 1]
  table[code] = { code, name, arg, proto, popsMark, pops, pushes }
}
def("(", "MARK", "none", 0)
def(".", "STOP", "none", 0)
def("0", "POP", "none", 0)
def("1", "POP_MARK", "none", 1, true)
def("2", "DUP", "none", 0)
def("F", "FLOAT", "floatnl", 0)
def("I", "INT", "intnl", 0)
def("J", "BININT", "i32", 1)
def("K", "BININT1", "u8", 1)
def("L", "LONG", "longnl", 0)
def("M", "BININT2", "u16", 1)
def("N", "NONE", "none", 0)
def("P", "PERSID", "asciinl", 0)
def("Q", "BINPERSID", "none", 1)
def("R", "REDUCE", "none", 0)
def("S", "STRING", "stringnl", 0)
def("T", "BINSTRING", "bytes4s", 1)
def("U", "SHORT_BINSTRING", "bytes1", 1)
def("V", "UNICODE", "unicodenl", 0)
def("X", "BINUNICODE", "bytes4", 1)
def("a", "APPEND", "none", 0)
def("b", "BUILD", "none", 0)
def("c", "GLOBAL", "twolines", 0)
def("d", "DICT", "none", 0, true)
def("}", "EMPTY_DICT", "none", 1)
def("e", "APPENDS", "none", 1, true)
def("g", "GET", "decimalnl", 0)
def("h", "BINGET", "u8", 1)
def("i", "INST", "twolines", 0, true)
def("j", "LONG_BINGET", "u32", 1)
def("l", "LIST", "none", 0, true)
def("]", "EMPTY_LIST", "none", 1)
def("o", "OBJ", "none", 1, true)
def("p", "PUT", "decimalnl", 0)
def("q", "BINPUT", "u8", 1)
def("r", "LONG_BINPUT", "u32", 1)
def("s", "SETITEM", "none", 0)
def("t", "TUPLE", "none", 0, true)
def(")", "EMPTY_TUPLE", "none", 1)
def("u", "SETITEMS", "none", 1, true)
def("G", "BINFLOAT", "f64be", 1)
def(0x80, "PROTO", "u8", 2)
def(0x81, "NEWOBJ", "none", 2)
def(0x82, "EXT1", "u8", 2)
def(0x83, "EXT2", "u16", 2)
def(0x84, "EXT4", "i32", 2)
def(0x85, "TUPLE1", "none", 2)
def(0x86, "TUPLE2", "none", 2)
def(0x87, "TUPLE3", "none", 2)
def(0x88, "NEWTRUE", "none", 2)
def(0x89, "NEWFALSE", "none", 2)
def(0x8a, "LONG1", "long1", 2)
def(0x8b, "LONG4", "long4", 2)
def("B", "BINBYTES", "bytes4", 3)
def("C", "SHORT_BINBYTES", "bytes1", 3)
def(0x8c, "SHORT_BINUNICODE", "bytes1", 4)
def(0x8d, "BINUNICODE8", "bytes8", 4)
def(0x8e, "BINBYTES8", "bytes8", 4)
def(0x8f, "EMPTY_SET", "none", 4)
def(0x90, "ADDITEMS", "none", 4, true)
def(0x91, "FROZENSET", "none", 4, true)
def(0x92, "NEWOBJ_EX", "none", 4)
def(0x93, "STACK_GLOBAL", "none", 4)
def(0x94, "MEMOIZE", "none", 4)
def(0x95, "FRAME", "u64", 4)
def(0x96, "BYTEARRAY8", "bytes8", 5)
def(0x97, "NEXT_BUFFER", "none", 5)
def(0x98, "READONLY_BUFFER", "none", 5)

/** Opcode descriptions indexed by byte value (undefined: not an opcode). @internal */
export const OPCODES: ReadonlyArray<OpInfo | undefined> = table

/** `1` for the opcodes without an argument: the VM steps over them without `decodeOp`. @internal */
export const NO_ARGUMENT = Uint8Array.from(OPCODES, (info) => (info?.arg === "none" ? 1 : 0))

/** Opcode byte values by name, for readable switch statements. @internal */
export const Op = Object.fromEntries(
  table.filter((i): i is OpInfo => i !== undefined).map((i) => [i.name, i.code])
) as Record<string, number>

/**
 * The decoded argument of an opcode: a number or bigint for integer
 * arguments, a string for text, bytes for binary strings, a pair for
 * GLOBAL/INST, a boolean for protocol-0 INT bools, null when there is none.
 *
 * @internal
 */
export type OpArg = null | boolean | number | bigint | string | Uint8Array | readonly [string, string]

/** Mutable decoding state; `decodeOp` fills `code`, `arg`, `start` and advances `pos`. @internal */
export interface OpCursor {
  buf: Uint8Array
  view: DataView
  pos: number
  end: number
  code: number
  arg: OpArg
  start: number
  record: string | undefined
  /** Offset of `buf[0]` in the whole pickle, for error messages. */
  base: number
}

/** Creates a cursor over `buf[start, end)`. @internal */
export const makeCursor = (buf: Uint8Array, start = 0, end = buf.byteLength, record?: string, base = 0): OpCursor => ({
  buf,
  view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
  pos: start,
  end,
  code: 0,
  arg: null,
  start,
  record,
  base
})

const utf8 = new TextDecoder("utf-8")

/** Decodes UTF-8 (invalid sequences become U+FFFD, as Python's "replace" would show). @internal */
export const decodeUtf8 = (bytes: Uint8Array): string => utf8.decode(bytes)

/** Scratch for short ASCII strings, one array per length: char codes for `String.fromCharCode.apply`. */
const asciiCodes: Array<Array<number>> = Array.from({ length: 33 }, (_, n) => new Array<number>(n).fill(0))

/**
 * Decodes the UTF-8 bytes `buf[p, p + n)`. Short ASCII strings, most of a
 * pickle's, are built in JS: several times faster than a TextDecoder call
 * and its subarray. With a `log`, the string is recorded in it; a short
 * ASCII string's char codes are its bytes, so its hash is taken in the same
 * pass as its copy.
 *
 * @internal
 */
export const decodeUtf8At = (buf: Uint8Array, p: number, n: number, log?: StringHashLog): string => {
  if (n <= 32) {
    const codes = asciiCodes[n]!
    let a = HASH_A
    let b = hashB(n)
    let i = 0
    for (; i < n; i++) {
      const ch = buf[p + i]!
      if (ch > 0x7f) break
      codes[i] = ch
      a = stepA(a, ch)
      b = stepB(b, ch)
    }
    if (i === n) {
      log?.addHash(a, b)
      return String.fromCharCode.apply(null, codes)
    }
  }
  const s = utf8.decode(buf.subarray(p, p + n))
  log?.add(s)
  return s
}
/** Decodes Latin-1 (every byte is one code point). @internal */
export const decodeLatin1 = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 8192)))
  }
  return s
}

const fail = (c: OpCursor, reason: PickleError["reason"], detail: string, at = c.start): never => {
  throw new PickleError({ reason, offset: c.base + at, detail, ...(c.record === undefined ? {} : { record: c.record }) })
}

/** Two's-complement little-endian integer of `n` bytes at `p`, as a number when safe. @internal */
export const readLong = (buf: Uint8Array, p: number, n: number): number | bigint => {
  if (n === 0) return 0
  if (n <= 6) {
    let v = 0
    for (let i = n - 1; i >= 0; i--) v = v * 256 + buf[p + i]!
    if (buf[p + n - 1]! & 0x80) v -= 2 ** (8 * n)
    return v
  }
  let v = 0n
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[p + i]!)
  if (buf[p + n - 1]! & 0x80) v -= 1n << BigInt(8 * n)
  return toIntValue(v)
}

/** A bigint narrowed to a number when it is exactly representable. @internal */
export const toIntValue = (v: bigint): number | bigint =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v

const parseDecimal = (c: OpCursor, text: string): number | bigint => {
  if (!/^[+-]?\d+$/.test(text)) fail(c, "BadArgument", `invalid integer literal ${JSON.stringify(text)}`)
  return toIntValue(BigInt(text))
}

const unescapeStringRepr = (c: OpCursor, line: string): string => {
  const q = line[0]
  if (line.length < 2 || (q !== "'" && q !== "\"") || line[line.length - 1] !== q) {
    fail(c, "BadArgument", "STRING argument is not a quoted string")
  }
  return line.slice(1, -1).replace(
    /\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/gs,
    (_m, e: string) => {
      if (e[0] === "x") return String.fromCharCode(parseInt(e.slice(1), 16))
      if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff)
      const simple: Record<string, string> = { n: "\n", r: "\r", t: "\t", "\\": "\\", "'": "'", "\"": "\"", a: "\x07", b: "\b", f: "\f", v: "\v", "\n": "" }
      return simple[e] ?? "\\" + e
    }
  )
}

const decodeRawUnicodeEscape = (bytes: Uint8Array): string =>
  decodeLatin1(bytes).replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u: string | undefined, U: string | undefined) =>
    String.fromCodePoint(parseInt((u ?? U)!, 16)))

/**
 * Decodes the opcode at `c.pos`. Returns false, leaving the cursor where it
 * was, when the buffer ends before the opcode does (the caller decides whether
 * that is truncation or a need for more input). Throws `PickleError` for
 * malformed input.
 *
 * @internal
 */
export const decodeOp = (c: OpCursor): boolean => {
  const { buf, end } = c
  const start = c.pos
  c.start = start
  if (start >= end) return false
  const code = buf[start]!
  const info = table[code]
  if (info === undefined) {
    fail(c, "UnknownOpcode", `unknown opcode 0x${code.toString(16).padStart(2, "0")}`)
  }
  let p = start + 1
  let arg: OpArg = null
  switch (info!.arg) {
    case "none":
      break
    case "u8":
      if (p + 1 > end) return false
      arg = buf[p]!
      p += 1
      break
    case "u16":
      if (p + 2 > end) return false
      arg = buf[p]! | (buf[p + 1]! << 8)
      p += 2
      break
    case "i32":
      if (p + 4 > end) return false
      arg = c.view.getInt32(p, true)
      p += 4
      break
    case "u32":
      if (p + 4 > end) return false
      arg = c.view.getUint32(p, true)
      p += 4
      break
    case "u64":
      if (p + 8 > end) return false
      arg = toIntValue(c.view.getBigUint64(p, true))
      p += 8
      break
    case "f64be":
      if (p + 8 > end) return false
      arg = c.view.getFloat64(p, false)
      p += 8
      break
    case "long1":
    case "long4": {
      const wide = info!.arg === "long4"
      if (p + (wide ? 4 : 1) > end) return false
      const n = wide ? c.view.getInt32(p, true) : buf[p]!
      p += wide ? 4 : 1
      if (n < 0) fail(c, "BadArgument", "LONG4 byte count is negative")
      if (p + n > end) return false
      arg = readLong(buf, p, n)
      p += n
      break
    }
    case "bytes1":
    case "bytes4":
    case "bytes4s":
    case "bytes8": {
      const k = info!.arg
      const width = k === "bytes1" ? 1 : k === "bytes8" ? 8 : 4
      if (p + width > end) return false
      let n: number
      if (k === "bytes1") n = buf[p]!
      else if (k === "bytes4") n = c.view.getUint32(p, true)
      else if (k === "bytes4s") {
        n = c.view.getInt32(p, true)
        if (n < 0) fail(c, "BadArgument", `${info!.name} byte count is negative`)
      } else {
        const big = c.view.getBigUint64(p, true)
        n = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big)
      }
      p += width
      if (p + n > end) return false
      arg = code === Op.BINUNICODE || code === Op.SHORT_BINUNICODE || code === Op.BINUNICODE8 ? decodeUtf8At(buf, p, n) : buf.subarray(p, p + n)
      p += n
      break
    }
    default: {
      // Text-line arguments end at "\n".
      const nl = buf.indexOf(10, p)
      if (nl < 0 || nl >= end) return false
      const lineBytes = buf.subarray(p, nl)
      let line2: string | undefined
      let q = nl + 1
      if (info!.arg === "twolines") {
        const nl2 = buf.indexOf(10, q)
        if (nl2 < 0 || nl2 >= end) return false
        line2 = decodeUtf8(buf.subarray(q, nl2))
        q = nl2 + 1
      }
      p = q
      const line = info!.arg === "unicodenl" ? "" : decodeUtf8(lineBytes)
      switch (info!.arg) {
        case "intnl":
          arg = line === "00" ? false : line === "01" ? true : parseDecimal(c, line)
          break
        case "longnl":
          arg = parseDecimal(c, line.endsWith("L") ? line.slice(0, -1) : line)
          break
        case "decimalnl":
          arg = parseDecimal(c, line)
          break
        case "floatnl": {
          // Python's float(): decimal literals, and inf / infinity / nan with an optional sign.
          const t = line.trim()
          const special = /^([+-]?)(inf|infinity|nan)$/i.exec(t)
          const f = special ? (special[2]!.toLowerCase() === "nan" ? NaN : special[1] === "-" ? -Infinity : Infinity) : Number(t)
          if (t === "" || (Number.isNaN(f) && !special)) fail(c, "BadArgument", `invalid float literal ${JSON.stringify(line)}`)
          arg = f
          break
        }
        case "stringnl":
          arg = unescapeStringRepr(c, line)
          break
        case "unicodenl":
          arg = decodeRawUnicodeEscape(lineBytes)
          break
        case "asciinl":
          arg = line
          break
        case "twolines":
          arg = [line, line2!] as const
          break
      }
    }
  }
  c.code = code
  c.arg = arg
  c.pos = p
  return true
}
