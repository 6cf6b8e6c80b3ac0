/**
 * The canonical summary of docs/summary-json.md: one JSON document
 * describing a loaded value, comparable key by key with what real PyTorch
 * reports for the same file. Tensors are summarized by dtype, shape and the
 * SHA-256 of their elements in row-major little-endian order.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Checkpoint } from "./Checkpoint.js"
import * as Module from "./Module.js"
import type { ScriptArchive } from "./Module.js"
import { CheckpointError, type TorchwireError } from "./Errors.js"
import * as Numpy from "./Numpy.js"
import { bytes, Device, DType, Parameter, TorchSize, Tensor, toTypedArray } from "./Torch.js"
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
} from "./Value.js"

/**
 * A JSON value.
 *
 * @since 0.1.0
 * @category models
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * Options of `summarize`.
 *
 * @since 0.1.0
 * @category options
 */
export interface SummaryOptions {
  /** Deepest nesting summarized before failing (default 1000, Python's recursion limit). */
  readonly maxDepth?: number
  /**
   * Most values summarized before failing (default 10,000,000). Shared
   * references are summarized at every place they appear, so a small
   * pickle can describe an exponentially large tree ("billion laughs").
   */
  readonly maxNodes?: number
  /** Called after each tensor is read and hashed, with its size in bytes (for progress reports). */
  readonly onTensor?: (nbytes: number) => void
}

const hex = (buf: ArrayBuffer): string => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("")

/**
 * SHA-256 of bytes as lowercase hex (WebCrypto: works in Node and browsers).
 *
 * @since 0.1.0
 * @category utils
 */
export const sha256 = (data: Uint8Array): Effect.Effect<string> =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)).pipe(Effect.map(hex))

const floatJson = (x: number): Json => (Number.isNaN(x) ? "nan" : x === Infinity ? "inf" : x === -Infinity ? "-inf" : x)

const intJson = (x: number | bigint): Json =>
  typeof x === "number" && Number.isSafeInteger(x) ? x : typeof x === "bigint" && x >= -(2n ** 53n - 1n) && x <= 2n ** 53n - 1n ? Number(x) : { int: String(x) }

const numbers = (v: Tensor | ReadonlyArray<number>): Effect.Effect<Array<number>, TorchwireError> =>
  v instanceof Tensor ? Effect.map(toTypedArray(v), (a) => Array.from(a as ArrayLike<number | bigint>, Number)) : Effect.succeed([...v])

const tensorFields = (t: Tensor): Effect.Effect<Record<string, Json>, TorchwireError> =>
  Effect.gen(function*() {
    // Meta tensors have no data; they hash zero bytes.
    const data = t.storage === undefined ? new Uint8Array(0) : yield* bytes(t)
    const fields: Record<string, Json> = { dtype: t.dtype.name, shape: [...t.shape], sha256: yield* sha256(data) }
    if (t instanceof Parameter || t.requiresGrad) fields.requires_grad = t.requiresGrad
    const q = t.quantization
    if (q !== undefined) {
      fields.qscheme = q.scheme === "per_tensor_affine" ? q.scheme : "per_channel_affine"
      if (q.scheme === "per_tensor_affine") {
        fields.scale = q.scale
        fields.zero_point = q.zeroPoint
      } else {
        fields.scales = yield* numbers(q.scales)
        fields.zero_points = yield* numbers(q.zeroPoints)
        fields.axis = q.axis
      }
    }
    return fields
  })

/**
 * Summarizes a value. Reads (and hashes) the data of every tensor.
 *
 * @since 0.1.0
 * @category constructors
 */
