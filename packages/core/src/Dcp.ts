/**
 * Distributed checkpoints (`torch.distributed.checkpoint`, DCP: FSDP,
 * DTensor, TorchTitan): a folder with a `.metadata` pickle and
 * `__{rank}_{n}.distcp` files, each holding many items (a `torch.save`
 * archive each) back to back.
 *
 * Reading is `Checkpoint.open` on a `Directory`: the state torch's
 * `dcp_to_torch_save` would save, each tensor assembled from its chunks in
 * every rank's file when read, no process group needed. `parseMetadata`
 * reads a `.metadata` alone. `save` writes a state as one process does
 * (`dcp.save(..., no_dist=True)`, what `torch_save_to_dcp` does): a
 * `__0_0.distcp` file and a `.metadata` that `dcp.load` reads.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "./Errors.js"
import { DCP_GLOBALS, type DcpMetadata, type Entry, type ItemLocation, itemLocations } from "./internal/format/dcpMetadata.js"
import { METADATA_FILE as METADATA, parseMetadata as parse } from "./internal/load/dcpCheckpoint.js"
import { type FlatItem, flattenState, metadataPickle } from "./internal/save/dcpWriter.js"
import { Storage, Tensor } from "./internal/torch/model.js"
import { contiguousStrides, isContiguous } from "./internal/torch/shape.js"
import { bytes as tensorBytes } from "./internal/torch/tensorBytes.js"
import { RecordBytes } from "./internal/container/recordBytes.js"
import * as ByteSource from "./ByteSource.js"
import type { Directory } from "./Directory.js"
import * as Save from "./Save.js"
import * as Scan from "./Scan.js"
import type { PyValue } from "./Value.js"

/**
 * The globals a `.metadata` may name beyond torch's weights-only allowlist
 * (DCP's dataclasses, `_StorageInfo`, `pathlib` paths): all it is read
 * with. Nothing is ever called.
 *
 * @since 0.3.0
 * @category constants
 */
export const GLOBALS: ReadonlySet<string> = DCP_GLOBALS

/**
 * The metadata file's name: `.metadata`.
 *
 * @since 0.3.0
 * @category constants
 */
export const METADATA_FILE: string = METADATA

/**
 * The data file one process writes: `__0_0.distcp`.
 *
 * @since 0.3.0
 * @category constants
 */
export const DATA_FILE = "__0_0.distcp"

/**
 * A checked `.metadata`: each entry (a tensor's global shape, dtype and
 * chunks with where their bytes lie, or a value saved as bytes), each
 * entry's path in the nested state, and DCP's version.
 *
 * @since 0.3.0
 * @category models
 */
export type Metadata = DcpMetadata

/**
 * One entry of the metadata.
 *
 * @since 0.3.0
 * @category models
 */
export type MetadataEntry = Entry

/**
 * Reads a `.metadata` file's bytes: unpickled against `GLOBALS` only, then
 * checked (every chunk inside its tensor, none overlapping, all covering
 * it; every item in a file of the folder). Fails with `PickleError` for a
 * global outside the list, `CheckpointError` naming the entry otherwise.
 *
 * @since 0.3.0
 * @category constructors
 */
export const parseMetadata = (bytes: Uint8Array): Effect.Effect<Metadata, TorchwireError> => parse(bytes)

/**
 * Options of `save`.
 *
 * @since 0.3.0
 * @category options
 */
export interface SaveOptions {
  /** `StorageMeta.checkpoint_id` (torch records the folder's path; default None). */
  readonly checkpointId?: string
  /** `StorageMeta.save_id` (default: a random UUID, as torch's). */
  readonly saveId?: string
}

/**
 * What `save` makes: the data file's name and bytes, and the `.metadata`
 * that names the items in them, made once `data` has been consumed to its
 * end (before, it fails: the items' lengths are known only once written).
 *
 * @since 0.3.0
 * @category models
 */
