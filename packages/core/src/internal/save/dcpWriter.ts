/**
 * Writing a distributed checkpoint as one process does (`dcp.save` with
 * `no_dist=True`, what `torch_save_to_dcp` calls): the state flattened as
 * DCP's `flatten_state_dict` flattens it, each tensor and each other value
 * an item of `__0_0.distcp` (a `torch.save` archive each, back to back), and
 * the `.metadata` pickle that names them.
 *
 * @internal
 */
import { CheckpointError } from "../../Errors.js"
import { PyGlobal, PyObject, PyTuple, type PyValue } from "../../Value.js"
import { pickle } from "../pickle/pickler.js"
import type { ItemLocation } from "../format/dcpMetadata.js"
import { Layout, Tensor, TorchSize } from "../torch/model.js"
import { reduceTorchValue } from "../torch/pickle.js"

/** One item to write: a tensor or any other value (saved with `torch.save` as bytes), its dotted name and its path in the state. @internal */
export interface FlatItem {
  readonly fqn: string
  readonly path: ReadonlyArray<string | number>
  readonly value: PyValue
}

/** `str(key)` of a dict key as DCP makes names of them; undefined for keys it would name unlike JavaScript. */
const keyName = (key: PyValue): string | undefined =>
  typeof key === "string" ? key : typeof key === "number" && Number.isSafeInteger(key) ? String(key) : typeof key === "bigint" ? String(key) : typeof key === "boolean" ? (key ? "True" : "False") : undefined

/** DCP's `_is_terminal`: a list is a leaf unless it holds a tensor, a dict, or a list that is not a leaf. */
const isTerminal = (v: PyValue): boolean => {
  if (v instanceof Map) return false
  if (!Array.isArray(v)) return true
  return v.every((x) => !(x instanceof Tensor) && !(x instanceof Map) && (!Array.isArray(x) || isTerminal(x)))
}

/**
 * The state's leaves as DCP's `flatten_state_dict` finds them: dicts are
 * entered (keys by `str`), lists entered when they hold tensors or dicts,
 * anything else (tuples included) a leaf named by its path's parts joined
 * with dots. Two leaves of one name are an error, as in DCP.
 *
 * @internal
 */
export const flattenState = (state: PyValue): Array<FlatItem> => {
  if (!(state instanceof Map)) throw new CheckpointError({ reason: "BadRecord", offset: 0, detail: "a distributed checkpoint holds a dict (a state_dict): this value is not one" })
  const out: Array<FlatItem> = []
  const names = new Set<string>()
  const visit = (path: Array<string | number>, v: PyValue): void => {
    if (v instanceof Map) {
      for (const [k, x] of v) {
        const name = keyName(k)
        if (name === undefined) throw new CheckpointError({ reason: "BadRecord", offset: 0, record: path.join("."), detail: "a dict key that is not a str or an int cannot name a distributed checkpoint's item" })
        visit([...path, name], x)
      }
    } else if (isTerminal(v)) {
      const fqn = path.map(String).join(".")
      if (names.has(fqn)) throw new CheckpointError({ reason: "BadRecord", offset: 0, record: fqn, detail: `two values flatten to the name ${JSON.stringify(fqn)}` })
      names.add(fqn)
      out.push({ fqn, path, value: v })
    } else (v as Array<PyValue>).forEach((x, i) => visit([...path, i], x))
  }
  for (const [k, x] of state) {
    const name = keyName(k)
    if (name === undefined) throw new CheckpointError({ reason: "BadRecord", offset: 0, detail: "a dict key that is not a str or an int cannot name a distributed checkpoint's item" })
    visit([name], x)
  }
  return out
}

const METADATA = "torch.distributed.checkpoint.metadata"

/** A dataclass as pickle writes one: `cls.__new__(cls)`, then its `__dict__` (or the given state). */
const dataclass = (module: string, name: string, state?: PyValue): PyObject => {
  const o = new PyObject(new PyGlobal(module, name), [], "newobj")
  if (state !== undefined) o.state = state
  return o
}

/** `torch.Size(dims)`. */
const size = (dims: ReadonlyArray<number>): TorchSize => new TorchSize(dims)

/** `TensorProperties` as its `__getstate__` pickles it: dtype, layout, requires_grad, the memory format's code, pin_memory. */
const properties = (t: Tensor): PyObject => {
  const contiguous = new PyObject(new PyGlobal(METADATA, "_MEM_FORMAT_ENCODING"), [0], "reduce")
  return dataclass(METADATA, "TensorProperties", new PyTuple([t.dtype, new Layout("strided"), t.requiresGrad, contiguous, false]))
}

/** Options of the metadata: `StorageMeta`'s ids. @internal */
export interface MetadataOptions {
  /** `StorageMeta.checkpoint_id` (torch writes the folder's path; default None). */
  readonly checkpointId?: string
  /** `StorageMeta.save_id`. */
  readonly saveId: string
}

/**
 * The `.metadata` pickle (protocol 4, as Python's `pickle.dump`) of items
 * written at `locations` (one per item, in order), as `FileSystemWriter`
 * writes it for DCP version 1.0.0.
 *
 * @internal
 */
export const metadataPickle = (items: ReadonlyArray<FlatItem>, locations: ReadonlyArray<ItemLocation>, options: MetadataOptions): Uint8Array => {
  const stateDictMetadata = new Map<PyValue, PyValue>()
  const plannerData = new Map<PyValue, PyValue>()
  const storageData = new Map<PyValue, PyValue>()
  items.forEach((item, i) => {
    const at = locations[i]!
    const info = dataclass("torch.distributed.checkpoint.filesystem", "_StorageInfo", new Map<PyValue, PyValue>([["relative_path", at.file], ["offset", at.offset], ["length", at.length]]))
    if (item.value instanceof Tensor) {
      const t = item.value
      const zeros = size(t.shape.map(() => 0))
      const chunk = dataclass(METADATA, "ChunkStorageMetadata", new Map<PyValue, PyValue>([["offsets", zeros], ["sizes", size(t.shape)]]))
      stateDictMetadata.set(item.fqn, dataclass(METADATA, "TensorStorageMetadata", new Map<PyValue, PyValue>([["properties", properties(t)], ["size", size(t.shape)], ["chunks", [chunk]]])))
      storageData.set(dataclass(METADATA, "MetadataIndex", new Map<PyValue, PyValue>([["fqn", item.fqn], ["offset", size(t.shape.map(() => 0))], ["index", 0]])), info)
    } else {
      stateDictMetadata.set(item.fqn, dataclass(METADATA, "BytesStorageMetadata"))
      storageData.set(dataclass(METADATA, "MetadataIndex", new Map<PyValue, PyValue>([["fqn", item.fqn], ["offset", null], ["index", null]])), info)
    }
    plannerData.set(item.fqn, new PyTuple(item.path))
  })
  const storageMeta = dataclass(METADATA, "StorageMeta", new Map<PyValue, PyValue>([
    ["checkpoint_id", options.checkpointId ?? null],
    ["save_id", options.saveId],
    ["load_id", null],
    ["modules", []]
  ]))
  const metadata = dataclass(METADATA, "Metadata", new Map<PyValue, PyValue>([
    ["state_dict_metadata", stateDictMetadata],
    ["planner_data", plannerData],
    ["storage_data", storageData],
    ["storage_meta", storageMeta],
    ["version", "1.0.0"]
  ]))
  return pickle(metadata, { protocol: 4, reduce: reduceTorchValue })
}
