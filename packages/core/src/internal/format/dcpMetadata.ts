/**
 * A distributed checkpoint's `.metadata` (torch.distributed.checkpoint): a
 * pickle of dataclasses, unpickled here against an allowlist of exactly
 * those dataclasses (and torch's weights-only values), then read into plain
 * records and checked: every item's file is a name inside the folder, its
 * byte range sane, and each tensor's chunks lie inside it, overlap nowhere
 * and cover it whole.
 *
 * @internal
 */
import { CheckpointError } from "../../Errors.js"
import { PyGlobal, PyObject, PyTuple, type PyValue } from "../../Value.js"
import { isPlainName } from "../../Directory.js"
import { TorchSize } from "../torch/model.js"
import { DType } from "../torch/dtypes.js"
import { numel } from "../torch/shape.js"

/** The module of DCP's metadata dataclasses. */
const METADATA_MODULE = "torch.distributed.checkpoint.metadata"

/**
 * The globals a `.metadata` pickle may name beyond torch's weights-only
 * allowlist: DCP's dataclasses, the file system writer's `_StorageInfo`, and
 * the `pathlib` paths `StorageMeta.checkpoint_id` holds. Each loads as an
 * opaque object; nothing is called.
 *
 * @internal
 */
export const DCP_GLOBALS: ReadonlySet<string> = new Set([
  ...["Metadata", "TensorStorageMetadata", "TensorProperties", "ChunkStorageMetadata", "BytesStorageMetadata", "StorageMeta", "MetadataIndex", "_MEM_FORMAT_ENCODING"].map(
    (n) => `${METADATA_MODULE}.${n}`
  ),
  "torch.distributed.checkpoint.filesystem._StorageInfo",
  ...["pathlib", "pathlib._local"].flatMap((m) => ["PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath"].map((n) => `${m}.${n}`))
])

/**
 * Where an item's bytes lie: `length` bytes at `offset` of `file`, a file of
 * the folder.
 *
 * @internal
 */
export interface ItemLocation {
  readonly file: string
  readonly offset: number
  readonly length: number
}

/** One chunk of a tensor: its place in the whole (`offsets`, `sizes`) and its item. @internal */
export interface Chunk {
  readonly offsets: ReadonlyArray<number>
  readonly sizes: ReadonlyArray<number>
  /** Undefined only for a chunk of no elements. */
  readonly location: ItemLocation | undefined
}

/**
 * One entry of the state: a tensor (its global shape, dtype and chunks) or
 * a value saved as bytes (`torch.save` of it).
 *
 * @internal
 */
export type Entry =
  | { readonly kind: "tensor"; readonly fqn: string; readonly dtype: DType; readonly shape: ReadonlyArray<number>; readonly chunks: ReadonlyArray<Chunk> }
  | { readonly kind: "bytes"; readonly fqn: string; readonly location: ItemLocation }

/**
 * Where an entry's bytes lie: its one item, or the items of its chunks
 * that hold elements (a chunk of none may have no item).
 *
 * @internal
 */
export const itemLocations = (e: Entry): Array<ItemLocation> =>
  e.kind === "bytes" ? [e.location] : e.chunks.flatMap((c) => (c.location === undefined ? [] : [c.location]))

/**
 * A checked `.metadata`: the entries in the file's order, where each sits
 * in the nested state (`planner_data`; a name without one sits at the top
 * level), and DCP's version string.
 *
 * @internal
 */
export interface DcpMetadata {
  readonly entries: ReadonlyArray<Entry>
  readonly paths: ReadonlyMap<string, ReadonlyArray<string | number>>
  readonly version: string | undefined
}

/** A `BadRecord` error about the `.metadata` pickle, naming the entry when there is one. */
const bad = (detail: string, record = ".metadata"): CheckpointError => new CheckpointError({ reason: "BadRecord", offset: 0, record, detail })

/** Whether `v` is an object of DCP's class `name` (a `module.name`). */
const isObject = (v: PyValue | undefined, qualified: string): v is PyObject => v instanceof PyObject && v.cls.qualifiedName === qualified

/** A dataclass's field from its BUILD state (a dict). */
const field = (obj: PyObject, name: string): PyValue | undefined => (obj.state instanceof Map ? obj.state.get(name) : undefined)

/** A non-negative safe integer, or an error naming what it should have been. */
const count = (v: PyValue | undefined, what: string, record: string): number => {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v
  throw bad(`${what} is ${describe(v)}, not a non-negative integer`, record)
}

/** A `torch.Size` (or tuple) of non-negative integers. */
const dims = (v: PyValue | undefined, what: string, record: string): Array<number> => {
  const items = v instanceof TorchSize ? v.dims : v instanceof PyTuple ? v.items : undefined
  if (items === undefined) throw bad(`${what} is ${describe(v)}, not a torch.Size`, record)
  return items.map((d, i) => count(d, `${what}[${i}]`, record))
}

