/**
 * A tensor's bytes: read from its storage, swapped from big-endian files,
 * gathered from strided views, and viewed as typed arrays (float16 and
 * bfloat16 widened to float32).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import type { DType } from "./dtypes.js"
import type { Tensor } from "./model.js"
import { gather, isContiguous, requiredBytes } from "./shape.js"

/**
 * Reverses the byte order of each `width`-byte word in place.
 *
 * @since 0.1.0
 * @category utils
 */
export const byteSwap = (bytes: Uint8Array, width: number): Uint8Array => {
  if (width <= 1) return bytes
  for (let i = 0; i + width <= bytes.length; i += width) {
    for (let a = i, b = i + width - 1; a < b; a++, b--) {
      const t = bytes[a]!
      bytes[a] = bytes[b]!
      bytes[b] = t
    }
  }
  return bytes
}

/**
 * The word size a big-endian storage of this dtype is swapped by (complex
 * numbers swap each part).
 *
 * @since 0.1.0
 * @category utils
 */
export const swapWidth = (dtype: DType): number => (dtype.kind === "complex" ? dtype.itemSize / 2 : dtype.itemSize)

/**
 * The largest tensor `bytes` materializes: one typed array's limit.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_MATERIALIZED_BYTES = 2 ** 32 - 1

/** Swaps a (freshly copied) big-endian element buffer to little-endian. */
const fromFileOrder = (b: Uint8Array, order: "little" | "big", dtype: DType): Uint8Array =>
  order === "big" ? byteSwap(b, swapWidth(dtype)) : b

/**
 * The tensor's elements in row-major order as little-endian bytes (strides
 * and storage offset applied). Fails with `StorageTooShort` if the storage
 * record holds fewer bytes than the view needs.
 *
 * Like torch's `Tensor.numpy()`, the result shares memory with the storage
 * when it can (a contiguous little-endian tensor covering most of its
 * storage): tensors over one storage, such as tied weights, see one buffer.
 * Copy it (`.slice()`) before mutating if the storage must stay unchanged.
 *
 * @since 0.1.0
 * @category getters
 */
export const bytes = (t: Tensor): Effect.Effect<Uint8Array, TorchwireError> => {
  if (t.numel === 0) return Effect.succeed(new Uint8Array(0))
  if (!Number.isSafeInteger(t.nbytes) || t.nbytes < 0 || t.nbytes > MAX_MATERIALIZED_BYTES) {
    // A stride-0 view of a small storage can claim any size; refuse to allocate it.
    return Effect.fail(
      new CheckpointError({ reason: "BadTensor", offset: 0, ...(t.storage ? { record: t.storage.record } : {}), detail: `materializing [${t.shape.join(", ")}] ${t.dtype.name} would take ${t.nbytes} bytes, over the ${MAX_MATERIALIZED_BYTES}-byte limit of one typed array` })
    )
  }
  const storage = t.storage
  if (storage === undefined) {
    return Effect.fail(new CheckpointError({ reason: "BadTensor", offset: 0, detail: "meta tensor has no data" }))
  }
  return Effect.flatMap(storage.read, (src) => {
    const need = requiredBytes(t.dtype, t.shape, t.stride, t.storageOffset)
    if (t.dtype.perByte > 1) {
      // Packed dtypes (quint4x2, quint2x4): the packed bytes, as torch's int_repr() returns them.
      return isContiguous(t.shape, t.stride) && need <= src.byteLength
        ? Effect.succeed(src.slice(Math.floor(t.storageOffset / t.dtype.perByte), need))
        : Effect.fail(new CheckpointError({ reason: "BadTensor", record: storage.record, offset: 0, detail: `strided or short ${t.dtype.name} tensor` }))
    }
    return need > src.byteLength
      ? Effect.fail(
        new CheckpointError({
          reason: "StorageTooShort",
          record: storage.record,
          offset: src.byteLength,
          detail: `tensor of shape [${t.shape.join(", ")}] needs ${need} bytes, storage has ${src.byteLength}`
        })
      )
      : Effect.succeed(elementBytes(src, t, storage.byteOrder))
  })
}