export interface Files {
  readonly dataFile: string
  readonly data: Stream.Stream<Uint8Array, TorchwireError>
  readonly metadata: Effect.Effect<Uint8Array, CheckpointError>
  /** The items written, in order. */
  readonly items: ReadonlyArray<{ readonly fqn: string; readonly tensor: boolean }>
}

/** A random UUID (version 4), as torch's `save_id`. */
const uuid = (): string => {
  const b = new Uint8Array(16)
  const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto
  if (crypto?.getRandomValues !== undefined) crypto.getRandomValues(b)
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256)
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * The tensor DCP writes for `t`: itself when it is its storage, contiguous,
 * else a contiguous copy with a storage of its own (DCP clones views whose
 * storage is larger than they are); never requiring grad (DCP detaches).
 */
const ownTensor = (t: Tensor, fqn: string): Tensor => {
  const storage = t.storage
  // Packed dtypes (quint4x2) hold several elements a byte.
  const size = Math.ceil(t.numel / t.dtype.perByte) * t.dtype.itemSize
  const own = storage !== undefined && t.storageOffset === 0 && isContiguous(t.shape, t.stride) && storage.nbytes === size && storage.byteOrder === "little"
  const data = own ? storage : new Storage({ key: fqn, dtype: t.dtype, record: fqn, bytes: RecordBytes.Computed({ read: tensorBytes(t), size }) })
  return new Tensor(t.dtype, t.shape, own ? t.stride : contiguousStrides(t.shape), 0, data, false, t.quantization, t.metadata)
}

/** An item's `torch.save` archive (the folder name "archive", as torch.save to a stream writes). */
const itemStream = (item: FlatItem): Stream.Stream<Uint8Array, TorchwireError> =>
  Save.toStream(item.value instanceof Tensor ? ownTensor(item.value, item.fqn) : item.value, { prefix: "archive" })

/**
 * Writes a state (a dict, nested as it likes) as one process's distributed
 * checkpoint: leaves found as DCP's `flatten_state_dict` finds them, each
 * tensor and each other value an item of `__0_0.distcp` in order, then the
 * `.metadata`. Tensors are read from their sources as `data` is consumed.
 *
 * @since 0.3.0
 * @category constructors
 */
export const save = (state: PyValue, options: SaveOptions = {}): Effect.Effect<Files, CheckpointError> =>
  Effect.try({
    try: () => {
      const items = flattenState(state)
      const meta = items.find((i) => i.value instanceof Tensor && i.value.storage === undefined)
      if (meta !== undefined) throw new CheckpointError({ reason: "BadTensor", offset: 0, record: meta.fqn, detail: `${JSON.stringify(meta.fqn)} is a meta tensor: it has no data to write (torch's dcp.save refuses it too)` })
      const packed = items.find((i) => i.value instanceof Tensor && i.value.dtype.perByte > 1)
      if (packed !== undefined) {
        const dtype = (packed.value as Tensor).dtype.name
        throw new CheckpointError({ reason: "BadTensor", offset: 0, record: packed.fqn, detail: `${JSON.stringify(packed.fqn)} is a ${dtype} tensor, which torch's dcp.save and dcp.load cannot copy ("copy_kernel" not implemented for ${dtype})` })
      }
      return items
    },
    catch: (e) => (e instanceof CheckpointError ? e : new CheckpointError({ reason: "BadRecord", offset: 0, detail: String(e) }))
  }).pipe(Effect.map((items): Files => {
    const locations: Array<ItemLocation> = []
    let written = 0
    const data = Stream.flatMap(Stream.fromIterable(items), (item) =>
      Stream.suspend(() => {
        const start = written
        return Stream.concat(
          Stream.tap(itemStream(item), (chunk) => Effect.sync(() => void (written += chunk.length))),
          Stream.execute(Effect.sync(() => void locations.push({ file: DATA_FILE, offset: start, length: written - start })))
        )
      }))
    const saveId = options.saveId ?? uuid()
    const metadata = Effect.suspend(() =>
      locations.length === items.length
        ? Effect.succeed(metadataPickle(items, locations, { saveId, ...(options.checkpointId === undefined ? {} : { checkpointId: options.checkpointId }) }))
        : Effect.fail(new CheckpointError({ reason: "BadRecord", offset: written, record: METADATA_FILE, detail: `the metadata is made once the data is written: ${locations.length} of ${items.length} items are` })))
    return { dataFile: DATA_FILE, data, metadata, items: items.map((i) => ({ fqn: i.fqn, tensor: i.value instanceof Tensor })) }
  }))

