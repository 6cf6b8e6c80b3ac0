/**
 * The unpickler virtual machine: runs pickle opcodes over a stack, a mark
 * stack and a memo, exactly as CPython's `_pickle` would, but never calls
 * anything. Globals are resolved through a hook, which may return a
 * `CallableGlobal` (a modelled constructor such as `collections.OrderedDict`
 * or `torch._utils._rebuild_tensor_v2`) or a plain `PyGlobal`, in which case
 * REDUCE/NEWOBJ/INST produce an opaque `PyObject`.
 *
 * @internal
 */
import { PickleError } from "../Errors.js"
import { Tensor } from "../Torch.js"
import {
  OrderedDict,
  PyByteArray,
  PyFloat,
  PyFrozenSet,
  PyGlobal,
  PyObject,
  PySet,
  PyTuple,
  type PyValue
} from "../Value.js"
import { decodeLatin1, decodeOp, makeCursor, Op, type OpCursor } from "./opcodes.js"

/** Where in the pickle an operation happens, for the hooks' error messages. @internal */
export interface CallSite {
  readonly offset: number
  readonly record: string | undefined
}

/**
 * A global that torchwire models: `call` implements REDUCE (and NEWOBJ
 * unless `newobj` is given) without executing anything from the file.
 *
 * @internal
 */
export class CallableGlobal extends PyGlobal {
  constructor(
    module: string,
    name: string,
    readonly call: (args: ReadonlyArray<PyValue>, site: CallSite) => PyValue,
    readonly newobj?: (args: ReadonlyArray<PyValue>, site: CallSite) => PyValue
  ) {
    super(module, name)
  }
}

/** How the VM resolves globals and persistent ids. @internal */
export interface UnpickleHooks {
  /** GLOBAL, STACK_GLOBAL, INST, EXT*: module and name as written in the pickle. */
  readonly findClass: (module: string, name: string, site: CallSite) => PyValue
  /** PERSID / BINPERSID. Without it, persistent ids are an error. */
  readonly persistentLoad?: (pid: PyValue, site: CallSite) => PyValue
}

/** Options of one unpickling run. @internal */
export interface UnpickleOptions extends UnpickleHooks {
  /** Record name for error messages. */
  readonly record?: string
  /** How Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) decodes; torch.load uses utf-8. */
  readonly encoding?: "utf-8" | "latin1" | "ascii" | "bytes"
  /** The copyreg extension registry for EXT1/EXT2/EXT4. */
  readonly extensions?: ReadonlyMap<number, readonly [string, string]>
  /** Out-of-band buffers for NEXT_BUFFER (protocol 5). */
  readonly buffers?: Iterator<Uint8Array>
  /** Offset of `buf[0]` in the file, so error offsets are file offsets. */
  readonly base?: number
}

/** The outcome of one run: the value and where its STOP ended. @internal */
export interface UnpickleResult {
  readonly value: PyValue
  /** Offset just past STOP (in `buf`, not counting `base`). */
  readonly end: number
  /** The PROTO argument, or 0 if none. */
  readonly protocol: number
}

const py2Decoder = (encoding: UnpickleOptions["encoding"]) => {
  if (encoding === "bytes") return (b: Uint8Array): PyValue => b.slice()
  if (encoding === "latin1") return (b: Uint8Array): PyValue => decodeLatin1(b)
  const utf8 = new TextDecoder("utf-8", { fatal: true })
  return (b: Uint8Array): PyValue => utf8.decode(b)
}

/**
 * Unpickles one pickle starting at `start` in `buf`. Throws `PickleError`
 * (with the record and byte offset) for malformed input, including a
 * pickle that ends before STOP.
 *
 * @internal
 */
export const unpickle = (buf: Uint8Array, start: number, options: UnpickleOptions): UnpickleResult => {
  const c = makeCursor(buf, start, buf.byteLength, options.record, options.base ?? 0)
  return run(c, options)
}