/** A short description of a value for messages. */
const describe = (v: PyValue | undefined): string =>
  v === undefined ? "missing" : v === null ? "None" : v instanceof PyObject ? `a ${v.cls.qualifiedName}` : v instanceof PyGlobal ? v.qualifiedName : typeof v === "object" ? (v.constructor?.name ?? "an object") : JSON.stringify(String(v))

/** The dtype of a `TensorProperties` (torch ≥ 2.1 pickles a tuple through `__getstate__`; older ones its dict). */
const dtypeOf = (properties: PyValue | undefined, record: string): DType => {
  if (!isObject(properties, `${METADATA_MODULE}.TensorProperties`)) throw bad(`properties is ${describe(properties)}, not TensorProperties`, record)
  const state = properties.state
  const dtype = state instanceof PyTuple ? state.items[0] : state instanceof Map ? state.get("dtype") : undefined
  if (dtype instanceof DType) return dtype
  throw bad(`the tensor's dtype is ${describe(dtype)}, not a torch dtype`, record)
}

/** `MetadataIndex(fqn, offset)` as a lookup key. */
const keyOf = (fqn: string, offsets: ReadonlyArray<number> | undefined): string => `${fqn}\u0000${offsets === undefined ? "" : offsets.join(",")}`

/** The `storage_data` dict: each item's location by `keyOf(fqn, offset)`. */
const locations = (storageData: PyValue | undefined): Map<string, ItemLocation> => {
  if (!(storageData instanceof Map)) throw bad(`storage_data is ${describe(storageData)}, not a dict (a checkpoint not written by FileSystemWriter?)`)
  const out = new Map<string, ItemLocation>()
  for (const [k, v] of storageData) {
    if (!isObject(k, `${METADATA_MODULE}.MetadataIndex`)) throw bad(`a storage_data key is ${describe(k)}, not a MetadataIndex`)
    const fqn = field(k, "fqn")
    if (typeof fqn !== "string") throw bad(`a MetadataIndex's fqn is ${describe(fqn)}`)
    const offset = field(k, "offset")
    const offsets = offset === null || offset === undefined ? undefined : dims(offset, "MetadataIndex.offset", fqn)
    if (!isObject(v, "torch.distributed.checkpoint.filesystem._StorageInfo")) throw bad(`the storage of ${JSON.stringify(fqn)} is ${describe(v)}, not a _StorageInfo`, fqn)
    const file = field(v, "relative_path")
    if (typeof file !== "string" || !isPlainName(file)) throw bad(`the storage of ${JSON.stringify(fqn)} is in ${describe(file)}, not a file inside the folder`, fqn)
    const transforms = field(v, "transform_descriptors")
    if (transforms instanceof Array ? transforms.length > 0 : transforms instanceof PyTuple ? transforms.items.length > 0 : transforms !== undefined && transforms !== null) {
      throw new CheckpointError({ reason: "UnsupportedFormat", offset: count(field(v, "offset"), "offset", fqn), record: file, detail: `${JSON.stringify(fqn)} is stored through transforms (${describe(transforms)}), which torchwire does not read` })
    }
    out.set(keyOf(fqn, offsets), { file, offset: count(field(v, "offset"), "_StorageInfo.offset", fqn), length: count(field(v, "length"), "_StorageInfo.length", fqn) })
  }
  return out
}

/** A tensor's chunks, checked: inside the tensor, disjoint, covering it, each non-empty one with its item. */
const chunksOf = (fqn: string, shape: ReadonlyArray<number>, raw: PyValue | undefined, where: Map<string, ItemLocation>): Array<Chunk> => {
  const list = Array.isArray(raw) ? raw : raw instanceof PyTuple ? raw.items : undefined
  if (list === undefined) throw bad(`the chunks of ${JSON.stringify(fqn)} are ${describe(raw)}, not a list`, fqn)
  const chunks = list.map((c, i): Chunk => {
    if (!isObject(c, `${METADATA_MODULE}.ChunkStorageMetadata`)) throw bad(`chunk ${i} of ${JSON.stringify(fqn)} is ${describe(c)}`, fqn)
    const offsets = dims(field(c, "offsets"), `chunk ${i}'s offsets`, fqn)
    const sizes = dims(field(c, "sizes"), `chunk ${i}'s sizes`, fqn)
    if (offsets.length !== shape.length || sizes.length !== shape.length || offsets.some((o, d) => o + sizes[d]! > shape[d]!)) {
      throw bad(`chunk ${i} of ${JSON.stringify(fqn)} (offsets [${offsets}], sizes [${sizes}]) is not inside its shape [${shape}]`, fqn)
    }
    return { offsets, sizes, location: undefined }
  })
  // The geometry first: a chunk moved onto another is an overlap, not a chunk without storage.
  checkCover(fqn, shape, chunks)
  return chunks.map((c, i) => {
    const location = where.get(keyOf(fqn, c.offsets))
    if (location === undefined && numel(c.sizes) > 0) {
      throw new CheckpointError({ reason: "MissingRecord", offset: 0, record: fqn, detail: `chunk ${i} of ${JSON.stringify(fqn)} at offsets [${c.offsets}] has no storage entry` })
    }
    return { ...c, location }
  })
}

