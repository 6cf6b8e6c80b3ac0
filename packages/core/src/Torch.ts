/**
 * torch objects as they appear in checkpoints: dtypes, devices, sizes,
 * storages and lazy tensors.
 *
 * A `Tensor` holds only metadata and a `Storage` handle; its bytes are read
 * from the checkpoint when asked for (`bytes`, `toTypedArray`, `toFloat32`),
 * inside the Scope that keeps the file open.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "./Errors.js"
import type { PyValue } from "./Value.js"

/**
 * A `torch.dtype`.
 *
 * @since 0.1.0
 * @category models
 */
export class DType {
  readonly pyType = "torch.dtype"
  constructor(
    /** torch's name without `torch.`: `float32`, `bfloat16`, ... */
    readonly name: string,
    /** Bytes per element. */
    readonly itemSize: number,
    /** The element kind, which decides the typed array a tensor materializes as. */
    readonly kind: "float" | "int" | "uint" | "bool" | "complex" | "quantized" | "bits",
    /** Elements packed in one storage byte (2 for quint4x2, 4 for quint2x4). */
    readonly perByte: number = 1
  ) {}
}

const dtypeList: ReadonlyArray<DType> = [
  new DType("float64", 8, "float"),
  new DType("float32", 4, "float"),
  new DType("float16", 2, "float"),
  new DType("bfloat16", 2, "float"),
  new DType("int64", 8, "int"),
  new DType("int32", 4, "int"),
  new DType("int16", 2, "int"),
  new DType("int8", 1, "int"),
  new DType("uint8", 1, "uint"),
  new DType("uint16", 2, "uint"),
  new DType("uint32", 4, "uint"),
  new DType("uint64", 8, "uint"),
  new DType("bool", 1, "bool"),
  new DType("complex128", 16, "complex"),
  new DType("complex64", 8, "complex"),
  new DType("complex32", 4, "complex"),
  new DType("qint8", 1, "quantized"),
  new DType("quint8", 1, "quantized"),
  new DType("qint32", 4, "quantized"),
  new DType("quint4x2", 1, "quantized", 2),
  new DType("quint2x4", 1, "quantized", 4),
  new DType("float8_e5m2", 1, "float"),
  new DType("float8_e4m3fn", 1, "float"),
  new DType("float8_e5m2fnuz", 1, "float"),
  new DType("float8_e4m3fnuz", 1, "float"),
  new DType("float8_e8m0fnu", 1, "float"),
  new DType("float4_e2m1fn_x2", 1, "float"),
  new DType("bits8", 1, "bits"),
  new DType("bits16", 2, "bits"),
  new DType("bits1x8", 1, "bits"),
  new DType("bits2x4", 1, "bits"),
  new DType("bits4x2", 1, "bits"),
  ...[1, 2, 3, 4, 5, 6, 7].flatMap((n) => [new DType(`uint${n}`, 1, "uint"), new DType(`int${n}`, 1, "int")])
]

/**
 * Every dtype torchwire knows, by name (`float32`, ...).
 *
 * @since 0.1.0
 * @category constants
 */
export const dtypes: ReadonlyMap<string, DType> = new Map(dtypeList.map((d) => [d.name, d]))

/** Python aliases that also name dtypes as attributes of `torch`. */
const dtypeAliases: Record<string, string> = {
  float: "float32",
  double: "float64",
  half: "float16",
  long: "int64",
  int: "int32",
  short: "int16",
  cfloat: "complex64",
  cdouble: "complex128",
  chalf: "complex32"
}

/**
 * Looks a dtype up by its name or torch alias (`float`, `long`, ...).
 *
 * @since 0.1.0
 * @category utils
 */
export const dtypeByName = (name: string): DType | undefined => dtypes.get(dtypeAliases[name] ?? name)

/**
 * The legacy storage classes (`torch.FloatStorage`, ...) and their dtypes.
 *
 * @since 0.1.0
 * @category constants
 */
export const legacyStorageDtypes: ReadonlyMap<string, string> = new Map([
  ["DoubleStorage", "float64"],
  ["FloatStorage", "float32"],
  ["HalfStorage", "float16"],
  ["BFloat16Storage", "bfloat16"],
  ["LongStorage", "int64"],
  ["IntStorage", "int32"],
  ["ShortStorage", "int16"],
  ["CharStorage", "int8"],
  ["ByteStorage", "uint8"],
  ["BoolStorage", "bool"],
  ["ComplexDoubleStorage", "complex128"],
  ["ComplexFloatStorage", "complex64"],
  ["QInt8Storage", "qint8"],
  ["QUInt8Storage", "quint8"],
  ["QInt32Storage", "qint32"],
  ["QUInt4x2Storage", "quint4x2"],
  ["QUInt2x4Storage", "quint2x4"]
])

