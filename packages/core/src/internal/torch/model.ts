/**
 * torch's objects as checkpoints hold them: storage classes, devices, sizes,
 * layouts, qschemes, storages and lazy tensors (metadata and a storage
 * handle; no bytes until asked for).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { TorchwireError } from "../../Errors.js"
import type { PyValue } from "../../Value.js"
import type { DType } from "./dtypes.js"
import { numel } from "./shape.js"

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