/** Whether two boxes share an element. */
const overlaps = (a: Chunk, b: Chunk): boolean => a.offsets.every((o, d) => o < b.offsets[d]! + b.sizes[d]! && b.offsets[d]! < o + a.sizes[d]!)

/**
 * Checks that a tensor's non-empty chunks overlap nowhere and that their
 * elements add up to the tensor's: together, they cover it exactly. Boxes
 * are compared only with those their first dimension's range meets.
 */
const checkCover = (fqn: string, shape: ReadonlyArray<number>, chunks: ReadonlyArray<Chunk>): void => {
  const full = chunks.filter((c) => numel(c.sizes) > 0)
  const total = full.reduce((n, c) => n + numel(c.sizes), 0)
  if (shape.length > 0) {
    const sorted = [...full].sort((a, b) => a.offsets[0]! - b.offsets[0]!)
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i]!
      for (let j = i + 1; j < sorted.length && sorted[j]!.offsets[0]! < a.offsets[0]! + a.sizes[0]!; j++) {
        if (overlaps(a, sorted[j]!)) throw bad(`chunks of ${JSON.stringify(fqn)} at offsets [${a.offsets}] and [${sorted[j]!.offsets}] overlap`, fqn)
      }
    }
  } else if (full.length > 1) throw bad(`the scalar ${JSON.stringify(fqn)} has ${full.length} chunks`, fqn)
  if (total !== numel(shape)) throw bad(`the chunks of ${JSON.stringify(fqn)} hold ${total} of its ${numel(shape)} elements`, fqn)
}

/** `planner_data`: each name's path in the nested state (strings and list indices). */
const pathsOf = (plannerData: PyValue | undefined): Map<string, ReadonlyArray<string | number>> => {
  const out = new Map<string, ReadonlyArray<string | number>>()
  if (!(plannerData instanceof Map)) return out
  for (const [k, v] of plannerData) {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined
    if (typeof k !== "string" || items === undefined || items.length === 0 || !items.every((p) => typeof p === "string" || (typeof p === "number" && Number.isSafeInteger(p) && p >= 0))) {
      throw bad(`planner_data of ${describe(k)} is ${describe(v)}, not a path of names and indices`)
    }
    out.set(k, items as ReadonlyArray<string | number>)
  }
  return out
}

/**
 * Reads an unpickled `.metadata` into a checked `DcpMetadata`. Throws
 * `CheckpointError`: `BadRecord` for anything but DCP's layout (naming the
 * entry), `MissingRecord` for a chunk or value without a storage entry,
 * `UnsupportedFormat` for items stored through transforms.
 *
 * @internal
 */
export const readMetadata = (value: PyValue): DcpMetadata => {
  if (!isObject(value, `${METADATA_MODULE}.Metadata`)) throw bad(`the pickle holds ${describe(value)}, not a torch.distributed.checkpoint Metadata`)
  const where = locations(field(value, "storage_data"))
  const sdm = field(value, "state_dict_metadata")
  if (!(sdm instanceof Map)) throw bad(`state_dict_metadata is ${describe(sdm)}, not a dict`)
  const entries: Array<Entry> = []
  for (const [fqn, md] of sdm) {
    if (typeof fqn !== "string") throw bad(`a state_dict_metadata key is ${describe(fqn)}, not a str`)
    if (isObject(md, `${METADATA_MODULE}.BytesStorageMetadata`)) {
      const location = where.get(keyOf(fqn, undefined))
      if (location === undefined) throw new CheckpointError({ reason: "MissingRecord", offset: 0, record: fqn, detail: `the value ${JSON.stringify(fqn)} has no storage entry` })
      entries.push({ kind: "bytes", fqn, location })
    } else if (isObject(md, `${METADATA_MODULE}.TensorStorageMetadata`)) {
      const shape = dims(field(md, "size"), "size", fqn)
      entries.push({ kind: "tensor", fqn, dtype: dtypeOf(field(md, "properties"), fqn), shape, chunks: chunksOf(fqn, shape, field(md, "chunks"), where) })
    } else throw bad(`${JSON.stringify(fqn)} is ${describe(md)}, neither TensorStorageMetadata nor BytesStorageMetadata`, fqn)
  }
  const version = field(value, "version")
  return { entries, paths: pathsOf(field(value, "planner_data")), version: typeof version === "string" ? version : undefined }
}