/**
 * The elements of `t` from its storage's bytes: a zero-copy view when the
 * tensor is contiguous, little-endian, aligned for its typed array and
 * covers at least half the storage (so a small view never pins a large
 * storage), else a fresh copy.
 */
const elementBytes = (src: Uint8Array, t: Tensor, order: "little" | "big"): Uint8Array => {
  const { itemSize } = t.dtype
  const start = t.storageOffset * itemSize
  const swaps = order === "big" && swapWidth(t.dtype) > 1
  const aligned = (src.byteOffset + start) % Math.min(itemSize, 8) === 0
  if (!swaps && aligned && isContiguous(t.shape, t.stride) && 2 * t.nbytes >= src.byteLength) {
    return src.subarray(start, start + t.nbytes)
  }
  return fromFileOrder(gather(src, itemSize, t.shape, t.stride, t.storageOffset), order, t.dtype)
}

/**
 * A typed array over a tensor's elements, in row-major order:
 * `Float32Array`/`Float64Array` for float32/float64, `BigInt64Array` for
 * int64, `Uint16Array` of raw bits for float16/bfloat16 (see `toFloat32`),
 * interleaved real/imaginary floats for complex, bytes for bool, 8-bit
 * floats and quantized int8 types.
 *
 * @since 0.1.0
 * @category getters
 */
export const toTypedArray = (t: Tensor): Effect.Effect<TensorArray, TorchwireError> =>
  Effect.map(bytes(t), (b) => viewAs(b, t.dtype))

/**
 * The typed arrays tensors materialize as.
 *
 * @since 0.1.0
 * @category models
 */
export type TensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array

const viewAs = (b: Uint8Array, dtype: DType): TensorArray => {
  const { buffer, byteOffset, byteLength } = b
  const n = (size: number) => byteLength / size
  switch (dtype.name) {
    case "float32":
    case "complex64":
      return new Float32Array(buffer, byteOffset, n(4))
    case "float64":
    case "complex128":
      return new Float64Array(buffer, byteOffset, n(8))
    case "int64":
      return new BigInt64Array(buffer, byteOffset, n(8))
    case "uint64":
      return new BigUint64Array(buffer, byteOffset, n(8))
    case "int32":
    case "qint32":
      return new Int32Array(buffer, byteOffset, n(4))
    case "uint32":
      return new Uint32Array(buffer, byteOffset, n(4))
    case "int16":
      return new Int16Array(buffer, byteOffset, n(2))
    case "float16":
    case "bfloat16":
    case "uint16":
    case "bits16":
    case "complex32":
      return new Uint16Array(buffer, byteOffset, n(2))
    case "int8":
    case "qint8":
      return new Int8Array(buffer, byteOffset, n(1))
    default:
      return b
  }
}

/**
 * Converts IEEE half-precision bits to a number.
 *
 * @since 0.1.0
 * @category conversions
 */
export const halfToFloat = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 31) return frac ? NaN : sign * Infinity
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

/**
 * The tensor's elements as a `Float32Array` (float16 and bfloat16 widened,
 * integers converted). Complex and quantized tensors are refused.
 *
 * @since 0.1.0
 * @category getters
 */
export const toFloat32 = (t: Tensor): Effect.Effect<Float32Array, TorchwireError> =>
  Effect.flatMap(toTypedArray(t), (a) => {
    const name = t.dtype.name
    if (t.dtype.kind === "complex" || t.dtype.kind === "quantized" || t.dtype.kind === "bits" || name.startsWith("float8") || name.startsWith("float4")) {
      return Effect.fail(new CheckpointError({ reason: "BadTensor", offset: 0, detail: `cannot convert ${name} to float32` }))
    }
    if (a instanceof Float32Array) return Effect.succeed(new Float32Array(a))
    const out = new Float32Array(a.length)
    if (name === "float16") {
      for (let i = 0; i < a.length; i++) out[i] = halfToFloat(a[i] as number)
    } else if (name === "bfloat16") {
      const bits = new Uint32Array(out.buffer)
      for (let i = 0; i < a.length; i++) bits[i] = (a[i] as number) << 16
    } else {
      for (let i = 0; i < a.length; i++) out[i] = Number(a[i])
    }
    return Effect.succeed(out)
  })
