/**
 * NumPy values in checkpoints: arrays (`np.random.get_state()`'s key,
 * arrays of labels), scalars (`np.float64` metrics) and dtypes, read from
 * the opaque objects their pickles make. NumPy pickles an array as
 * `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` with the
 * state `(1, shape, dtype, is_fortran, data)`, a scalar as
 * `numpy.core.multiarray.scalar(dtype, data)`, a dtype as
 * `numpy.dtype('f8', False, True)` with the state
 * `(3, byteorder, ..., elsize, alignment, flags)`; NumPy 2 names
 * `numpy._core` instead. The values stay the opaque objects the pickle made
 * (so `Pickle.dump` writes them back byte for byte); this module reads them
 * as arrays, scalars and dtypes. Nothing is executed.
 *
 * @since 0.2.0
 */
import { NUMPY_GLOBALS } from "./internal/torch/globals.js"
import { byteSwap, halfToFloat } from "./internal/torch/tensorBytes.js"
import { PyByteArray, PyGlobal, PyObject, PyTuple, type PyValue } from "./Value.js"

/**
 * A NumPy dtype: its `dtype.str` (`<f8`, `|b1`, `<U5`, `|O`), the byte
 * order (`<`, `>`, or `|` where none applies), the kind (`f`, `i`, `u`, `b`,
 * `c`, `U`, `S`, `O`, ...) and the size of an element in bytes.
 *
 * @since 0.2.0
 * @category models
 */
export interface DType {
  readonly str: string
  readonly byteOrder: "<" | ">" | "|"
  readonly kind: string
  readonly itemSize: number
}

/**
 * A NumPy array as NumPy loads it: its dtype, shape and memory order, and
 * either its raw bytes (C order or Fortran order as `fortranOrder` says) or,
 * for an object array, its items. NumPy loads an array pickled big-endian
 * in little-endian order (`>f4` becomes `<f4`, its bytes swapped), and so
 * does this model.
 *
 * @since 0.2.0
 * @category models
 */
export interface NdArray {
  readonly _tag: "NdArray"
  readonly dtype: DType
  readonly shape: ReadonlyArray<number>
  readonly fortranOrder: boolean
  /** The elements' bytes, little-endian (undefined for object arrays). */
  readonly data: Uint8Array | undefined
  /** The elements of an object array, in memory order (undefined otherwise). */
  readonly items: ReadonlyArray<PyValue> | undefined
  /** NumPy 2 (`numpy._core`) or earlier (`numpy.core`) wrote it. */
  readonly numpy2: boolean
}

/**
 * A NumPy scalar: its type's name as Python shows it (`float64`, `int64`,
 * `bool_` from NumPy 1 and `bool` from NumPy 2, `str_`), its dtype, and its
 * value (`number` for floats and ints that fit, `bigint` beyond, `boolean`,
 * `string`, or the raw bytes for kinds torchwire does not decode).
 *
 * @since 0.2.0
 * @category models
 */
export interface Scalar {
  readonly _tag: "Scalar"
  readonly type: string
  readonly dtype: DType
  readonly value: number | bigint | boolean | string | Uint8Array | { readonly re: number; readonly im: number }
}

/**
 * The NumPy globals a checkpoint of arrays, scalars and dtypes names (and
 * `builtins.bytes`, an empty array's data): what
 * `Checkpoint.OpenOptions.allowNumpy` lets through the weights-only
 * allowlist, and what `Scan` classes as allowed data. (torch's own
 * weights-only load refuses them unless they are added with
 * `torch.serialization.add_safe_globals`.)
 *
 * @since 0.2.0
 * @category constants
 */
export const GLOBALS: ReadonlySet<string> = NUMPY_GLOBALS

/** `module.name` of a call's global, when the value is an opaque call of one. */
const callOf = (v: PyValue): string | undefined => (v instanceof PyObject ? v.cls.qualifiedName : undefined)

