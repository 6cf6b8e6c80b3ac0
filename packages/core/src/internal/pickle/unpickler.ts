/**
 * The unpickler virtual machine: runs pickle opcodes over a stack, a mark
 * stack and a memo, exactly as CPython's `_pickle` would, but never calls
 * anything. Globals are resolved through a hook, which may return a
 * `CallableGlobal` (a modelled constructor such as `collections.OrderedDict`
 * or `torch._utils._rebuild_tensor_v2`) or a plain `PyGlobal`, in which case
 * REDUCE/NEWOBJ/INST produce an opaque `PyObject`. Its options and hooks
 * are in `hooks.ts`, what its object opcodes do to values in `objects.ts`.
 *
 * @internal
 */
import { PickleError } from "../../Errors.js"
import { PyByteArray, PyFloat, PyFrozenSet, type PyObject, PySet, PyTuple, type PyValue } from "../../Value.js"
import type { CallSite, UnpickleOptions, UnpickleResult } from "./hooks.js"
import { appendTokens, setGlobalParts, setTokens, StringHashLog, type Tokens } from "./identity.js"
import { buildOn, callGlobal, describe, listOf, opName, py2Decoder, setItems, tupleItems } from "./objects.js"
import { defaultValueBytes, DICT_ENTRY_BYTES, SLOT_BYTES, VALUE_BYTES } from "./memoryBudget.js"
import { decodeOp, decodeUtf8At, makeCursor, NO_ARGUMENT, type OpCursor } from "./opcodes.js"
import { type PrePass, scanPrePass } from "./prePass.js"
import { PresizedLists } from "./presizedLists.js"

/**
 * Unpickles one pickle starting at `start` in `buf`. Throws `PickleError`
 * (with the record and byte offset) for malformed input, including a
 * pickle that ends before STOP.
 *
 * @internal
 */
export const unpickle = (buf: Uint8Array, start: number, options: UnpickleOptions): UnpickleResult => {
  const cursor = () => makeCursor(buf, start, buf.byteLength, options.record, options.base ?? 0)
  // Which memo keys GETs fetch (the runs keep only those values), and how long the lists get.
  const prePass = scanPrePass(buf, start, buf.byteLength)
  try {
    return run(cursor(), options, false, prePass)
  } catch (e) {
    if (e !== SHARED_STRING_VALUES) throw e
    return run(cursor(), options, true, prePass)
  }
}

/**
 * Thrown by an untracked run at STOP when two of the strings its opcodes
 * made are equal (two objects in the pickling process).
 */
const SHARED_STRING_VALUES = Symbol("shared string values")

/**
 * Runs the VM. String identity (identity.ts) costs a token per stack slot,
 * memo entry and container slot, so a first run records none: when every
 * string value is made by one opcode (and fetched from the memo after),
 * identity is value equality, which is how the pickler memoizes token-less
 * strings. The rare pickle with equal strings made twice is run again with
 * `track`, which records the tokens. Hooks must tolerate that second run
 * (they are lookups and caches).
 */
