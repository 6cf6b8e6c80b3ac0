/**
 * The pickler: writes the value model as CPython's `_pickle.Pickler` would
 * write the corresponding Python objects, protocols 0-5.
 *
 * What CPython decides by object identity, this decides as follows: a
 * string is memoized by value (CPython shares interned literals such as
 * torch's 'storage' and 'cpu', which then repeat as BINGET); every other
 * object by JS identity, which a loaded value keeps from its pickle.
 *
 * @internal
 */
import { PickleError } from "../../Errors.js"
import {
  OrderedDict,
  PyByteArray,
  PyComplex,
  PyFloat,
  PyFrozenSet,
  PyGlobal,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  typeName
} from "../../Value.js"
import { ByteWriter } from "../byteWriter.js"
import { globalPartsOf, setTokens, tokensOf, type Tokens } from "./identity.js"
import { decodeLatin1, Op } from "./opcodes.js"
import { reprFloat } from "./pyrepr.js"

/** A reduction: what `__reduce_ex__` returns. @internal */
export interface Reduction {
  readonly fn: PyGlobal
  readonly args: ReadonlyArray<PyValue>
  /** Use NEWOBJ (`copyreg.__newobj__`) rather than REDUCE. */
  readonly newobj?: boolean
  readonly state?: PyValue
  readonly listItems?: ReadonlyArray<PyValue>
  readonly dictItems?: ReadonlyMap<PyValue, PyValue>
}

/** Options of one pickling run. @internal */
export interface PickleOptions {
  readonly protocol: number
  /** Returns a persistent id for values stored outside the pickle (storages). */
  readonly persistentId?: (v: PyValue) => PyValue | undefined
  /**
   * Says how to pickle the values of a layer above (torch's tensors, dtypes,
   * devices, ...), which the pickler does not know: a reduction, or a global
   * to write as a reference (a dtype is `torch.float32`).
   */
  readonly reduce?: (v: PyValue) => Reduction | PyGlobal | undefined
  /**
   * Whose pickler to write as: CPython's (default), or torch's C++ pickler
   * (TorchScript's pickles), which keeps Python 3 module names below
   * protocol 3 (no `fix_imports`) and writes every int beyond 32 bits as an
   * 8-byte LONG1, the only width its unpickler reads.
   */
  readonly dialect?: "python" | "cpp"
}

const BATCH = 1000
const MAX_DEPTH = 1000
const FRAME_TARGET = 64 * 1024
const FRAME_MIN = 4

/** Module renames `fix_imports` applies below protocol 3 (Python 3 → 2). */
const REVERSE_IMPORTS: Record<string, string> = { builtins: "__builtin__", copyreg: "copy_reg", queue: "Queue", socketserver: "SocketServer" }

const utf8 = new TextEncoder()

const fail = (detail: string): PickleError => new PickleError({ reason: "BadValue", offset: 0, detail, record: "pickler" })

/**
 * Pickles a value. Throws `PickleError` for values that cannot be pickled
 * at the requested protocol.
 *
 * @internal
 */
