/**
 * torch's objects as checkpoints hold them: storage classes, devices, sizes,
 * layouts, qschemes, storages and lazy tensors (metadata and a storage
 * handle; no bytes until asked for).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { TorchwireError } from "../../Errors.js"
import type { PyValue } from "../../Value.js"
import { readAll, RecordBytes, sizeOf } from "../container/recordBytes.js"
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

/**
 * The read `read` makes, returning the bytes it last read for as long as
 * something else holds them: tensors over one storage (tied weights) read it
 * once and share it, as torch's do, and nothing is kept alive for them.
 * `remember` hands it bytes read some other way (in a batch with other
 * storages). Nothing but one effect is made until the storage is read.
 */
const sharedWhileAlive = <E>(read: () => Effect.Effect<Uint8Array, E>): {
  readonly read: Effect.Effect<Uint8Array, E>
  readonly remember: (bytes: Uint8Array) => void
} => {
  // The buffer, not the Uint8Array: callers keep views of it (typed arrays), not this object.
  let last: { readonly buffer: WeakRef<ArrayBufferLike>; readonly offset: number; readonly length: number } | undefined
  const remember = (b: Uint8Array) => void (last = { buffer: new WeakRef(b.buffer), offset: b.byteOffset, length: b.byteLength })
  return {
    read: Effect.suspend(() => {
      const alive = last?.buffer.deref()
      if (alive !== undefined) return Effect.succeed(new Uint8Array(alive, last!.offset, last!.length))
      return Effect.map(read(), (b) => {
        remember(b)
        return b
      })
    }),
    remember
  }
}

/**
 * What a `Storage` is made of.
 *
 * @since 0.2.0
 * @category models
 */
export interface StorageOptions {
  /** The key of the storage in its checkpoint (`"0"`, or an old heap address). */
  readonly key: string
  readonly dtype: DType
  /** The location tag it was saved from: `cpu`, `cuda:0`, ... (default `cpu`). */
  readonly location?: string
  /** The record holding the bytes (zip entry name, or a description; default `memory`). */
  readonly record?: string
  /** Where its bytes live: exactly its size in bytes, in the file's byte order. */
  readonly bytes: RecordBytes
  /** The byte order the file declares (default little); tensors swap big-endian data when read. */
  readonly byteOrder?: "little" | "big"
}

/**
 * One storage of a checkpoint: a contiguous block of bytes that tensors view.
 * `bytes` says where they live (in memory, a range of the source, a zip
 * entry, ...); `read` loads them, raw, sharing one buffer among the tensors
 * that read it while any holds it; `Torch.bytes(tensor)` applies the byte
 * order.
 *
 * @since 0.1.0
 * @category models
 */
export class Storage {
  readonly pyType = "torch.storage.TypedStorage"
  readonly key: string
  readonly dtype: DType
  readonly location: string
  readonly record: string
  readonly bytes: RecordBytes
  readonly byteOrder: "little" | "big"
  /** Reads the storage's bytes, in the file's byte order. */
  readonly read: Effect.Effect<Uint8Array, TorchwireError>
  /** Hands the storage bytes read some other way (with its neighbours): its reads return them while they are alive. */
  readonly remember: (bytes: Uint8Array) => void
  constructor(options: StorageOptions) {
    this.key = options.key
    this.dtype = options.dtype
    this.location = options.location ?? "cpu"
    this.record = options.record ?? "memory"
    this.bytes = options.bytes
    this.byteOrder = options.byteOrder ?? "little"
    const { bytes } = options
    if (bytes._tag === "Memory") {
      this.read = Effect.succeed(bytes.bytes)
      this.remember = () => {}
    } else {
      const shared = sharedWhileAlive(() => readAll(bytes))
      this.read = shared.read
      this.remember = shared.remember
    }
  }

  /** Size in bytes. */
  get nbytes(): number {
    return sizeOf(this.bytes)
  }

  /** A CPU storage over bytes in memory (little-endian). */
  static fromBytes(bytes: Uint8Array, dtype: DType): Storage {
    return new Storage({ key: "", dtype, bytes: RecordBytes.Memory({ bytes }) })
  }
}

/**
 * The bytes `[start, end)` of a storage, read through it (its read shared
 * while alive): what a view storage of the legacy and tar formats holds.
 *
 * @internal
 */
export const viewOf = (root: Storage, start: number, end: number): RecordBytes =>
  RecordBytes.Computed({ read: Effect.map(root.read, (b) => b.subarray(start, end)), size: end - start })

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