/**
 * A storage class reference (`torch.FloatStorage`, `torch.storage.UntypedStorage`).
 * `untyped` storages count bytes; typed ones count elements.
 *
 * @since 0.1.0
 * @category models
 */
export class StorageType {
  readonly pyType = "torch.storage"
  constructor(readonly name: string, readonly dtype: DType, readonly untyped: boolean) {}
}

/**
 * A `torch.device`.
 *
 * @since 0.1.0
 * @category models
 */
export class Device {
  readonly pyType = "torch.device"
  constructor(readonly type: string, readonly index: number | null) {}
  /** `str(device)`: `cpu`, `cuda:1` */
  toString(): string {
    return this.index === null ? this.type : `${this.type}:${this.index}`
  }
}

/**
 * A `torch.Size`.
 *
 * @since 0.1.0
 * @category models
 */
export class TorchSize {
  readonly pyType = "torch.Size"
  constructor(readonly dims: ReadonlyArray<number>) {}
}

/**
 * A `torch.layout` (`torch.strided`, `torch.sparse_coo`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export class Layout {
  readonly pyType = "torch.layout"
  constructor(readonly name: string) {}
}

/**
 * A `torch.qscheme` (`torch.per_tensor_affine`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export class QScheme {
  readonly pyType = "torch.qscheme"
  constructor(readonly name: string) {}
}

/** Chunk size of in-memory storages' streams: small enough that writers overlap CRC-32 with writes. */
const MEMORY_CHUNK = 4 << 20

/** Zero-copy views of `bytes`, `size` bytes each. */
const chunksOf = (bytes: Uint8Array, size: number): Stream.Stream<Uint8Array> =>
  Stream.fromIterable({
    *[Symbol.iterator]() {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, Math.min(at + size, bytes.length))
    }
  })

/**
 * One storage of a checkpoint: a contiguous block of bytes that tensors view.
 * `read` loads the raw bytes; `bytes(tensor)` applies the byte order.
 *
 * @since 0.1.0
 * @category models
 */
export class Storage {
  readonly pyType = "torch.storage.TypedStorage"
  constructor(
    /** The key of the storage in its checkpoint (`"0"`, or an old heap address). */
    readonly key: string,
    readonly dtype: DType,
    /** The location tag it was saved from: `cpu`, `cuda:0`, ... */
    readonly location: string,
    /** Size in bytes, as the pickle declares it. */
    readonly nbytes: number,
    /** The record holding the bytes (zip entry name, or a description). */
    readonly record: string,
    /** Reads the storage's bytes, in the file's byte order. */
    readonly read: Effect.Effect<Uint8Array, TorchwireError>,
    /** The byte order the file declares; tensors swap big-endian data when read. */
    readonly byteOrder: "little" | "big" = "little",
    /** The bytes as a stream of chunks (defaults to one chunk from `read`). */
    readonly stream: Stream.Stream<Uint8Array, TorchwireError> = Stream.suspend(() => Stream.fromEffect(read)),
    /**
     * The CRC-32 of those bytes, when the file recorded it (a zip record holding exactly this storage):
     * re-saving copies it instead of computing it again.
     */
    readonly crc32?: number,
    /** The bytes, when they are in memory (writers then take them without a stream). */
    readonly memory?: Uint8Array,
    /**
     * Reads `length` bytes from `offset`, when the source can seek (a STORED zip entry): writers then read
     * the storage a chunk at a time, with no stream of its own.
     */
    readonly readRange?: (offset: number, length: number) => Effect.Effect<Uint8Array, TorchwireError>
  ) {}

  /** A CPU storage over bytes in memory (little-endian), streamed as zero-copy 4 MiB views. */
  static fromBytes(bytes: Uint8Array, dtype: DType): Storage {
    return new Storage("", dtype, "cpu", bytes.byteLength, "memory", Effect.succeed(bytes), "little", chunksOf(bytes, MEMORY_CHUNK), undefined, bytes)
  }
}

/**
 * Quantization parameters of a quantized tensor.
 *
 * @since 0.1.0
 * @category models
 */
export type Quantization =
  | { readonly scheme: "per_tensor_affine"; readonly scale: number; readonly zeroPoint: number }
  | {
    readonly scheme: "per_channel_affine" | "per_channel_affine_float_qparams"
    readonly scales: Tensor | ReadonlyArray<number>
    readonly zeroPoints: Tensor | ReadonlyArray<number>
    readonly axis: number
  }

/**
 * A lazy tensor: dtype, shape, strides and a view into a `Storage`.
 *
 * @since 0.1.0
 * @category models
 */