export const pickle = (value: PyValue, options: PickleOptions): Uint8Array => {
  const { protocol } = options
  if (!Number.isInteger(protocol) || protocol < 0 || protocol > 5) throw fail(`unsupported protocol ${protocol}`)
  const cpp = options.dialect === "cpp"
  const bin = protocol >= 1
  const out = new ByteWriter()
  const framing = protocol >= 4
  const frame = new ByteWriter()
  let w = framing ? frame : out
  const memo = new Map<unknown, number>()
  const loadedParts = value !== null && typeof value === "object" ? globalPartsOf(value) : undefined
  // Globals, and (protocol 4+) the module and name strings of STACK_GLOBAL, which
  // are distinct Python objects from equal user strings: separate namespaces.
  const globalMemo = new Map<string, number>()
  const globalNameMemo = new Map<unknown, number>()
  const nextIndex = () => memo.size + globalMemo.size + globalNameMemo.size
  // Loaded strings carry identity tokens (identity.ts): one memo key per token,
  // honoured only while the token still names the same text.
  const tokenKeys = new Map<number, { readonly value: string }>()
  const identityOf = (v: string, token: number | undefined): unknown => {
    if (token === undefined) return v
    let key = tokenKeys.get(token)
    if (key === undefined) {
      key = { value: v }
      tokenKeys.set(token, key)
    }
    return key.value === v ? key : v
  }

  const commitFrame = (force: boolean) => {
    if (!framing || frame.length === 0 || (!force && frame.length < FRAME_TARGET)) return
    if (frame.length >= FRAME_MIN) out.byte(Op.FRAME!).u64(frame.length)
    out.bytes(frame.view_(0))
    frame.truncate(0)
  }
  const writeLarge = (header: (x: ByteWriter) => void, payload: Uint8Array) => {
    if (framing && payload.length >= FRAME_TARGET) {
      commitFrame(true)
      header(out)
      out.bytes(payload)
    } else {
      header(w)
      w.bytes(payload)
    }
  }

  const put = (index: number) => {
    if (protocol >= 4) w.byte(Op.MEMOIZE!)
    else if (!bin) w.byte(Op.PUT!).ascii(`${index}\n`)
    else if (index < 256) w.byte(Op.BINPUT!).byte(index)
    else w.byte(Op.LONG_BINPUT!).u32(index)
  }
  const memoize = (key: unknown) => {
    const index = nextIndex()
    memo.set(key, index)
    put(index)
  }
  const get = (index: number) => {
    if (!bin) w.byte(Op.GET!).ascii(`${index}\n`)
    else if (index < 256) w.byte(Op.BINGET!).byte(index)
    else w.byte(Op.LONG_BINGET!).u32(index)
  }

  const saveInt = (value: number | bigint) => {
    // Python has one int type: a bigint within 2^53 pickles as the number it equals.
    const v = typeof value === "bigint" && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value
    if (bin && typeof v === "number" && v >= -(2 ** 31) && v < 2 ** 31) {
      if (v >= 0 && v < 256) w.byte(Op.BININT1!).byte(v)
      else if (v >= 0 && v < 65536) w.byte(Op.BININT2!).u16(v)
      else w.byte(Op.BININT!).i32(v)
      return
    }
    if (protocol >= 2) {
      const bytes = cpp ? int64Bytes(BigInt(v)) : twosComplement(BigInt(v))
      if (bytes.length < 256) w.byte(Op.LONG1!).byte(bytes.length).bytes(bytes)
      else w.byte(Op.LONG4!).i32(bytes.length).bytes(bytes)
      return
    }
    if (typeof v === "number" && v >= -(2 ** 31) && v < 2 ** 31) w.byte(Op.INT!).ascii(`${v}\n`)
    else w.byte(Op.LONG!).ascii(`${BigInt(v)}L\n`)
  }

  const saveStr = (s: string, identity: unknown = s) => {
    if (bin) {
      const b = utf8.encode(s)
      if (b.length < 256 && protocol >= 4) w.byte(Op.SHORT_BINUNICODE!).byte(b.length).bytes(b)
      else writeLarge((x) => x.byte(Op.BINUNICODE!).u32(b.length), b)
    } else {
      w.byte(Op.UNICODE!).bytes(rawUnicodeEscape(s)).byte(0x0a)
    }
    memoize(identity)
  }

  const saveGlobal = (module: string, name: string) => {
    const key = `${module}.${name}`
    const known = globalMemo.get(key)
    if (known !== undefined) return get(known)
    if (protocol >= 4) {
      // A loaded value's global strings are the user strings they were (identity.ts, setGlobalParts).
      const loaded = loadedParts?.get(`${module}\n${name}`)
      ;[module, name].forEach((part, at) => {
        const memoOf: Map<unknown, number> = loaded === undefined ? globalNameMemo : memo
        const id = loaded === undefined ? part : identityOf(part, loaded[at])
        const seen = memoOf.get(id)
        if (seen !== undefined) return get(seen)
        const b = utf8.encode(part)
        if (b.length < 256) w.byte(Op.SHORT_BINUNICODE!).byte(b.length).bytes(b)
        else w.byte(Op.BINUNICODE!).u32(b.length).bytes(b)
        const i = nextIndex()
        memoOf.set(id, i)
        put(i)
      })
      w.byte(Op.STACK_GLOBAL!)
    } else {
      const m = protocol < 3 && !cpp ? REVERSE_IMPORTS[module] ?? module : module
      w.byte(Op.GLOBAL!).bytes(utf8.encode(`${m}\n${name}\n`))
    }
    const index = nextIndex()
    globalMemo.set(key, index)
    put(index)
  }

  const batchAppends = (items: ReadonlyArray<PyValue>) => {
    const tokens = tokensOf(items)
    if (!bin) {
      items.forEach((x, i) => {
        save(x, tokens?.[i])
        w.byte(Op.APPEND!)
      })
      return
    }
    for (let start = 0; start < items.length; start += BATCH) {
      const end = Math.min(start + BATCH, items.length)
      // torch's C++ unpickler (1.13) reads APPENDS and SETITEMS only.
      const batched = end - start > 1 || cpp
      if (batched) w.byte(Op.MARK!)
      for (let i = start; i < end; i++) save(items[i]!, tokens?.[i])
      w.byte(batched ? Op.APPENDS! : Op.APPEND!)
    }
  }

  const batchSetItems = (map: ReadonlyMap<PyValue, PyValue>) => {
    const tokens = tokensOf(map)
    const items = [...map]
    const pair = (i: number) => {
      save(items[i]![0], tokens?.[2 * i])
      save(items[i]![1], tokens?.[2 * i + 1])
    }
    if (!bin) {
      items.forEach((_, i) => {
        pair(i)
        w.byte(Op.SETITEM!)
      })
      return
    }
    for (let start = 0; start < items.length; start += BATCH) {
      const end = Math.min(start + BATCH, items.length)
      const batched = end - start > 1 || cpp
      if (batched) w.byte(Op.MARK!)
      for (let i = start; i < end; i++) pair(i)
      w.byte(batched ? Op.SETITEMS! : Op.SETITEM!)
    }
  }

  const saveTuple = (t: PyTuple) => {
    const n = t.items.length
    if (n === 0) {
      if (bin) w.byte(Op.EMPTY_TUPLE!)
      else w.byte(Op.MARK!).byte(Op.TUPLE!)
      return
    }
    const tokens = tokensOf(t.items)
    if (n <= 3 && protocol >= 2) {
      t.items.forEach((x, i) => save(x, tokens?.[i]))
      w.byte([Op.TUPLE1!, Op.TUPLE2!, Op.TUPLE3!][n - 1]!)
    } else {
      w.byte(Op.MARK!)
      t.items.forEach((x, i) => save(x, tokens?.[i]))
      w.byte(Op.TUPLE!)
    }
    memoize(t)
  }

  const saveReduce = (r: Reduction, obj: PyValue) => {
    if (r.newobj && protocol >= 2) {
      save(r.fn)
      save(new PyTuple(r.args))
      w.byte(Op.NEWOBJ!)
    } else {
      save(r.fn)
      save(new PyTuple(r.args))
      w.byte(Op.REDUCE!)
    }
    if (obj !== null && typeof obj === "object") memoize(obj)
    if (r.listItems !== undefined) batchAppends(r.listItems)
    if (r.dictItems !== undefined) batchSetItems(r.dictItems)
    if (r.state !== undefined && r.state !== null) {
      save(r.state)
      w.byte(Op.BUILD!)
    }
  }

  let depth = 0
  const save = (v: PyValue, token?: number): void => {
    // Nesting is bounded (CPython's own pickler stops at its recursion limit, about 1000).
    if (++depth > MAX_DEPTH) throw new PickleError({ reason: "LimitExceeded", offset: 0, record: "pickler", detail: `value nests deeper than ${MAX_DEPTH} levels` })
    try {
      saveAt(v, token)
    } finally {
      depth--
    }
  }
  const saveAt = (v: PyValue, token?: number): void => {
    const pid = options.persistentId?.(v)
    if (pid !== undefined) {
      if (bin) {
        save(pid)
        w.byte(Op.BINPERSID!)
      } else {
        if (typeof pid !== "string") throw fail("protocol 0 persistent ids must be strings")
        w.byte(Op.PERSID!).ascii(`${pid}\n`)
      }
      return commitFrame(false)
    }
    const key = typeof v === "string" ? identityOf(v, token) : v
    const known = memo.get(key)
    if (known !== undefined) return (get(known), commitFrame(false))
    saveValue(v, key)
    commitFrame(false)
  }

  const saveValue = (v: PyValue, key: unknown): void => {
    if (v === null) return void w.byte(Op.NONE!)
    if (typeof v === "boolean") {
      if (protocol >= 2) w.byte(v ? Op.NEWTRUE! : Op.NEWFALSE!)
      else w.byte(Op.INT!).ascii(v ? "01\n" : "00\n")
      return
    }
    if (typeof v === "number") {
      if (!Number.isInteger(v)) throw fail(`${v} is not an int (wrap floats in PyFloat)`)
      return saveInt(v)
    }
    if (typeof v === "bigint") return saveInt(v)
    if (typeof v === "string") return saveStr(v, key)
    if (v instanceof PyFloat) {
      if (bin) w.byte(Op.BINFLOAT!).f64be(v.value)
      else w.byte(Op.FLOAT!).ascii(`${reprFloat(v.value)}\n`)
      return
    }
    if (v instanceof Uint8Array) {
      if (protocol < 3) {
        if (v.length === 0) return saveReduce({ fn: new PyGlobal("builtins", "bytes"), args: [] }, v)
        return saveReduce({ fn: new PyGlobal("_codecs", "encode"), args: [decodeLatin1(v), "latin1"] }, v)
      }
      if (v.length < 256) w.byte(Op.SHORT_BINBYTES!).byte(v.length).bytes(v)
      else writeLarge((x) => (v.length > 0xffffffff ? x.byte(Op.BINBYTES8!).u64(v.length) : x.byte(Op.BINBYTES!).u32(v.length)), v)
      return memoize(v)
    }
    if (v instanceof PyByteArray) {
      if (protocol >= 5) {
        writeLarge((x) => x.byte(Op.BYTEARRAY8!).u64(v.bytes.length), v.bytes)
        return memoize(v)
      }
      // bytearray.__reduce_ex__ gives (bytearray, (bytes(self),)); the bytes then pickle per protocol.
      return saveReduce({ fn: new PyGlobal("builtins", "bytearray"), args: [v.bytes.slice()] }, v)
    }
    if (Array.isArray(v)) {
      if (bin) w.byte(Op.EMPTY_LIST!)
      else w.byte(Op.MARK!).byte(Op.LIST!)
      memoize(v)
      return batchAppends(v)
    }
    if (v instanceof PyTuple) return saveTuple(v)
    if (v instanceof OrderedDict) {
      const state = v.attrs.size === 0 ? undefined : new Map<PyValue, PyValue>(v.attrs)
      if (state !== undefined) setTokens(state, tokensOf(v.attrs) ?? [])
      return saveReduce({ fn: new PyGlobal("collections", "OrderedDict"), args: [], dictItems: v, ...(state ? { state } : {}) }, v)
    }
    if (v instanceof Map) {
      if (bin) w.byte(Op.EMPTY_DICT!)
      else w.byte(Op.MARK!).byte(Op.DICT!)
      memoize(v)
      return batchSetItems(v)
    }
    if (v instanceof PySet) {
      const tokens = tokensOf(v.items) ?? []
      if (protocol < 4) return saveReduce({ fn: new PyGlobal("builtins", "set"), args: [withTokens([...v.items], tokens)] }, v)
      w.byte(Op.EMPTY_SET!)
      memoize(v)
      for (let i = 0; i < v.items.length; i += BATCH) {
        w.byte(Op.MARK!)
        for (let j = i; j < Math.min(i + BATCH, v.items.length); j++) save(v.items[j]!, tokens[j])
        w.byte(Op.ADDITEMS!)
      }
      return
    }
    if (v instanceof PyFrozenSet) {
      const tokens = tokensOf(v.items) ?? []
      if (protocol < 4) return saveReduce({ fn: new PyGlobal("builtins", "frozenset"), args: [withTokens([...v.items], tokens)] }, v)
      w.byte(Op.MARK!)
      v.items.forEach((x, i) => save(x, tokens[i]))
      w.byte(Op.FROZENSET!)
      return memoize(v)
    }
    if (v instanceof PyComplex) {
      return saveReduce({ fn: new PyGlobal("builtins", "complex"), args: [new PyFloat(v.re), new PyFloat(v.im)] }, v)
    }
    if (v instanceof PyGlobal) return saveGlobal(v.module, v.name)
    if (v instanceof PyObject) {
      const how = v.how === "newobj" || v.how === "newobj_ex" ? { newobj: true } : {}
      return saveReduce({
        fn: v.cls,
        args: v.args,
        ...how,
        ...(v.state === undefined ? {} : { state: v.state }),
        ...(v.listItems.length ? { listItems: v.listItems } : {}),
        ...(v.dictItems.size ? { dictItems: v.dictItems } : {})
      }, v)
    }
    const reduction = options.reduce?.(v)
    if (reduction === undefined) throw fail(`cannot pickle a ${typeName(v)}`)
    return reduction instanceof PyGlobal ? saveGlobal(reduction.module, reduction.name) : saveReduce(reduction, v)
  }

  out.byte(Op.PROTO!).byte(protocol)
  if (protocol < 2) out.truncate(0)
  save(value)
  w.byte(Op.STOP!)
  commitFrame(true)
  return out.result()
}

