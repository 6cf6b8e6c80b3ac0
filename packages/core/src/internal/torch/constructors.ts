/**
 * Tensors made in TypeScript: from typed arrays or numbers (float16 and
 * bfloat16 rounded to nearest even), from raw bytes of any dtype, and
 * parameters.
 *
 * @internal
 */
import { CheckpointError } from "../../Errors.js"
import { dtypeByName, type DType } from "./dtypes.js"
import { Parameter, type Quantization, Storage, Tensor } from "./model.js"
import { contiguousStrides, numel } from "./shape.js"
import type { TensorArray } from "./tensorBytes.js"

/**
 * Converts a number to IEEE half-precision bits (round to nearest even).
 *
 * @since 0.1.0
 * @category conversions
 */
export const floatToHalf = (x: number): number => {
  const f32 = new Float32Array([x])
  const bits = new Uint32Array(f32.buffer)[0]!
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  let mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0) // inf / nan
  let e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00 // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign // underflow → ±0
    mant |= 0x800000
    const shift = 14 - e
    const half = mant >>> shift
    const rest = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    return sign | (half + (rest > mid || (rest === mid && (half & 1)) ? 1 : 0))
  }
  const half = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? 1 : 0))
}

/**
 * Converts a number to bfloat16 bits (round to nearest even, NaN kept).
 *
 * @since 0.1.0
 * @category conversions
 */
export const floatToBFloat16 = (x: number): number => {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0]!
  if (Number.isNaN(x)) return (bits >>> 16) | 0x40
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16
}

/**
 * Options of `tensor`.
 *
 * @since 0.1.0
 * @category options
 */
export interface TensorOptions {
  /** torch's dtype name; default from the array (Float32Array → float32, ...). */
  readonly dtype?: string
  /** Default: one dimension of the array's length. */
  readonly shape?: ReadonlyArray<number>
  readonly requiresGrad?: boolean
}

const defaultDtype = (data: TensorArray | ReadonlyArray<number>): string =>
  data instanceof Float32Array ? "float32"
    : data instanceof Float64Array ? "float64"
    : data instanceof BigInt64Array ? "int64"
    : data instanceof BigUint64Array ? "uint64"
    : data instanceof Int32Array ? "int32"
    : data instanceof Uint32Array ? "uint32"
    : data instanceof Int16Array ? "int16"
    : data instanceof Uint16Array ? "uint16"
    : data instanceof Int8Array ? "int8"
    : data instanceof Uint8Array ? "uint8"
    : "float32"

/**
 * Encodes numbers as little-endian elements of a dtype (float16 and
 * bfloat16 rounded to nearest even; bool as 0/1).
 *
 * @since 0.1.0
 * @category conversions
 */
export const encodeElements = (values: ArrayLike<number | bigint>, dtype: DType): Uint8Array => {
  const out = new Uint8Array(values.length * dtype.itemSize)
  const view = new DataView(out.buffer)
  const n = (i: number) => Number(values[i]!)
  for (let i = 0; i < values.length; i++) {
    const at = i * dtype.itemSize
    switch (dtype.name) {
      case "float32": view.setFloat32(at, n(i), true); break
      case "float64": view.setFloat64(at, n(i), true); break
      case "float16": view.setUint16(at, floatToHalf(n(i)), true); break
      case "bfloat16": view.setUint16(at, floatToBFloat16(n(i)), true); break
      case "int64": view.setBigInt64(at, BigInt(values[i]!), true); break
      case "uint64": view.setBigUint64(at, BigInt(values[i]!), true); break
      case "int32": view.setInt32(at, n(i), true); break
      case "uint32": view.setUint32(at, n(i), true); break
      case "int16": view.setInt16(at, n(i), true); break
      case "uint16": view.setUint16(at, n(i), true); break
      case "int8": view.setInt8(at, n(i)); break
      case "uint8": view.setUint8(at, n(i)); break
      case "bool": view.setUint8(at, n(i) ? 1 : 0); break
      default: throw new CheckpointError({ reason: "UnknownDtype", offset: 0, detail: `cannot encode numbers as ${dtype.name}; pass raw bytes with fromBytes` })
    }
  }
  return out
}

/**
 * A new contiguous CPU tensor. Typed arrays whose element type matches the
 * dtype are copied as they are; otherwise elements are converted (e.g. a
 * Float32Array to float16 or bfloat16).
 *
 * @since 0.1.0
 * @category constructors
 */
export const tensor = (data: TensorArray | ReadonlyArray<number>, options: TensorOptions = {}): Tensor => {
  const dtype = dtypeByName(options.dtype ?? defaultDtype(data))
  if (dtype === undefined) throw new CheckpointError({ reason: "UnknownDtype", offset: 0, detail: `unknown dtype ${options.dtype}` })
  const shape = options.shape ?? [data.length]
  if (numel(shape) !== data.length) {
    throw new CheckpointError({ reason: "BadTensor", offset: 0, detail: `shape [${shape.join(", ")}] does not hold ${data.length} elements` })
  }
  const native = !Array.isArray(data) && defaultDtype(data) === dtype.name
  const bytes = native
    ? new Uint8Array((data as TensorArray).buffer.slice((data as TensorArray).byteOffset, (data as TensorArray).byteOffset + (data as TensorArray).byteLength))
    : encodeElements(data as ArrayLike<number | bigint>, dtype)
  return fromBytes(bytes, dtype.name, shape, options.requiresGrad === undefined ? {} : { requiresGrad: options.requiresGrad })
}

/**
 * A tensor over raw little-endian element bytes of any dtype (float8,
 * quantized storage, ...).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBytes = (
  bytes: Uint8Array,
  dtypeName: string,
  shape: ReadonlyArray<number>,
  options: { readonly requiresGrad?: boolean; readonly quantization?: Quantization } = {}
): Tensor => {
  const dtype = dtypeByName(dtypeName)
  if (dtype === undefined) throw new CheckpointError({ reason: "UnknownDtype", offset: 0, detail: `unknown dtype ${dtypeName}` })
  if ((dtype.kind === "quantized") !== (options.quantization !== undefined)) {
    throw new CheckpointError({ reason: "BadTensor", offset: 0, detail: `${dtype.name} ${dtype.kind === "quantized" ? "needs" : "takes no"} quantization parameters` })
  }
  if (Math.ceil(numel(shape) / dtype.perByte) * dtype.itemSize !== bytes.length) {
    throw new CheckpointError({ reason: "BadTensor", offset: 0, detail: `${bytes.length} bytes do not hold a [${shape.join(", ")}] ${dtype.name} tensor` })
  }
  return new Tensor(dtype, shape, contiguousStrides(shape), 0, Storage.fromBytes(bytes, dtype), options.requiresGrad ?? false, options.quantization)
}

/**
 * A `torch.nn.Parameter` over a tensor (requires_grad true by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parameter = (t: Tensor, requiresGrad = true): Parameter => Parameter.of(t, requiresGrad)