export const summarize = (value: PyValue, options: SummaryOptions = {}): Effect.Effect<Json, TorchwireError> => {
  const maxDepth = options.maxDepth ?? 1000
  const maxNodes = options.maxNodes ?? 10_000_000
  let nodes = 0
  const go = (v: PyValue, depth: number): Effect.Effect<Json, TorchwireError> => {
    if (depth > maxDepth) {
      return Effect.fail(new CheckpointError({ reason: "LimitExceeded", offset: 0, detail: `value nests deeper than ${maxDepth} levels` }))
    }
    if (++nodes > maxNodes) {
      return Effect.fail(new CheckpointError({ reason: "LimitExceeded", offset: 0, detail: `value expands to more than ${maxNodes} summarized values (shared references repeat)` }))
    }
    const all = (items: ReadonlyArray<PyValue>) => Effect.forEach(items, (x) => go(x, depth + 1))
    const pairs = (m: ReadonlyMap<PyValue, PyValue>) =>
      Effect.forEach([...m], ([k, x]) => Effect.zipWith(go(k, depth + 1), go(x, depth + 1), (a, b): Json => [a, b]))
    if (v === null || typeof v === "boolean" || typeof v === "string") return Effect.succeed(v)
    if (typeof v === "number" || typeof v === "bigint") return Effect.succeed(intJson(v))
    if (v instanceof PyFloat) return Effect.succeed({ float: floatJson(v.value) })
    if (v instanceof PyComplex) return Effect.succeed({ complex: [floatJson(v.re), floatJson(v.im)] })
    if (v instanceof Uint8Array) return Effect.succeed({ bytes: base64(v) })
    if (v instanceof PyByteArray) return Effect.succeed({ bytes: base64(v.bytes) })
    if (Array.isArray(v)) return all(v)
    if (v instanceof PyTuple) return Effect.map(all(v.items), (tuple) => ({ tuple }))
    if (v instanceof PySet) return Effect.map(all(v.items), (set) => ({ set }))
    if (v instanceof PyFrozenSet) return Effect.map(all(v.items), (frozenset) => ({ frozenset }))
    if (v instanceof OrderedDict) {
      return Effect.gen(function*() {
        const odict = yield* pairs(v)
        if (v.attrs.size === 0) return { odict }
        const attrs: Record<string, Json> = {}
        for (const [k, x] of v.attrs) attrs[k] = yield* go(x, depth + 1)
        return { odict, attrs }
      })
    }
    if (v instanceof Map) return Effect.map(pairs(v), (dict) => ({ dict }))
    if (v instanceof Tensor) {
      return Effect.map(tensorFields(v), (f) => {
        options.onTensor?.(v.nbytes)
        return v instanceof Parameter ? { parameter: f } : { tensor: f }
      })
    }
    if (v instanceof TorchSize) return Effect.succeed({ size: [...v.dims] })
    if (v instanceof DType) return Effect.succeed({ dtype: v.name })
    if (v instanceof Device) return Effect.succeed({ device: v.toString() })
    if (v instanceof PyObject) return numpySummary(v, all) ?? Effect.succeed({ object: v.cls.qualifiedName })
    if (v instanceof PyGlobal) return Effect.succeed({ object: v.qualifiedName })
    return Effect.succeed({ object: typeName(v) })
  }
  return go(value, 0)
}

/**
 * The summary of a NumPy array, scalar or dtype (docs/summary-json.md):
 * `{object, ndarray: {dtype, shape, fortran, sha256 | items}}`,
 * `{object, numpy: <value>}`, `{object: "numpy.dtype", dtype}`; undefined
 * for any other object.
 */
const numpySummary = (
  v: PyObject,
  all: (items: ReadonlyArray<PyValue>) => Effect.Effect<Array<Json>, TorchwireError>
): Effect.Effect<Json, TorchwireError> | undefined => {
  const array = Numpy.ndarrayOf(v)
  if (array !== undefined) {
    const fields = { dtype: array.dtype.str, shape: [...array.shape], fortran: array.fortranOrder }
    return array.items !== undefined
      ? Effect.map(all(array.items), (items) => ({ object: "numpy.ndarray", ndarray: { ...fields, items } }))
      : Effect.map(sha256(array.data!), (hash) => ({ object: "numpy.ndarray", ndarray: { ...fields, sha256: hash } }))
  }
  const scalar = Numpy.scalarOf(v)
  if (scalar !== undefined) return Effect.succeed({ object: `numpy.${scalar.type}`, numpy: scalarJson(scalar) })
  const dtype = Numpy.dtypeOf(v)
  return dtype === undefined ? undefined : Effect.succeed({ object: "numpy.dtype", dtype: dtype.str })
}

/** A NumPy scalar's value as the value summary of what `item()` returns in Python. */
const scalarJson = ({ dtype, value }: Numpy.Scalar): Json => {
  if (typeof value === "boolean" || typeof value === "string") return value
  if (typeof value === "number" || typeof value === "bigint") return dtype.kind === "f" ? { float: floatJson(Number(value)) } : intJson(value)
  if (value instanceof Uint8Array) return { bytes: base64(value) }
  return { complex: [floatJson(value.re), floatJson(value.im)] }
}

/**
 * The top-level summary of an open checkpoint: `{format, value}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ofCheckpoint = (checkpoint: Checkpoint, options: SummaryOptions = {}): Effect.Effect<Json, TorchwireError> =>
  Effect.map(summarize(checkpoint.value, options), (value) => ({ format: checkpoint.format, value }))

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/**
 * Standard base64 with padding.
 *
 * @since 0.1.0
 * @category utils
 */
export const base64 = (b: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i]! << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0)
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + (i + 1 < b.length ? B64[(n >> 6) & 63]! : "=") + (i + 2 < b.length ? B64[n & 63]! : "=")
  }
  return out
}

/**
 * The module summary of a TorchScript archive:
 * `{format, value: {module: {type, parameters, buffers, methods}}}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ofModule = (archive: ScriptArchive, options: SummaryOptions = {}): Effect.Effect<Json, TorchwireError> =>
  Effect.gen(function*() {
    const tensors = (list: ReadonlyArray<readonly [string, Tensor]>) =>
      Effect.forEach(list, ([name, t]) =>
        Effect.map(tensorFields(t), (f): Json => {
          options.onTensor?.(t.nbytes)
          const { requires_grad: _, ...fields } = f
          return [name, { tensor: fields }]
        }))
    const m = archive.module
    return {
      format: archive.format,
      value: {
        module: {
          type: m.type,
          parameters: yield* tensors(Module.namedParameters(m)),
          buffers: yield* tensors(Module.namedBuffers(m)),
          methods: [...m.methods].sort()
        }
      }
    }
  })
