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
import { makeOpcodeDecoder } from "./opcodeStream.js"
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

/** What a scan reports of a decoding failure: a torchwire error's message (with record and offset), or the thrown value. */
const messageOf = (e: unknown): string => (isTorchwireError(e) ? e.message : String(e))

const UNKNOWN = Symbol("unknown")
type Slot = string | typeof UNKNOWN

/** What a scan found: the globals, and the error where the bytes stopped decoding, if they did. @internal */
export interface ScanResult {
  /** The globals found: every occurrence up to `MAX_PER_GLOBAL` of each, and up to `MAX_LISTED` in all (then only those `keep` asks for). */
  readonly globals: Array<FoundGlobal>
  /** Occurrences not listed of globals that are listed. */
  readonly repeats: number
  /** Occurrences not listed of globals that are not (past `MAX_LISTED`, not kept): their names are unknown to the caller. */
  readonly unlisted: number
  readonly error: string | undefined
  /** Offset just past the last pickle scanned (or where decoding stopped). */
  readonly end: number
}

/**
 * A scanner fed one opcode at a time (`step` returns false once
 * `maxPickles` pickles have ended): only strings are tracked, through the
 * stack and the memo, so STACK_GLOBAL is resolved from the strings it will
 * really pop. Every opcode costs O(1) (amortized), whatever the sequence.
 */
const makeScanner = (maxPickles: number, keep: (module: string, name: string) => boolean) => {
  let pickles = 0
  /** Whether a pickle has begun and not yet stopped. */
  let open = false
  const globals: Array<FoundGlobal> = []
  // Occurrences listed per global (only of globals listed: at most MAX_LISTED keys, and those kept).
  const listed = new Map<string, number>()
  let repeats = 0
  let unlisted = 0
  /** Lists a global found, as far as the bounds allow (a 70 MB pickle can name five million). */
  const list = (found: FoundGlobal) => {
    const key = `${found.module}\n${found.name}`
    const n = listed.get(key)
    if (n !== undefined && n >= MAX_PER_GLOBAL) repeats++
    else if (n !== undefined || globals.length < MAX_LISTED || keep(found.module, found.name)) {
      listed.set(key, (n ?? 0) + 1)
      globals.push(found)
    } else unlisted++
  }
  // The stack's slots, and the heights its MARKs were pushed at (a copy of the stack per MARK popped made `(` x n
  // then `l` x n quadratic).
  const stack: Array<Slot> = []
  const marks: Array<number> = []
  let memo = new Map<number, Slot>()
  const floor = () => (marks.length === 0 ? 0 : marks[marks.length - 1]!)
  const pop = (): Slot => (stack.length > floor() ? stack.pop()! : UNKNOWN)
  const popMark = () => {
    stack.length = Math.min(stack.length, marks.pop() ?? 0)
  }
  const top = (): Slot => (stack.length > floor() ? stack[stack.length - 1]! : UNKNOWN)
  const step = (code: number, arg: unknown, offset: number): boolean => {
    open = true
    const found = (module: string, name: string, via: string) => list({ module, name, offset, via })
    switch (code) {
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
        stack.push(latin1.decode(arg as Uint8Array))
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
        const { pops, popsMark, pushes } = OPCODES[code]!
        if (popsMark) popMark()
        const kept = code === Op.DUP ? top() : UNKNOWN
        for (let i = 0; i < pops; i++) pop()
        for (let i = 0; i < pushes; i++) stack.push(kept)
        if (code === Op.STOP) {
          open = false
          if (++pickles >= maxPickles) return false
          // Another pickle may follow in the same record.
          stack.length = 0
          marks.length = 0
          memo = new Map()
        }
      }
    }
    return true
  }
  /** Why bytes that end at `at` (at an opcode's end) end too soon, if they do: inside a pickle, or short of `maxPickles`. */
  const endedEarly = (record: string, at: number): string | undefined =>
    open
      ? `${record}: pickle ends before STOP at byte ${at}`
      : Number.isFinite(maxPickles) && pickles < maxPickles
      ? `${record}: ${pickles} of ${maxPickles} pickles end before byte ${at}`
      : undefined
  /** The scan's result, once it ended at `end` (with `error`, if it failed). */
  const result = (error: string | undefined, end: number): ScanResult => ({ globals, repeats, unlisted, error, end })
  return { step, endedEarly, result }
}

/** Occurrences of one global listed; the rest are counted (`ScanResult.repeats`). */
const MAX_PER_GLOBAL = 16

/** Globals listed in all before only those `keep` asks for are (`ScanResult.unlisted`). */
const MAX_LISTED = 10_000

/** What a scan lists past `MAX_LISTED`: nothing (the caller passes a predicate to keep, say, dangerous ones). */
const KEEP_NONE = () => false

const latin1 = new TextDecoder("latin1")

/**
 * Scans one record's bytes. Returns the globals found and, if the bytes
 * stop decoding, the error (the globals before it are still reported).
 *
 * @internal
 */
export const scanPickles = (bytes: Uint8Array, record: string, maxPickles = Infinity, keep: (module: string, name: string) => boolean = KEEP_NONE): ScanResult => {
  const { step, endedEarly, result } = makeScanner(maxPickles, keep)
  const c = makeCursor(bytes, 0, bytes.length, record)
  try {
    while (c.pos < c.end) {
      if (!decodeOp(c)) return result(`${record}: pickle ends before STOP at byte ${c.pos}`, c.pos)
      if (!step(c.code, c.arg, c.start)) return result(undefined, c.pos)
    }
    return result(endedEarly(record, c.pos), c.pos)
  } catch (e) {
    return result(messageOf(e), c.start)
  }
}

/**
 * A scanner of a record that arrives in chunks (a pickle too large to hold):
 * `push` each chunk, then `end`; memory is the scanner's strings and the
 * opcode being decoded, refused past `maxOpcodeBytes` (default 64 MiB: a
 * string or bytes argument that long is data no global hides in).
 *
 * @internal
 */
export const makeStreamScanner = (
  record: string,
  maxPickles = Infinity,
  keep: (module: string, name: string) => boolean = KEEP_NONE,
  maxOpcodeBytes = 64 << 20
) => {
  const { step, endedEarly, result } = makeScanner(maxPickles, keep)
  let end = 0
  let error: string | undefined
  let done = false
  let seen = 0
  const decoder = makeOpcodeDecoder({
    record,
    onOp: (op) => {
      end = op.offset + 1
      if (step(op.code, op.arg, op.offset)) return true
      done = true // enough pickles
      return false
    }
  })
  return {
    /** Scans what `chunk` completes; false once the scan is over (enough pickles, or an error). */
    push: (chunk: Uint8Array): boolean => {
      if (done) return false
      seen += chunk.length
      try {
        decoder.push(chunk)
        if (seen - end > maxOpcodeBytes) {
          error = `${record}: an opcode at byte ${end} runs over ${maxOpcodeBytes} bytes, past what is scanned`
          done = true
        }
      } catch (e) {
        error = messageOf(e)
        done = true
      }
      return !done
    },
    /** The result, once the record has ended (or the scan stopped). */
    end: (): ScanResult => {
      if (!done) {
        try {
          decoder.end()
          error = endedEarly(record, seen)
        } catch (e) {
          error = messageOf(e)
        }
      }
      return result(error, end)
    }
  }
}
