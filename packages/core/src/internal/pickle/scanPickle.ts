/**
 * Finds every global a pickle references, without building any value:
 * opcodes are decoded and only strings are tracked, through the stack and
 * the memo, so STACK_GLOBAL is resolved from the strings it will really
 * pop, however they got there (direct, memoized, DUP'd). Every pickle
 * stored back to back in a record is scanned, not just the first.
 *
 * @internal
 */
import { isTorchwireError } from "../../Errors.js"
import { decodeOp, makeCursor, Op, OPCODES } from "./opcodes.js"

/** A global found in a pickle. @internal */
export interface FoundGlobal {
  readonly module: string
  readonly name: string
  /** Byte offset of the opcode that names it, in the record. */
  readonly offset: number
  /** How it was named: GLOBAL, STACK_GLOBAL, INST, EXT. */
  readonly via: string
}

const UNKNOWN = Symbol("unknown")
type Slot = string | typeof UNKNOWN

/**
 * Scans one record's bytes. Returns the globals found and, if the bytes
 * stop decoding, the error (the globals before it are still reported).
 *
 * @internal
 */
export const scanPickles = (bytes: Uint8Array, record: string, maxPickles = Infinity): { readonly globals: Array<FoundGlobal>; readonly error: string | undefined; readonly end: number } => {
  let pickles = 0
  const globals: Array<FoundGlobal> = []
  const c = makeCursor(bytes, 0, bytes.length, record)
  // The stack's slots, and the heights its MARKs were pushed at: every opcode costs O(1) (amortized), whatever
  // the sequence (a copy of the stack per MARK popped made `(` x n then `l` x n quadratic).
  const stack: Array<Slot> = []
  const marks: Array<number> = []
  let memo = new Map<number, Slot>()
  const floor = () => (marks.length === 0 ? 0 : marks[marks.length - 1]!)
  const pop = (): Slot => (stack.length > floor() ? stack.pop()! : UNKNOWN)
  const popMark = () => {
    stack.length = Math.min(stack.length, marks.pop() ?? 0)
  }
  const top = (): Slot => (stack.length > floor() ? stack[stack.length - 1]! : UNKNOWN)
  const found = (module: string, name: string, via: string) => globals.push({ module, name, offset: c.start, via })
  try {
    while (c.pos < c.end) {
      if (!decodeOp(c)) return { globals, error: `${record}: pickle ends before STOP at byte ${c.pos}`, end: c.pos }
      const arg = c.arg
      switch (c.code) {
        case Op.MARK:
          marks.push(stack.length)
          break
        case Op.GLOBAL: {
          const [module, n] = arg as readonly [string, string]
          found(module, n, "GLOBAL")
          stack.push(UNKNOWN)
          break
        }
        case Op.INST: {
          const [module, n] = arg as readonly [string, string]
          found(module, n, "INST")
          popMark()
          stack.push(UNKNOWN)
          break
        }
        case Op.STACK_GLOBAL: {
          const n = pop()
          const module = pop()
          found(typeof module === "string" ? module : "?", typeof n === "string" ? n : "?", "STACK_GLOBAL")
          stack.push(UNKNOWN)
          break
        }
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4:
          found("copyreg extension", String(arg), "EXT")
          stack.push(UNKNOWN)
          break
        case Op.BINUNICODE:
        case Op.SHORT_BINUNICODE:
        case Op.BINUNICODE8:
        case Op.UNICODE:
        case Op.STRING:
          stack.push(arg as string)
          break
        case Op.BINSTRING:
        case Op.SHORT_BINSTRING:
          stack.push(new TextDecoder("latin1").decode(arg as Uint8Array))
          break
        case Op.PUT:
        case Op.BINPUT:
        case Op.LONG_BINPUT:
          memo.set(Number(arg), top())
          break
        case Op.MEMOIZE:
          memo.set(memo.size, top())
          break
        case Op.GET:
        case Op.BINGET:
        case Op.LONG_BINGET:
          stack.push(memo.get(Number(arg)) ?? UNKNOWN)
          break
        case Op.PROTO:
        case Op.FRAME:
        case Op.READONLY_BUFFER:
          break
        default: {
          const { pops, popsMark, pushes } = OPCODES[c.code]!
          if (popsMark) popMark()
          const kept = c.code === Op.DUP ? top() : UNKNOWN
          for (let i = 0; i < pops; i++) pop()
          for (let i = 0; i < pushes; i++) stack.push(kept)
          if (c.code === Op.STOP) {
            if (++pickles >= maxPickles) return { globals, error: undefined, end: c.pos }
            // Another pickle may follow in the same record.
            stack.length = 0
            marks.length = 0
            memo = new Map()
          }
        }
      }
    }
    return { globals, error: undefined, end: c.pos }
  } catch (e) {
    return { globals, error: isTorchwireError(e) ? e.message : String(e), end: c.start }
  }
}
