/**
 * data.pkl as torch.save writes it: tensors reduce through torch's rebuild
 * functions and storages become persistent ids keyed "0", "1", ... in the
 * order they are first pickled.
 *
 * @internal
 */
import { PickleError } from "../../Errors.js"
import { Device, Layout, Parameter, QScheme, Storage, StorageType, Tensor, TorchSize } from "./model.js"
import { DType, dtypes, legacyStorageDtypes } from "./dtypes.js"
import { swapWidth } from "./tensorBytes.js"
import { OrderedDict, PyFloat, PyGlobal, PyTuple, type PyValue } from "../../Value.js"
import { setTokens } from "../pickle/identity.js"
import { pickle, type Reduction } from "../pickle/pickler.js"

/** A storage to write as `data/<key>`. @internal */
export interface StorageRecord {
  readonly key: string
  readonly storage: Storage
  /** Word size to swap by when the source storage is big-endian. */
  readonly swapWidth: number
  /** The storage class it is pickled as (`FloatStorage`, `UntypedStorage`, ...). */
  readonly typeName: string
}

/** Legacy storage class name by dtype name (`float32` → `FloatStorage`). */
const legacyByDtype = new Map([...legacyStorageDtypes].map(([cls, dt]) => [dt, cls]))

const utils = (name: string) => new PyGlobal("torch._utils", name)

const fail = (detail: string) => new PickleError({ reason: "BadValue", offset: 0, record: "data.pkl", detail })

/**
 * How torch pickles its small values (as `__reduce__` does in Python): a
 * dtype, qscheme or storage class as a reference to its global, a device,
 * `torch.Size` or layout as a call. Tensors and storages need a checkpoint
 * (`pickleCheckpoint`); anything else is not torch's.
 *
 * @internal
 */
export const reduceTorchValue = (v: PyValue): Reduction | PyGlobal | undefined => {
  if (v instanceof DType || v instanceof QScheme) return new PyGlobal("torch", v.name)
  if (v instanceof StorageType) return v.untyped ? new PyGlobal("torch.storage", "UntypedStorage") : new PyGlobal("torch", v.name)
  if (v instanceof Device) return { fn: new PyGlobal("torch", "device"), args: v.index === null ? [v.type] : [v.type, v.index] }
  if (v instanceof TorchSize) return { fn: new PyGlobal("torch", "Size"), args: [new PyTuple(v.dims)] }
  if (v instanceof Layout) return { fn: new PyGlobal("torch.serialization", "_get_layout"), args: [`torch.${v.name}`] }
  return undefined
}

/**
 * Pickles a value the way `torch.save` writes data.pkl. `storageKey` names
 * storages when several pickles share one key space (a TorchScript
 * archive's constants.pkl and bytecode.pkl); keys are "0", "1", ... in
 * order of first use otherwise.
 *
 * @internal
 */