const run = (c: OpCursor, options: UnpickleOptions): UnpickleResult => {
  const stack: Array<PyValue> = []
  const marks: Array<number> = []
  const memo = new Map<number, PyValue>()
  const decodePy2 = py2Decoder(options.encoding)
  let protocol = 0

  const error = (reason: PickleError["reason"], detail: string): PickleError =>
    new PickleError({ reason, offset: c.base + c.start, detail, ...(options.record === undefined ? {} : { record: options.record }) })
  const site = (): CallSite => ({ offset: c.base + c.start, record: options.record })
  const floor = (): number => (marks.length === 0 ? 0 : marks[marks.length - 1]!)
  const pop = (): PyValue => {
    if (stack.length <= floor()) throw error("StackUnderflow", `${opName(c.code)} needs a value on the stack`)
    return stack.pop()!
  }
  const top = (): PyValue => {
    if (stack.length <= floor()) throw error("StackUnderflow", `${opName(c.code)} needs a value on the stack`)
    return stack[stack.length - 1]!
  }
  const popMark = (): Array<PyValue> => {
    if (marks.length === 0) throw error("MarkMissing", `${opName(c.code)} without a MARK`)
    const m = marks.pop()!
    const items = stack.slice(m)
    stack.length = m
    return items
  }
  const memoGet = (i: number): PyValue => {
    const v = memo.get(i)
    if (v === undefined) throw error("MemoMissing", `memo key ${i} was never stored`)
    return v
  }
  const memoPut = (i: number) => {
    memo.set(i, top())
  }
  const findClass = (module: string, name: string): PyValue => options.findClass(module, name, site())
  const instantiate = (cls: PyValue, args: ReadonlyArray<PyValue>, how: PyObject["how"], kwargs?: PyValue): PyValue => {
    if (cls instanceof CallableGlobal) {
      return how === "reduce" || how === "inst" || cls.newobj === undefined ? cls.call(args, site()) : cls.newobj(args, site())
    }
    if (cls instanceof PyGlobal) return new PyObject(cls, args, how, kwargs)
    throw error("BadValue", `cannot call a ${describe(cls)}`)
  }
  const tupleItems = (v: PyValue, what: string): ReadonlyArray<PyValue> => {
    if (v instanceof PyTuple) return v.items
    throw error("BadValue", `${what} must be a tuple, got ${describe(v)}`)
  }
  const build = (obj: PyValue, state: PyValue) => {
    if (obj instanceof PyObject) {
      obj.state = state
    } else if (obj instanceof OrderedDict) {
      setAttrs(obj, state)
    } else if (obj instanceof Tensor) {
      obj.state = state
    } else {
      throw error("BadValue", `BUILD on a ${describe(obj)}`)
    }
  }
  const setAttrs = (obj: OrderedDict, state: PyValue) => {
    const [dictState, slots] = state instanceof PyTuple && state.items.length === 2 ? state.items : [state, null]
    for (const part of [dictState, slots]) {
      if (part === null || part === undefined) continue
      if (!(part instanceof Map)) throw error("BadValue", `BUILD state must be a dict, got ${describe(part)}`)
      for (const [k, v] of part) {
        if (typeof k !== "string") throw error("BadValue", "attribute names must be strings")
        obj.attrs.set(k, v)
      }
    }
  }
  const setItems = (target: PyValue, items: ReadonlyArray<PyValue>) => {
    if (items.length % 2 !== 0) throw error("BadValue", "SETITEMS needs key/value pairs")
    const map = target instanceof Map ? target : target instanceof PyObject ? target.dictItems : undefined
    if (map === undefined) throw error("BadValue", `cannot set items on a ${describe(target)}`)
    for (let i = 0; i < items.length; i += 2) map.set(items[i]!, items[i + 1]!)
  }
  const appendItems = (target: PyValue, items: ReadonlyArray<PyValue>) => {
    const list = Array.isArray(target) ? target : target instanceof PyObject ? target.listItems : undefined
    if (list === undefined) throw error("BadValue", `cannot append to a ${describe(target)}`)
    for (const item of items) list.push(item)
  }
  const persistent = (pid: PyValue): PyValue => {
    if (options.persistentLoad === undefined) throw error("BadValue", "pickle has a persistent id but no persistent_load is defined")
    return options.persistentLoad(pid, site())
  }

  for (;;) {
    if (!decodeOp(c)) {
      throw error("Truncated", c.pos >= c.end ? "pickle ends before STOP" : "opcode argument runs past the end")
    }
    const arg = c.arg
    switch (c.code) {
      case Op.PROTO:
        protocol = arg as number
        if (protocol > 5) throw error("BadArgument", `unsupported pickle protocol ${protocol}`)
        break
      case Op.FRAME:
      case Op.READONLY_BUFFER:
        break
      case Op.STOP: {
        const value = pop()
        return { value, end: c.pos, protocol }
      }
      case Op.MARK:
        marks.push(stack.length)
        break
      case Op.POP:
        if (stack.length > floor()) stack.pop()
        else popMark()
        break
      case Op.POP_MARK:
        popMark()
        break
      case Op.DUP:
        stack.push(top())
        break
      case Op.NONE:
        stack.push(null)
        break
      case Op.NEWTRUE:
        stack.push(true)
        break
      case Op.NEWFALSE:
        stack.push(false)
        break
      case Op.INT:
      case Op.LONG:
      case Op.BININT:
      case Op.BININT1:
      case Op.BININT2:
      case Op.LONG1:
      case Op.LONG4:
        stack.push(arg as number | bigint | boolean)
        break
      case Op.FLOAT:
      case Op.BINFLOAT:
        stack.push(new PyFloat(arg as number))
        break
      case Op.STRING:
        stack.push(options.encoding === "bytes" ? Uint8Array.from(arg as string, (ch) => ch.charCodeAt(0)) : arg as string)
        break
      case Op.BINSTRING:
      case Op.SHORT_BINSTRING:
        try {
          stack.push(decodePy2(arg as Uint8Array))
        } catch {
          throw error("BadValue", `Python 2 string is not valid ${options.encoding ?? "utf-8"}`)
        }
        break
      case Op.UNICODE:
      case Op.BINUNICODE:
      case Op.SHORT_BINUNICODE:
      case Op.BINUNICODE8:
        stack.push(arg as string)
        break
      case Op.BINBYTES:
      case Op.SHORT_BINBYTES:
      case Op.BINBYTES8:
        stack.push((arg as Uint8Array).slice())
        break
      case Op.BYTEARRAY8:
        stack.push(new PyByteArray((arg as Uint8Array).slice()))
        break
      case Op.NEXT_BUFFER: {
        const next = options.buffers?.next()
        if (next === undefined || next.done) throw error("BadValue", "NEXT_BUFFER without an out-of-band buffer")
        stack.push(next.value)
        break
      }
      case Op.EMPTY_TUPLE:
        stack.push(new PyTuple([]))
        break
      case Op.TUPLE1:
        stack.push(new PyTuple([pop()]))
        break
      case Op.TUPLE2: {
        const b = pop()
        stack.push(new PyTuple([pop(), b]))
        break
      }
      case Op.TUPLE3: {
        const z = pop()
        const y = pop()
        stack.push(new PyTuple([pop(), y, z]))
        break
      }
      case Op.TUPLE:
        stack.push(new PyTuple(popMark()))
        break
      case Op.EMPTY_LIST:
        stack.push([])
        break
      case Op.LIST:
        stack.push(popMark())
        break
      case Op.EMPTY_DICT:
        stack.push(new Map())
        break
      case Op.DICT: {
        const d = new Map<PyValue, PyValue>()
        setItems(d, popMark())
        stack.push(d)
        break
      }
      case Op.EMPTY_SET:
        stack.push(new PySet([]))
        break
      case Op.FROZENSET:
        stack.push(new PyFrozenSet(popMark()))
        break
      case Op.ADDITEMS: {
        const items = popMark()
        const set = top()
        if (!(set instanceof PySet)) throw error("BadValue", `ADDITEMS on a ${describe(set)}`)
        for (const i of items) set.items.push(i)
        break
      }
      case Op.APPEND: {
        const v = pop()
        appendItems(top(), [v])
        break
      }
      case Op.APPENDS: {
        const items = popMark()
        appendItems(top(), items)
        break
      }
      case Op.SETITEM: {
        const v = pop()
        const k = pop()
        setItems(top(), [k, v])
        break
      }
      case Op.SETITEMS: {
        const items = popMark()
        setItems(top(), items)
        break
      }
      case Op.GET:
      case Op.BINGET:
      case Op.LONG_BINGET:
        stack.push(memoGet(Number(arg)))
        break
      case Op.PUT:
      case Op.BINPUT:
      case Op.LONG_BINPUT:
        if (typeof arg === "bigint" || (arg as number) < 0) throw error("BadArgument", "negative or huge memo key")
        memoPut(arg as number)
        break
      case Op.MEMOIZE:
        memoPut(memo.size)
        break
      case Op.GLOBAL: {
        const [module, name] = arg as readonly [string, string]
        stack.push(findClass(module, name))
        break
      }
      case Op.STACK_GLOBAL: {
        const name = pop()
        const module = pop()
        if (typeof module !== "string" || typeof name !== "string") throw error("BadValue", "STACK_GLOBAL needs two strings")
        stack.push(findClass(module, name))
        break
      }
      case Op.EXT1:
      case Op.EXT2:
      case Op.EXT4: {
        const entry = options.extensions?.get(arg as number)
        if (entry === undefined) throw error("Extension", `extension code ${arg} is not in the registry (pass one with the extensions option)`)
        stack.push(findClass(entry[0], entry[1]))
        break
      }
      case Op.REDUCE: {
        const args = tupleItems(pop(), "REDUCE arguments")
        const fn = pop()
        stack.push(instantiate(fn, args, "reduce"))
        break
      }
      case Op.NEWOBJ: {
        const args = tupleItems(pop(), "NEWOBJ arguments")
        const cls = pop()
        stack.push(instantiate(cls, args, "newobj"))
        break
      }
      case Op.NEWOBJ_EX: {
        const kwargs = pop()
        const args = tupleItems(pop(), "NEWOBJ_EX arguments")
        const cls = pop()
        stack.push(instantiate(cls, args, "newobj_ex", kwargs))
        break
      }
      case Op.INST: {
        const [module, name] = arg as readonly [string, string]
        const args = popMark()
        stack.push(instantiate(findClass(module, name), args, "inst"))
        break
      }
      case Op.OBJ: {
        const [cls, ...args] = popMark()
        if (cls === undefined) throw error("StackUnderflow", "OBJ needs a class")
        stack.push(instantiate(cls, args, "inst"))
        break
      }
      case Op.BUILD: {
        const state = pop()
        build(top(), state)
        break
      }
      case Op.PERSID:
        stack.push(persistent(arg as string))
        break
      case Op.BINPERSID:
        stack.push(persistent(pop()))
        break
      default:
        throw error("UnknownOpcode", `opcode ${opName(c.code)} is not handled`)
    }
  }
}

const opName = (code: number): string => Object.keys(Op).find((k) => Op[k] === code) ?? `0x${code.toString(16)}`

/** A short description of a value for error messages. @internal */
export const describe = (v: PyValue): string => {
  if (v === null) return "None"
  if (Array.isArray(v)) return "list"
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`
  if (v instanceof PyObject) return `${v.cls.qualifiedName} object`
  if (typeof v === "object") return (v.constructor as { name: string }).name
  return typeof v
}