const run = (c: OpCursor, options: UnpickleOptions, track: boolean, prePass: PrePass | undefined): UnpickleResult => {
  // The stack holds `sp` values; slots above are stale. An explicit height keeps the array's capacity:
  // shrinking `length` at every APPENDS let the engine trim and regrow it, about 30 bytes per value pushed.
  const stack: Array<PyValue> = []
  let sp = 0
  // String identity (see identity.ts), when tracked: the token of each stack slot and memo entry.
  const toks: Tokens = []
  // Untracked runs log the strings opcodes make, and check them for repeats at STOP.
  const madeStrings = track ? undefined : new StringHashLog()
  const marks: Array<number> = []
  // Memo keys are (almost always) dense small integers: arrays beat Maps by far.
  const memo: Array<PyValue | undefined> = []
  const memoTok: Array<number | undefined> = []
  let memoCount = 0
  let protocol = 0
  // The strings each STACK_GLOBAL took its module and name from (identity.ts, setGlobalParts).
  const globalParts = new Map<string, Tokens>()
  let pushed = 0 // values pushed in all: the most a pickle may make is bounded (maxValues), not only its stack
  const error = (reason: PickleError["reason"], detail: string): PickleError =>
    new PickleError({ reason, offset: c.base + c.start, detail, ...(options.record === undefined ? {} : { record: options.record }) })
  const decodePy2 = py2Decoder(options.encoding, error)
  const site = (): CallSite => ({ offset: c.base + c.start, record: options.record })
  const floor = (): number => (marks.length === 0 ? 0 : marks[marks.length - 1]!)
  const { maxMemo = 5_000_000, maxStack = 10_000_000, maxValues = 50_000_000 } = options
  const maxValueBytes = options.maxValueBytes ?? defaultValueBytes(c.end - c.pos)
  let spent = 0 // estimated bytes the values take beyond their slots (memoryBudget.ts)
  const charge = (bytes: number) => {
    if ((spent += bytes) + SLOT_BYTES * pushed > maxValueBytes) {
      throw error("LimitExceeded", `the pickle's values would take more than ${(maxValueBytes / 2 ** 20).toFixed(0)} MiB (estimated; maxValueBytes raises it)`)
    }
  }
  const push = (v: PyValue, token?: number) => {
    if (sp >= maxStack) throw error("LimitExceeded", `the stack holds more than ${maxStack} values`)
    if (++pushed > maxValues) throw error("LimitExceeded", `the pickle makes more than ${maxValues} values`)
    stack[sp++] = v
    if (track) toks.push(token)
  }
  /** Pops a value; its token, when tracked, is left in `poppedToken`. */
  let poppedToken: number | undefined
  const pop = (): PyValue => {
    if (sp <= floor()) throw error("StackUnderflow", `${opName(c.code)} needs a value on the stack`)
    if (track) poppedToken = toks.pop()
    return stack[--sp]!
  }
  /** Pushes a string an opcode made, already in `madeStrings`: its token is its offset. */
  const pushLoggedString = (s: string) => push(s, c.base + c.start)
  /** Pushes a string an opcode made. */
  const pushString = (s: string) => {
    madeStrings?.add(s)
    pushLoggedString(s)
  }
  const top = (): PyValue => {
    if (sp <= floor()) throw error("StackUnderflow", `${opName(c.code)} needs a value on the stack`)
    return stack[sp - 1]!
  }
  let markTokens: Tokens = []
  /** The end of the items `dropFrom` dropped last. */
  let markEnd = 0
  /**
   * Drops the stack's values from `at` up without copying them: they stay in
   * `stack[at, markEnd)` until the next push. Their tokens, when tracked, are
   * left in `markTokens`.
   */
  const dropFrom = (at: number): number => {
    markEnd = sp
    if (track) {
      markTokens = toks.slice(at)
      toks.length = at
    }
    sp = at
    return at
  }
  /** Takes the stack's values from `at` up; their tokens, when tracked, are left in `markTokens`. */
  const takeFrom = (at: number): Array<PyValue> => stack.slice(dropFrom(at), markEnd)
  /** Pops to the topmost MARK in place (see `dropFrom`); returns where the items start. */
  const popMarkInPlace = (): number => {
    if (marks.length === 0) throw error("MarkMissing", `${opName(c.code)} without a MARK`)
    return dropFrom(marks.pop()!)
  }
  /** Pops to the topmost MARK; the items' tokens, when tracked, are left in `markTokens`. */
  const popMark = (): Array<PyValue> => stack.slice(popMarkInPlace(), markEnd)

  const withTokens = <A extends object>(container: A, tokens: Tokens): A => {
    if (track) setTokens(container, tokens)
    return container
  }
  const memoGet = (i: number): PyValue => {
    const v = memo[i]
    if (v === undefined) throw error("MemoMissing", `memo key ${i} was never stored`)
    return v
  }
  // With the pre-pass (prePass.ts), only the values some GET fetches are kept; `seen` marks the keys put.
  const fetched = prePass?.fetched
  const seen = prePass === undefined ? undefined : new Uint8Array(prePass.putBound)
  /** Counts key `i` as a memo entry the first time it is put: the count is MEMOIZE's next key. */
  const countKey = (i: number) => {
    if (seen === undefined ? memo[i] !== undefined : seen[i] !== 0) return
    if (memoCount >= maxMemo) throw error("LimitExceeded", `the memo holds more than ${maxMemo} entries`)
    memoCount++
    if (seen !== undefined) seen[i] = 1
  }
  const memoPut = (i: number) => {
    const v = top()
    countKey(i)
    if (fetched !== undefined && fetched[i] !== 1) return
    memo[i] = v
    if (track) memoTok[i] = toks[toks.length - 1]
  }
  // Large lists are made at their final length (untracked runs only: tracking appends at `length`).
  const lists = new PresizedLists(track ? undefined : prePass?.listSizes, (slots) => charge(SLOT_BYTES * slots))
  const findClass = (module: string, name: string): PyValue => options.findClass(module, name, site())
  const instantiate = (cls: PyValue, args: ReadonlyArray<PyValue>, how: PyObject["how"], kwargs?: PyValue): PyValue => {
    lists.settle()
    return callGlobal(cls, args, how, kwargs, site(), error)
  }
  const persistent = (pid: PyValue): PyValue => {
    if (options.persistentLoad === undefined) throw error("BadValue", "pickle has a persistent id but no persistent_load is defined")
    lists.settle()
    return options.persistentLoad(pid, site())
  }

  const { buf, view, end } = c
  for (;;) {
    // The opcodes of bulk data, decoded inline; the rest (and any argument cut short) below.
    const p = c.pos
    const code = p < end ? buf[p]! : -1
    c.start = p
    c.code = code
    switch (code) {
      case 0x4b: // BININT1
        if (p + 2 > end) break
        c.pos = p + 2
        push(buf[p + 1]!)
        continue
      case 0x4d: // BININT2
        if (p + 3 > end) break
        c.pos = p + 3
        push(buf[p + 1]! | (buf[p + 2]! << 8))
        continue
      case 0x4a: // BININT
        if (p + 5 > end) break
        c.pos = p + 5
        push(view.getInt32(p + 1, true))
        continue
      case 0x47: // BINFLOAT
        if (p + 9 > end) break
        c.pos = p + 9
        charge(VALUE_BYTES[code]!)
        push(new PyFloat(view.getFloat64(p + 1, false)))
        continue
      case 0x8c: { // SHORT_BINUNICODE
        const n = p + 2 <= end ? buf[p + 1]! : end
        if (p + 2 + n > end) break
        c.pos = p + 2 + n
        charge(VALUE_BYTES[code]! + n)
        pushLoggedString(decodeUtf8At(buf, p + 2, n, madeStrings))
        continue
      }
      case 0x58: { // BINUNICODE
        const n = p + 5 <= end ? view.getUint32(p + 1, true) : end
        if (p + 5 + n > end) break
        c.pos = p + 5 + n
        charge(VALUE_BYTES[code]! + n)
        pushLoggedString(decodeUtf8At(buf, p + 5, n, madeStrings))
        continue
      }
      case 0x71: // BINPUT
        if (p + 2 > end) break
        c.pos = p + 2
        memoPut(buf[p + 1]!)
        continue
      case 0x72: // LONG_BINPUT
        if (p + 5 > end) break
        c.pos = p + 5
        memoPut(view.getUint32(p + 1, true))
        continue
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const wide = code === 0x6a
        if (p + (wide ? 5 : 2) > end) break
        const i = wide ? view.getUint32(p + 1, true) : buf[p + 1]!
        c.pos = p + (wide ? 5 : 2)
        push(memoGet(i), track ? memoTok[i] : undefined)
        continue
      }
    }
    if (code >= 0 && NO_ARGUMENT[code] === 1) {
      // NONE, MARK, TUPLE2, APPENDS...: a third of a typical pickle's opcodes.
      c.pos = p + 1
      c.arg = null
    } else if (!decodeOp(c)) {
      throw error("Truncated", c.pos >= c.end ? "pickle ends before STOP" : "opcode argument runs past the end")
    }
    const arg = c.arg
    const cost = VALUE_BYTES[c.code]!
    if (cost !== 0) charge(cost + (typeof arg === "string" || arg instanceof Uint8Array ? arg.length : 0))
    switch (c.code) {
      case 0x80: // PROTO
        protocol = arg as number
        if (protocol > 5) throw error("BadArgument", `unsupported pickle protocol ${protocol}`)
        break
      case 0x95: // FRAME
      case 0x98: // READONLY_BUFFER
        break
      case 0x2e: { // STOP
        const value = pop()
        if (madeStrings?.hasRepeats()) throw SHARED_STRING_VALUES
        lists.settle()
        if (value !== null && typeof value === "object") setGlobalParts(value, globalParts)
        return { value, end: c.pos, protocol }
      }
      case 0x28: // MARK
        marks.push(sp)
        break
      case 0x30: // POP
        if (sp > floor()) pop()
        else popMark()
        break
      case 0x31: // POP_MARK
        popMark()
        break
      case 0x32: // DUP
        push(top(), track ? toks[toks.length - 1] : undefined)
        break
      case 0x4e: // NONE
        push(null)
        break
      case 0x88: // NEWTRUE
        push(true)
        break
      case 0x89: // NEWFALSE
        push(false)
        break
      case 0x49: // INT
      case 0x4c: // LONG
      case 0x8a: // LONG1
      case 0x8b: // LONG4
        push(arg as number | bigint | boolean)
        break
      case 0x46: // FLOAT
        push(new PyFloat(arg as number))
        break
      case 0x53: // STRING
        if (options.encoding === "bytes") push(Uint8Array.from(arg as string, (ch) => ch.charCodeAt(0)))
        else pushString(arg as string)
        break
      case 0x54: // BINSTRING
      case 0x55: { // SHORT_BINSTRING
        const v = decodePy2(arg as Uint8Array)
        if (typeof v === "string") pushString(v)
        else push(v)
        break
      }
      case 0x56: // UNICODE
      case 0x8d: // BINUNICODE8
        pushString(arg as string)
        break
      case 0x42: // BINBYTES
      case 0x43: // SHORT_BINBYTES
      case 0x8e: // BINBYTES8
        push((arg as Uint8Array).slice())
        break
      case 0x96: // BYTEARRAY8
        push(new PyByteArray((arg as Uint8Array).slice()))
        break
      case 0x97: { // NEXT_BUFFER
        const next = options.buffers?.next()
        if (next === undefined || next.done) throw error("BadValue", "NEXT_BUFFER without an out-of-band buffer")
        push(next.value)
        break
      }
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]))
        break
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const n = c.code - 0x85 + 1 // TUPLE1..3
        if (sp - n < floor()) throw error("StackUnderflow", `${opName(c.code)} needs ${n} values on the stack`)
        if (track) {
          push(new PyTuple(withTokens(takeFrom(sp - n), markTokens)))
          break
        }
        // Popped into a literal: a slice and a length change per tuple cost ~8% of unpickling a large pickle.
        const last = stack[--sp]!
        const items = n === 1 ? [last] : n === 2 ? [stack[--sp]!, last] : [stack[sp - 2]!, stack[sp - 1]!, last]
        if (n === 3) sp -= 2
        push(new PyTuple(items))
        break
      }
      case 0x74: // TUPLE
        push(new PyTuple(withTokens(popMark(), markTokens)))
        break
      case 0x5d: // EMPTY_LIST
        push(lists.next())
        break
      case 0x6c: // LIST
        push(withTokens(popMark(), markTokens))
        break
      case 0x7d: // EMPTY_DICT
        push(new Map())
        break
      case 0x64: { // DICT
        const d = new Map<PyValue, PyValue>()
        const at = popMarkInPlace()
        charge((DICT_ENTRY_BYTES / 2) * (markEnd - at))
        setItems(d, stack, at, markEnd, markTokens, track, error)
        push(d)
        break
      }
      case 0x8f: // EMPTY_SET
        push(new PySet([]))
        break
      case 0x91: // FROZENSET
        push(new PyFrozenSet(withTokens(popMark(), markTokens)))
        break
      case 0x90: { // ADDITEMS
        const items = popMark()
        const set = top()
        if (!(set instanceof PySet)) throw error("BadValue", `ADDITEMS on a ${describe(set)}`)
        if (track) appendTokens(set.items, set.items.length, markTokens)
        for (const i of items) set.items.push(i)
        break
      }
      case 0x61: { // APPEND
        pop()
        const list = listOf(top(), error)
        if (track) appendTokens(list, list.length, [poppedToken])
        // `pop` left the value in its slot, `stack[sp]`.
        lists.append(list, stack, sp, sp + 1)
        break
      }
      case 0x65: { // APPENDS
        const at = popMarkInPlace()
        const list = listOf(top(), error)
        if (track) appendTokens(list, list.length, markTokens)
        lists.append(list, stack, at, markEnd)
        break
      }
      case 0x73: { // SETITEM
        const v = pop()
        const tv = poppedToken
        const k = pop()
        charge(DICT_ENTRY_BYTES)
        setItems(top(), [k, v], 0, 2, [poppedToken, tv], track, error)
        break
      }
      case 0x75: { // SETITEMS
        const at = popMarkInPlace()
        charge((DICT_ENTRY_BYTES / 2) * (markEnd - at))
        setItems(top(), stack, at, markEnd, markTokens, track, error)
        break
      }
      case 0x67: // GET
        push(memoGet(Number(arg)), track ? memoTok[Number(arg)] : undefined)
        break
      case 0x70: // PUT
        if (typeof arg === "bigint" || (arg as number) < 0) throw error("BadArgument", "negative or huge memo key")
        memoPut(arg as number)
        break
      case 0x94: // MEMOIZE
        memoPut(memoCount)
        break
      case 0x63: { // GLOBAL
        const [module, name] = arg as readonly [string, string]
        push(findClass(module, name))
        break
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop()
        const nameToken = poppedToken
        const module = pop()
        if (typeof module !== "string" || typeof name !== "string") throw error("BadValue", "STACK_GLOBAL needs two strings")
        if (!globalParts.has(`${module}\n${name}`)) globalParts.set(`${module}\n${name}`, [poppedToken, nameToken])
        push(findClass(module, name))
        break
      }
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: { // EXT4
        const entry = options.extensions?.get(arg as number)
        if (entry === undefined) throw error("Extension", `extension code ${arg} is not in the registry (pass one with the extensions option)`)
        push(findClass(entry[0], entry[1]))
        break
      }
      case 0x52: { // REDUCE
        const args = tupleItems(pop(), "REDUCE arguments", error)
        const fn = pop()
        push(instantiate(fn, args, "reduce"))
        break
      }
      case 0x81: { // NEWOBJ
        const args = tupleItems(pop(), "NEWOBJ arguments", error)
        const cls = pop()
        push(instantiate(cls, args, "newobj"))
        break
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop()
        const args = tupleItems(pop(), "NEWOBJ_EX arguments", error)
        const cls = pop()
        push(instantiate(cls, args, "newobj_ex", kwargs))
        break
      }
      case 0x69: { // INST
        const [module, name] = arg as readonly [string, string]
        const args = withTokens(popMark(), markTokens)
        push(instantiate(findClass(module, name), args, "inst"))
        break
      }
      case 0x6f: { // OBJ
        const [cls, ...args] = popMark()
        if (cls === undefined) throw error("StackUnderflow", "OBJ needs a class")
        push(instantiate(cls, withTokens(args, markTokens.slice(1)), "inst"))
        break
      }
      case 0x62: { // BUILD
        const state = pop()
        buildOn(top(), state, options.build, track, error)
        break
      }
      case 0x50: // PERSID
        push(persistent(arg as string))
        break
      case 0x51: // BINPERSID
        push(persistent(pop()))
        break
      default:
        throw error("UnknownOpcode", `opcode ${opName(c.code)} is not handled`)
    }
  }
}
