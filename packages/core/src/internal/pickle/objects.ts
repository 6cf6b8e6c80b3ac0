/**
 * What the VM's object opcodes do to values: calling a global (REDUCE,
 * NEWOBJ, INST, OBJ), BUILD, SETITEM(S) and APPEND(S) targets. Each throws
 * the `PickleError` that `fail` makes, at the opcode being run.
 *
 * @internal
 */
import type { PickleError } from "../../Errors.js"
import { OrderedDict, PyGlobal, PyObject, PyTuple, type PyValue } from "../../Value.js"
import { CallableGlobal, type CallSite, type UnpickleHooks } from "./hooks.js"
import { appendTokens, setTokens, type Tokens, tokensOf } from "./identity.js"
import { decodeLatin1, Op } from "./opcodes.js"

/** Makes the error of the opcode being run. @internal */
export type Fail = (reason: PickleError["reason"], detail: string) => PickleError

/** The name of an opcode, for error messages. @internal */
export const opName = (code: number): string => Object.keys(Op).find((k) => Op[k] === code) ?? `0x${code.toString(16)}`

/** A short description of a value for error messages. @internal */
export const describe = (v: PyValue): string => {
  if (v === null) return "None"
  if (Array.isArray(v)) return "list"
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`
  if (v instanceof PyObject) return `${v.cls.qualifiedName} object`
  if (typeof v === "object") return (v.constructor as { name: string }).name
  return typeof v
}

/**
 * How Python 2 `str` bytes (BINSTRING, SHORT_BINSTRING) decode: kept as
 * bytes, as latin-1, or as strict UTF-8 (torch.load's choice; `ascii`
 * too), a string that is not valid failing with `fail`.
 *
 * @internal
 */
export const py2Decoder = (encoding: "utf-8" | "latin1" | "ascii" | "bytes" | undefined, fail: Fail): (b: Uint8Array) => PyValue => {
  if (encoding === "bytes") return (b) => b.slice()
  if (encoding === "latin1") return decodeLatin1
  const strict = new TextDecoder("utf-8", { fatal: true })
  return (b) => {
    try {
      return strict.decode(b)
    } catch {
      throw fail("BadValue", `Python 2 string is not valid ${encoding ?? "utf-8"}`)
    }
  }
}

/**
 * Calls a global as REDUCE (`how` "reduce"), NEWOBJ(_EX) or INST/OBJ would:
 * a modelled `CallableGlobal` builds its value; any other global an opaque
 * `PyObject` recording the call. Nothing else can be called.
 *
 * @internal
 */
export const callGlobal = (cls: PyValue, args: ReadonlyArray<PyValue>, how: PyObject["how"], kwargs: PyValue | undefined, site: CallSite, fail: Fail): PyValue => {
  if (cls instanceof CallableGlobal) {
    return how === "reduce" || how === "inst" || cls.newobj === undefined ? cls.call(args, site) : cls.newobj(args, site)
  }
  if (cls instanceof PyGlobal) return new PyObject(cls, args, how, kwargs)
  throw fail("BadValue", `cannot call a ${describe(cls)}`)
}

/** The items of a tuple argument (REDUCE's, NEWOBJ's). @internal */
export const tupleItems = (v: PyValue, what: string, fail: Fail): ReadonlyArray<PyValue> => {
  if (v instanceof PyTuple) return v.items
  throw fail("BadValue", `${what} must be a tuple, got ${describe(v)}`)
}

/** BUILD: state on an opaque object, attributes on an OrderedDict, anything else through the `build` hook. @internal */
export const buildOn = (obj: PyValue, state: PyValue, hook: UnpickleHooks["build"], track: boolean, fail: Fail): void => {
  if (obj instanceof PyObject) obj.state = state
  else if (obj instanceof OrderedDict) setAttrs(obj, state, track, fail)
  else if (!hook?.(obj, state)) throw fail("BadValue", `BUILD on a ${describe(obj)}`)
}

/** An OrderedDict's BUILD: its `__dict__` (and slots) state as attributes. */
const setAttrs = (obj: OrderedDict, state: PyValue, track: boolean, fail: Fail) => {
  const [dictState, slots] = state instanceof PyTuple && state.items.length === 2 ? state.items : [state, null]
  for (const part of [dictState, slots]) {
    if (part === null || part === undefined) continue
    if (!(part instanceof Map)) throw fail("BadValue", `BUILD state must be a dict, got ${describe(part)}`)
    for (const [k, v] of part) {
      if (typeof k !== "string") throw fail("BadValue", "attribute names must be strings")
      obj.attrs.set(k, v)
    }
    if (track && obj.attrs.size === part.size) setTokens(obj.attrs, tokensOf(part) ?? [])
  }
}

/**
 * Sets the key/value pairs `items[from, to)` on a dict or an object's dict
 * items; when tracking string identity, new slots take their tokens from
 * `tokens[0]` on.
 *
 * @internal
 */
export const setItems = (target: PyValue, items: ReadonlyArray<PyValue>, from: number, to: number, tokens: Tokens, track: boolean, fail: Fail): void => {
  if ((to - from) % 2 !== 0) throw fail("BadValue", "SETITEMS needs key/value pairs")
  const map = target instanceof Map ? target : target instanceof PyObject ? target.dictItems : undefined
  if (map === undefined) throw fail("BadValue", `cannot set items on a ${describe(target)}`)
  for (let i = from; i < to; i += 2) {
    const before = map.size
    map.set(items[i]!, items[i + 1]!)
    // A repeated key keeps its slot; only new slots get tokens.
    if (track && map.size > before) appendTokens(map, 2 * before, [tokens[i - from], tokens[i - from + 1]])
  }
}

/** The list APPEND(S) extend: a list, or an opaque object's list items. @internal */
export const listOf = (target: PyValue, fail: Fail): Array<PyValue> => {
  const list = Array.isArray(target) ? target : target instanceof PyObject ? target.listItems : undefined
  if (list === undefined) throw fail("BadValue", `cannot append to a ${describe(target)}`)
  return list
}