/** A copy of a container's items carrying the original's string tokens. */
const withTokens = (items: Array<PyValue>, tokens: Tokens): Array<PyValue> => {
  setTokens(items, tokens)
  return items
}

/** The 8 little-endian bytes of an int64 (torch's C++ pickler's LONG1); a PickleError beyond int64. */
const int64Bytes = (v: bigint): Uint8Array => {
  if (v < -(2n ** 63n) || v >= 2n ** 63n) throw fail(`${v} does not fit TorchScript's int64`)
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setBigInt64(0, v, true)
  return bytes
}

/** Minimal little-endian two's-complement bytes of an integer (LONG1/LONG4). */
const twosComplement = (v: bigint): Uint8Array => {
  if (v === 0n) return new Uint8Array(0)
  const bytes: Array<number> = []
  let x = v
  while (true) {
    bytes.push(Number(x & 0xffn))
    x >>= 8n
    const sign = bytes[bytes.length - 1]! & 0x80
    if ((x === 0n && !sign) || (x === -1n && sign)) break
  }
  return Uint8Array.from(bytes)
}

/** Python's raw-unicode-escape of a str pickled with protocol 0. */
const rawUnicodeEscape = (s: string): Uint8Array => {
  const out: Array<number> = []
  for (const ch of s) {
    const cp = ch.codePointAt(0)!
    // pickle escapes these so the line stays one line.
    if (cp === 0x5c || cp === 0 || cp === 0x0a || cp === 0x0d || cp === 0x1a) {
      for (const c of `\\u${cp.toString(16).padStart(4, "0")}`) out.push(c.charCodeAt(0))
    } else if (cp < 0x100) out.push(cp)
    else if (cp < 0x10000) for (const c of `\\u${cp.toString(16).padStart(4, "0")}`) out.push(c.charCodeAt(0))
    else for (const c of `\\U${cp.toString(16).padStart(8, "0")}`) out.push(c.charCodeAt(0))
  }
  return Uint8Array.from(out)
}