export const pickleCheckpoint = (
  value: PyValue,
  protocol: number,
  options: { readonly storageKey?: (storage: Storage) => string; readonly dialect?: "python" | "cpp" } = {}
): { readonly pickle: Uint8Array; readonly storages: ReadonlyArray<StorageRecord> } => {
  if (protocol < 1) throw fail("torch.save needs pickle protocol 1 or higher (persistent ids are tuples)")
  const keys = new Map<Storage, StorageRecord>()
  /** Each storage's order of first use: its key's identity token. */
  const tokens = new Map<Storage, number>()
  // Which storage each tensor views, and how: set while its reduction is pickled.
  const pending = new Map<Storage, { readonly type: StorageType; readonly width: number }>()

  const storagePid = (s: Storage): PyValue => {
    const how = pending.get(s)
    if (how === undefined) throw fail("a storage can only be saved as part of a tensor")
    let record = keys.get(s)
    if (record === undefined) {
      record = { key: options.storageKey?.(s) ?? String(keys.size), storage: s, swapWidth: how.width, typeName: how.type.name }
      tokens.set(s, keys.size)
      keys.set(s, record)
    } else if (record.typeName !== how.type.name) {
      throw fail(`Cannot save multiple tensors or storages that view the same data as different types (${record.typeName} and ${how.type.name})`)
    }
    const numel = how.type.untyped ? s.nbytes : s.nbytes / how.type.dtype.itemSize
    // torch makes each key with str(len(id_map)): a fresh string object shared only by the persistent ids of
    // its storage, so it never memo-matches an equal user string (a Sequential's module "0"). Its own
    // identity token says so (tokens read from files are byte offsets, >= 0; these are negative).
    const items: Array<PyValue> = ["storage", how.type, record.key, s.location, numel]
    setTokens(items, [undefined, undefined, -1 - tokens.get(s)!, undefined, undefined])
    return new PyTuple(items)
  }

  const storageArg = (t: Tensor): Storage => {
    const s = t.storage!
    const legacy = legacyByDtype.get(t.dtype.name)
    const type = legacy === undefined
      ? new StorageType("UntypedStorage", dtypes.get("uint8")!, true)
      : new StorageType(legacy, t.dtype, false)
    pending.set(s, { type, width: swapWidth(t.dtype) })
    return s
  }

  const tensorArgs = (t: Tensor): Array<PyValue> => [
    storageArg(t),
    t.storageOffset,
    new PyTuple([...t.shape]),
    new PyTuple([...t.stride]),
    t.requiresGrad,
    new OrderedDict()
  ]

  const metadata = (t: Tensor): Array<PyValue> =>
    t.metadata === undefined || t.metadata.size === 0 ? [] : [new Map<PyValue, PyValue>(t.metadata)]

  /** The reduction of a plain tensor (no Parameter wrapping, no Python state). */
  const plainReduction = (t: Tensor): Reduction => {
    if (t.storage === undefined) {
      return { fn: utils("_rebuild_meta_tensor_no_storage"), args: [t.dtype, new PyTuple([...t.shape]), new PyTuple([...t.stride]), t.requiresGrad] }
    }
    const q = t.quantization
    if (q !== undefined) {
      const params = q.scheme === "per_tensor_affine"
        ? new PyTuple([new QScheme("per_tensor_affine"), new PyFloat(q.scale), q.zeroPoint])
        : new PyTuple([new QScheme("per_channel_affine"), asTensor(q.scales, "float64"), asTensor(q.zeroPoints, "int64"), q.axis])
      const [storage, offset, size, stride, requiresGrad, hooks] = tensorArgs(t)
      return { fn: utils("_rebuild_qtensor"), args: [storage!, offset!, size!, stride!, params, requiresGrad!, hooks!] }
    }
    return legacyByDtype.has(t.dtype.name)
      ? { fn: utils("_rebuild_tensor_v2"), args: [...tensorArgs(t), ...metadata(t)] }
      : { fn: utils("_rebuild_tensor_v3"), args: [...tensorArgs(t), t.dtype, ...metadata(t)] }
  }

  const reduce = (v: PyValue): Reduction | PyGlobal | undefined => {
    if (!(v instanceof Tensor)) return reduceTorchValue(v)
    if (v instanceof Parameter) {
      // Parameter.__reduce_ex__ pickles `self.data`: a fresh plain tensor.
      const data = new Tensor(v.dtype, v.shape, v.stride, v.storageOffset, v.storage, false, v.quantization, v.metadata)
      return v.state === undefined
        ? { fn: utils("_rebuild_parameter"), args: [data, v.requiresGrad, new OrderedDict()] }
        : { fn: utils("_rebuild_parameter_with_state"), args: [data, v.requiresGrad, new OrderedDict(), v.state] }
    }
    const r = plainReduction(v)
    if (v.state === undefined) return r
    return {
      fn: new PyGlobal("torch._tensor", "_rebuild_from_type_v2"),
      args: [r.fn, new PyGlobal("torch", "Tensor"), new PyTuple(r.args), v.state]
    }
  }

  const bytes = pickle(value, {
    protocol,
    ...(options.dialect === undefined ? {} : { dialect: options.dialect }),
    persistentId: (v) => (v instanceof Storage ? storagePid(v) : undefined),
    reduce
  })
  return { pickle: bytes, storages: [...keys.values()] }
}

/** Per-channel scales and zero points as the tensors torch pickles. */
const asTensor = (v: Tensor | ReadonlyArray<number>, dtype: "float64" | "int64"): Tensor => {
  if (v instanceof Tensor) return v
  const dt: DType = dtypes.get(dtype)!
  const bytes = new Uint8Array(v.length * 8)
  const view = new DataView(bytes.buffer)
  v.forEach((x, i) => (dtype === "float64" ? view.setFloat64(8 * i, x, true) : view.setBigInt64(8 * i, BigInt(x), true)))
  const storage = Storage.fromBytes(bytes, dt)
  return new Tensor(dt, [v.length], [1], 0, storage, false)
}