export class Tensor {
  /** Python state set on the tensor (e.g. attributes of a subclass). */
  state: PyValue | undefined = undefined
  constructor(
    readonly dtype: DType,
    readonly shape: ReadonlyArray<number>,
    readonly stride: ReadonlyArray<number>,
    readonly storageOffset: number,
    /** Undefined for meta tensors, which have no data. */
    readonly storage: Storage | undefined,
    readonly requiresGrad: boolean,
    readonly quantization?: Quantization,
    /** Metadata flags such as `{conj: true}` or `{neg: true}`. */
    readonly metadata?: ReadonlyMap<string, boolean>
  ) {}
  /** Number of elements. */
  get numel(): number {
    return numel(this.shape)
  }
  /** Size of the elements in bytes (not of the storage). */
  get nbytes(): number {
    return this.numel * this.dtype.itemSize
  }
  get pyType(): string {
    return "torch.Tensor"
  }
}

/**
 * A `torch.nn.Parameter`: a tensor that a module registers as trainable.
 *
 * @since 0.1.0
 * @category models
 */
export class Parameter extends Tensor {
  override get pyType(): string {
    return "torch.nn.Parameter"
  }
  /** Wraps a tensor as a parameter. */
  static of(t: Tensor, requiresGrad: boolean): Parameter {
    const p = new Parameter(t.dtype, t.shape, t.stride, t.storageOffset, t.storage, requiresGrad, t.quantization, t.metadata)
    p.state = t.state
    return p
  }
}

/**
 * Product of the sizes.
 *
 * @since 0.1.0
 * @category utils
 */
export const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/**
 * Row-major (C-contiguous) strides for a shape.
 *
 * @since 0.1.0
 * @category utils
 */
export const contiguousStrides = (shape: ReadonlyArray<number>): Array<number> => {
  const out = new Array<number>(shape.length)
  let s = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = s
    s *= Math.max(shape[d]!, 1)
  }
  return out
}

/**
 * The number of storage elements a view needs: `offset + 1 + Σ (size-1)·stride`,
 * or 0 when the view is empty.
 *
 * @since 0.1.0
 * @category utils
 */
export const requiredElements = (shape: ReadonlyArray<number>, stride: ReadonlyArray<number>, offset: number): number => {
  if (shape.some((s) => s === 0)) return 0
  let extent = offset + 1
  for (let d = 0; d < shape.length; d++) extent += (shape[d]! - 1) * stride[d]!
  return extent
}

/**
 * Bytes of storage a view needs, accounting for sub-byte packed dtypes.
 *
 * @since 0.1.0
 * @category utils
 */
export const requiredBytes = (dtype: DType, shape: ReadonlyArray<number>, stride: ReadonlyArray<number>, offset: number): number =>
  Math.ceil(requiredElements(shape, stride, offset) / dtype.perByte) * dtype.itemSize

const isContiguous = (shape: ReadonlyArray<number>, stride: ReadonlyArray<number>): boolean => {
  let s = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== s) return false
    s *= shape[d]!
  }
  return true
}

/**
 * Copies a strided view out of storage bytes into row-major order.
 * Pure; `src` must hold at least `requiredElements` elements.
 *
 * @since 0.1.0
 * @category utils
 */
export const gather = (
  src: Uint8Array,
  itemSize: number,
  shape: ReadonlyArray<number>,
  stride: ReadonlyArray<number>,
  offset: number
): Uint8Array => {
  const n = numel(shape)
  if (n === 0) return new Uint8Array(0)
  if (isContiguous(shape, stride)) return src.slice(offset * itemSize, (offset + n) * itemSize)
  const out = new Uint8Array(n * itemSize)
  const nd = shape.length
  const inner = shape[nd - 1]!
  const innerStride = stride[nd - 1]!
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0)
  let base = offset
  let o = 0
  for (let row = n / inner; row > 0; row--) {
    if (innerStride === 1) {
      out.set(src.subarray(base * itemSize, (base + inner) * itemSize), o)
      o += inner * itemSize
    } else {
      for (let j = 0; j < inner; j++) {
        const s = (base + j * innerStride) * itemSize
        for (let b = 0; b < itemSize; b++) out[o++] = src[s + b]!
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++
      base += stride[d]!
      if (idx[d]! < shape[d]!) break
      base -= stride[d]! * shape[d]!
      idx[d] = 0
    }
  }
  return out
}

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

/**
 * dtype names by c10::ScalarType number (the flatbuffer `scalar_type` byte,
 * format-facts §7.3).
 *
 * @since 0.1.0
 * @category constants
 */
export const scalarTypes: ReadonlyArray<string> = [
  "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex32", "complex64", "complex128",
  "bool", "qint8", "quint8", "qint32", "bfloat16", "quint4x2", "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8",
  "bits16", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "uint16", "uint32", "uint64",
  "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4", "int5", "int6", "int7",
  "float8_e8m0fnu", "float4_e2m1fn_x2"
]

/**
 * c10::QScheme names by number.
 *
 * @since 0.1.0
 * @category constants
 */
export const qschemes: ReadonlyArray<string> = ["per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric", "per_channel_affine_float_qparams"]