/** NumPy's scalar type names by dtype kind and size, as Python names them (NumPy 1 / NumPy 2 where they differ). */
const SCALAR_TYPES: Record<string, readonly [string, string] | string> = {
  b1: ["bool_", "bool"], i1: "int8", i2: "int16", i4: "int32", i8: "int64", u1: "uint8", u2: "uint16", u4: "uint32",
  u8: "uint64", f2: "float16", f4: "float32", f8: "float64", c8: "complex64", c16: "complex128"
}

/**
 * Reads a `numpy.dtype(...)` object: the simple dtypes (state version 3,
 * no fields or subarray). Undefined for anything else.
 *
 * @since 0.2.0
 * @category constructors
 */
export const dtypeOf = (v: PyValue): DType | undefined => {
  if (callOf(v) !== "numpy.dtype") return undefined
  const { args, state } = v as PyObject
  const code = args[0]
  if (typeof code !== "string" || !(state instanceof PyTuple) || state.items[0] !== 3) return undefined
  const [, order, subarray, names, fields] = state.items
  if (subarray !== null || names !== null || fields !== null || (order !== "<" && order !== ">" && order !== "|")) return undefined
  const match = /^([a-zA-Z])(\d*)$/.exec(code)
  if (match === null) return undefined
  const kind = match[1]!
  const count = match[2] === "" ? 0 : Number(match[2])
  const itemSize = kind === "U" ? 4 * count : kind === "O" ? 8 : count
  return { str: kind === "O" ? "|O" : `${order}${code}`, byteOrder: order, kind, itemSize }
}

/** The bytes of an array's or scalar's data as pickled (`bytes`, or a `bytearray`). */
const bytesOf = (v: PyValue): Uint8Array | undefined =>
  v instanceof Uint8Array ? v : v instanceof PyByteArray ? v.bytes : undefined

/**
 * Reads an array made by `_reconstruct` (NumPy 1 or 2): undefined for any
 * other value, or an array whose state does not read (an unsupported dtype,
 * data that does not fill its shape).
 *
 * @since 0.2.0
 * @category constructors
 */