/**
 * One file of a scanned folder and its report.
 *
 * @since 0.3.0
 * @category models
 */
export interface ScannedFile {
  readonly file: string
  readonly report: Scan.Report
}

/** A report of many items' reports (their findings' records prefixed with the item's offset: `@1577/archive/data.pkl`). */
const mergeReports = (format: Scan.Report["format"], parts: ReadonlyArray<readonly [number, Scan.Report]>, unreadable: ReadonlyArray<string>): Scan.Report => {
  const globals = parts.flatMap(([at, r]) => r.globals.map((g) => ({ ...g, record: `@${at}/${g.record}` })))
  const merged = {
    globals,
    repeats: parts.reduce((n, [, r]) => n + r.repeats, 0),
    unlisted: parts.reduce((n, [, r]) => n + r.unlisted, 0),
    unreadable: [...parts.flatMap(([at, r]) => r.unreadable.map((u) => `@${at}: ${u}`)), ...unreadable],
    problems: parts.flatMap(([at, r]) => r.problems.map((p) => ({ ...p, record: `@${at}/${p.record}` })))
  }
  return { ...merged, verdict: Scan.verdictOf(merged), format }
}

/**
 * Scans a distributed checkpoint's folder without loading anything: the
 * `.metadata` pickle (DCP's own dataclasses, `GLOBALS`, count as allowed
 * there), then every item of every data file the metadata names, each a
 * `torch.save` archive scanned as `Scan.scan` scans a file. One report per
 * file, `.metadata` first. When the metadata cannot be read its report
 * says so, and the data files, which only it divides into items, are not
 * scanned.
 *
 * @since 0.3.0
 * @category constructors
 */
export const scan = (dir: Directory): Effect.Effect<Array<ScannedFile>, TorchwireError> =>
  Effect.gen(function*() {
    const source = yield* dir.file(METADATA_FILE)
    const raw = yield* Scan.scan(source)
    const globals = raw.globals.map((g) => (GLOBALS.has(`${g.module}.${g.name}`) ? { ...g, class: "allowed" as const } : g))
    const parsed = yield* Effect.either(Effect.flatMap(source.read(0, source.size), parse))
    const unreadable = parsed._tag === "Left" ? [...raw.unreadable, `the items were not scanned: ${parsed.left.message}`] : raw.unreadable
    const metadata = { ...raw, globals, unreadable, verdict: Scan.verdictOf({ ...raw, globals, unreadable }) }
    const out: Array<ScannedFile> = [{ file: METADATA_FILE, report: metadata }]
    if (parsed._tag === "Left") return out
    const byFile = new Map<string, Array<ItemLocation>>()
    for (const at of parsed.right.entries.flatMap(itemLocations)) byFile.set(at.file, [...(byFile.get(at.file) ?? []), at])
    for (const [file, items] of [...byFile].sort(([a], [b]) => a.localeCompare(b))) {
      const opened = yield* Effect.either(dir.file(file))
      if (opened._tag === "Left") {
        out.push({ file, report: mergeReports("zip", [], [opened.left.message]) })
        continue
      }
      const parts: Array<readonly [number, Scan.Report]> = []
      const failures: Array<string> = []
      for (const at of items.sort((a, b) => a.offset - b.offset)) {
        const report = yield* Effect.either(Effect.flatMap(ByteSource.slice(opened.right, at.offset, at.length, `${file}@${at.offset}`), Scan.scan))
        if (report._tag === "Right") parts.push([at.offset, report.right])
        else failures.push(`@${at.offset}: ${report.left.message}`)
      }
      out.push({ file, report: mergeReports("zip", parts, failures) })
    }
    return out
  })