export const ndarrayOf = (v: PyValue): NdArray | undefined => {
  const call = callOf(v)
  if (call !== "numpy.core.multiarray._reconstruct" && call !== "numpy._core.multiarray._reconstruct") return undefined
  const { args, state } = v as PyObject
  if (!(args[0] instanceof PyGlobal) || args[0].qualifiedName !== "numpy.ndarray" || !(state instanceof PyTuple)) return undefined
  const [version, shape, dtypeValue, fortran, data] = state.items
  const dtype = dtypeValue === undefined ? undefined : dtypeOf(dtypeValue)
  if (version !== 1 || !(shape instanceof PyTuple) || dtype === undefined || typeof fortran !== "boolean") return undefined
  const dims = shape.items.filter((d): d is number => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
  if (dims.length !== shape.items.length) return undefined
  const count = dims.reduce((n, d) => n * d, 1)
  const numpy2 = call.startsWith("numpy._core")
  if (dtype.kind === "O") {
    if (!Array.isArray(data) || data.length !== count) return undefined
    return { _tag: "NdArray", dtype, shape: dims, fortranOrder: fortran, data: undefined, items: data, numpy2 }
  }
  const bytes = data === undefined ? undefined : bytesOf(data)
  if (bytes === undefined || bytes.length !== count * dtype.itemSize) return undefined
  return dtype.byteOrder === ">"
    ? { _tag: "NdArray", dtype: { ...dtype, byteOrder: "<", str: `<${dtype.str.slice(1)}` }, shape: dims, fortranOrder: fortran, data: littleEndian(dtype, bytes), items: undefined, numpy2 }
    : { _tag: "NdArray", dtype, shape: dims, fortranOrder: fortran, data: bytes, items: undefined, numpy2 }
}

/** Big-endian elements in little-endian order: each number swapped (each part of a complex, each code point of a string). */
const littleEndian = (dtype: DType, bytes: Uint8Array): Uint8Array =>
  byteSwap(bytes.slice(), dtype.kind === "c" ? dtype.itemSize / 2 : dtype.kind === "U" ? 4 : dtype.itemSize)

/**
 * Reads a scalar made by `numpy.core.multiarray.scalar` (NumPy 1 or 2):
 * undefined for any other value.
 *
 * @since 0.2.0
 * @category constructors
 */
export const scalarOf = (v: PyValue): Scalar | undefined => {
  const call = callOf(v)
  if (call !== "numpy.core.multiarray.scalar" && call !== "numpy._core.multiarray.scalar") return undefined
  const { args } = v as PyObject
  const dtype = args[0] === undefined ? undefined : dtypeOf(args[0])
  const bytes = args[1] === undefined ? undefined : bytesOf(args[1])
  if (dtype === undefined || bytes === undefined || dtype.kind === "O" || bytes.length !== dtype.itemSize) return undefined
  const name = SCALAR_TYPES[`${dtype.kind}${dtype.itemSize}`]
  const numpy2 = call.startsWith("numpy._core")
  const type = name === undefined ? { U: "str_", S: "bytes_" }[dtype.kind] ?? "generic" : typeof name === "string" ? name : name[numpy2 ? 1 : 0]
  return { _tag: "Scalar", type, dtype, value: decodeScalar(dtype, bytes) }
}

/** A scalar's value from its bytes: numbers, booleans and strings decoded; other kinds as their bytes. */
const decodeScalar = (dtype: DType, bytes: Uint8Array): Scalar["value"] => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const little = dtype.byteOrder !== ">"
  switch (`${dtype.kind}${dtype.itemSize}`) {
    case "b1":
      return bytes[0] !== 0
    case "i1":
      return view.getInt8(0)
    case "u1":
      return view.getUint8(0)
    case "i2":
      return view.getInt16(0, little)
    case "u2":
      return view.getUint16(0, little)
    case "i4":
      return view.getInt32(0, little)
    case "u4":
      return view.getUint32(0, little)
    case "i8":
    case "u8": {
      const n = dtype.kind === "i" ? view.getBigInt64(0, little) : view.getBigUint64(0, little)
      return n >= -(2n ** 53n) + 1n && n <= 2n ** 53n - 1n ? Number(n) : n
    }
    case "f2":
      return halfToFloat(view.getUint16(0, little))
    case "f4":
      return view.getFloat32(0, little)
    case "f8":
      return view.getFloat64(0, little)
    case "c8":
      return { re: view.getFloat32(0, little), im: view.getFloat32(4, little) }
    case "c16":
      return { re: view.getFloat64(0, little), im: view.getFloat64(8, little) }
  }
  if (dtype.kind === "U") {
    const chars: Array<number> = []
    for (let i = 0; i < dtype.itemSize; i += 4) chars.push(view.getUint32(i, little))
    return String.fromCodePoint(...chars).replace(/\0+$/, "")
  }
  return bytes
}

/**
 * An array's elements as a typed array of its dtype, in memory order
 * (`fortranOrder` says which), on a little-endian machine (as every one
 * torch supports); undefined for kinds no typed array holds (strings,
 * objects, float16, complex).
 *
 * @since 0.2.0
 * @category getters
 */
export const toTypedArray = (a: NdArray): Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array | undefined => {
  const make = TYPED[`${a.dtype.kind}${a.dtype.itemSize}`]
  return make === undefined || a.data === undefined ? undefined : make(a.data.slice().buffer)
}

const TYPED: Record<string, (buffer: ArrayBuffer) => ReturnType<typeof toTypedArray>> = {
  b1: (b) => new Uint8Array(b),
  i1: (b) => new Int8Array(b),
  u1: (b) => new Uint8Array(b),
  i2: (b) => new Int16Array(b),
  u2: (b) => new Uint16Array(b),
  i4: (b) => new Int32Array(b),
  u4: (b) => new Uint32Array(b),
  i8: (b) => new BigInt64Array(b),
  u8: (b) => new BigUint64Array(b),
  f4: (b) => new Float32Array(b),
  f8: (b) => new Float64Array(b)
}
