/**
 * A distributed checkpoint's folder as one lazy checkpoint: the value
 * torch's `dcp_to_torch_save` saves (the state rebuilt from `planner_data`),
 * each tensor a storage that, when read, assembles its chunks from the
 * items of every rank's file, reading only their byte ranges. Opening reads
 * `.metadata` and the values saved as bytes (a `torch.save` each, loaded
 * with the caller's policy); no tensor is read.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ByteSource from "../../ByteSource.js"
import type { Directory } from "../../Directory.js"
import { CheckpointError, type SourceError, type TorchwireError } from "../../Errors.js"
import type { PyValue } from "../../Value.js"
import { RecordBytes, streamOf } from "../container/recordBytes.js"
import { type Chunk, DCP_GLOBALS, type DcpMetadata, type Entry, itemLocations, readMetadata } from "../format/dcpMetadata.js"
import { pickleOptions, policyOf } from "./loadContext.js"
import { Storage, Tensor } from "../torch/model.js"
import { contiguousStrides, isContiguous, numel } from "../torch/shape.js"
import { bytes as tensorBytes, MAX_MATERIALIZED_BYTES } from "../torch/tensorBytes.js"
import { runUnpickle } from "./pickleAt.js"

/** The metadata file's name in the folder. @internal */
export const METADATA_FILE = ".metadata"

/** Opens one item (a `torch.save` archive) as a value, with the caller's policy: `Checkpoint.open` passed in. @internal */
export type OpenItem = (source: ByteSource.ByteSource) => Effect.Effect<PyValue, TorchwireError>

/** What `loadDcp` gives: the rebuilt state, the checked metadata and the folder's files it uses. @internal */
export interface LoadedDcp {
  readonly value: Map<PyValue, PyValue>
  readonly metadata: DcpMetadata
  readonly files: ReadonlyMap<string, ByteSource.ByteSource>
  /** The `.metadata` file. */
  readonly source: ByteSource.ByteSource
}

/**
 * Unpickles and checks a `.metadata` (its bytes): DCP's dataclasses and
 * torch's weights-only values only (`DCP_GLOBALS`); anything else is a
 * `PickleError(ForbiddenGlobal)`.
 *
 * @internal
 */
export const parseMetadata = (bytes: Uint8Array, maxValueBytes?: number): Effect.Effect<DcpMetadata, TorchwireError> =>
  Effect.flatMap(
    runUnpickle(bytes, 0, pickleOptions(policyOf({ allowGlobals: DCP_GLOBALS, ...(maxValueBytes === undefined ? {} : { maxValueBytes }) }), METADATA_FILE)),
    ({ value }) => Effect.try({ try: () => readMetadata(value), catch: (e) => (e instanceof CheckpointError ? e : new CheckpointError({ reason: "BadRecord", offset: 0, record: METADATA_FILE, detail: String(e) })) })
  )

/** Every file the items name, opened, with each item's range checked against its file's size. */
const openFiles = (dir: Directory, metadata: DcpMetadata): Effect.Effect<Map<string, ByteSource.ByteSource>, CheckpointError> =>
  Effect.gen(function*() {
    const items = metadata.entries.flatMap((e) => itemLocations(e).map((at) => [e.fqn, at] as const))
    const files = new Map<string, ByteSource.ByteSource>()
    for (const [fqn, at] of items) {
      let source = files.get(at.file)
      if (source === undefined) {
        source = yield* Effect.mapError(dir.file(at.file), (e: SourceError) =>
          new CheckpointError({ reason: "MissingRecord", offset: 0, record: at.file, detail: `${JSON.stringify(fqn)} is stored in ${at.file}, which cannot be opened: ${e.detail}` }))
        files.set(at.file, source)
      }
      if (at.offset + at.length > source.size) {
        return yield* new CheckpointError({
          reason: "Truncated",
          offset: at.offset,
          record: at.file,
          detail: `${JSON.stringify(fqn)} is stored at bytes ${at.offset}-${at.offset + at.length} of ${at.file}, which holds ${source.size}`
        })
      }
    }
    return files
  })

/**
 * Copies a chunk's elements (row-major, `itemSize` bytes each) into their
 * place in the whole tensor's row-major bytes: one run per row of the
 * chunk, the longest run its trailing dimensions allow.
 *
 * @internal
 */
export const copyChunk = (out: Uint8Array, shape: ReadonlyArray<number>, itemSize: number, chunk: Pick<Chunk, "offsets" | "sizes">, src: Uint8Array): void => {
  const rank = shape.length
  // Merge trailing dimensions the chunk spans whole into one contiguous run.
  let inner = rank
  let run = itemSize
  while (inner > 0 && chunk.sizes[inner - 1] === shape[inner - 1]) run *= shape[--inner]!
  if (inner > 0) run *= chunk.sizes[--inner]!
  const strides = contiguousStrides(shape)
  const index = new Array<number>(inner).fill(0)
  const rows = numel(chunk.sizes.slice(0, inner))
  for (let row = 0, from = 0; row < rows; row++, from += run) {
    let at = 0
    for (let d = 0; d < rank; d++) at += ((d < inner ? index[d]! : 0) + chunk.offsets[d]!) * strides[d]!
    out.set(src.subarray(from, from + run), at * itemSize)
    for (let d = inner - 1; d >= 0 && ++index[d]! === chunk.sizes[d]; d--) index[d] = 0
  }
}

/** Opens one chunk's item: a `torch.save` of a tensor of the entry's dtype and the chunk's sizes. */
const chunkTensor = (entry: Entry & { readonly kind: "tensor" }, chunk: Chunk, files: ReadonlyMap<string, ByteSource.ByteSource>, openItem: OpenItem) =>
  Effect.gen(function*() {
    const at = chunk.location!
    const item = yield* ByteSource.slice(files.get(at.file)!, at.offset, at.length, `${at.file}@${at.offset}`)
    const value = yield* openItem(item)
    if (!(value instanceof Tensor) || value.dtype !== entry.dtype || value.shape.join(",") !== chunk.sizes.join(",")) {
      return yield* new CheckpointError({
        reason: "BadRecord",
        offset: at.offset,
        record: at.file,
        detail: `the item of ${JSON.stringify(entry.fqn)} at offsets [${chunk.offsets}] should be a ${entry.dtype.name} tensor of shape [${chunk.sizes}], not ${
          value instanceof Tensor ? `a ${value.dtype.name} tensor of shape [${value.shape}]` : "a value that is no tensor"
        }`
      })
    }
    return value
  })

/** One chunk's elements' bytes. */
const chunkBytes = (entry: Entry & { readonly kind: "tensor" }, chunk: Chunk, files: ReadonlyMap<string, ByteSource.ByteSource>, openItem: OpenItem) =>
  Effect.flatMap(chunkTensor(entry, chunk, files, openItem), tensorBytes)

/**
 * The non-empty chunks in row-major order when they follow one another in
 * it (each spans every dimension but the first whole: FSDP's and
 * `Shard(0)`'s layout), so the tensor's bytes are theirs one after another;
 * undefined otherwise.
 */
const rowOrder = (entry: Entry & { readonly kind: "tensor" }): Array<Chunk> | undefined => {
  const full = entry.chunks.filter((c) => numel(c.sizes) > 0).sort((a, b) => (a.offsets[0] ?? 0) - (b.offsets[0] ?? 0))
  const spans = full.every((c) => c.sizes.every((n, d) => d === 0 || n === entry.shape[d]))
  return spans ? full : undefined
}

/**
 * A chunk's bytes as a stream: its item's storage streamed as it lies in
 * the file when the item's tensor is the whole of its storage, contiguous
 * and little-endian (what DCP writes), else its elements read whole.
 */
const chunkStream = (t: Tensor): Stream.Stream<Uint8Array, TorchwireError> => {
  const s = t.storage
  const whole = s !== undefined && t.storageOffset === 0 && s.byteOrder === "little" && s.nbytes === t.nbytes && isContiguous(t.shape, t.stride)
  return whole ? streamOf(s.bytes) : Stream.fromEffect(tensorBytes(t))
}

/** Items opened at once: each open is a few small reads (the archive's directory, data.pkl), so they overlap. */
const OPEN_CONCURRENCY = 8

/** A tensor entry's storage: its chunks streamed one after another when they lie in row order, else assembled when read. */
const tensorOf = (entry: Entry & { readonly kind: "tensor" }, files: ReadonlyMap<string, ByteSource.ByteSource>, openItem: OpenItem): Tensor => {
  const size = numel(entry.shape) * entry.dtype.itemSize
  const rows = rowOrder(entry)
  if (rows !== undefined) {
    const stream = Stream.unwrap(Effect.map(
      Effect.forEach(rows, (chunk) => chunkTensor(entry, chunk, files, openItem), { concurrency: OPEN_CONCURRENCY }),
      (tensors) => Stream.flatMap(Stream.fromIterable(tensors), chunkStream)
    ))
    const storage = new Storage({ key: entry.fqn, dtype: entry.dtype, record: entry.fqn, bytes: RecordBytes.Streamed({ stream, size }) })
    return new Tensor(entry.dtype, entry.shape, contiguousStrides(entry.shape), 0, storage, false)
  }
  const read = Effect.gen(function*() {
    if (size > MAX_MATERIALIZED_BYTES) {
      return yield* new CheckpointError({ reason: "BadTensor", offset: 0, record: entry.fqn, detail: `assembling ${size} bytes is over the ${MAX_MATERIALIZED_BYTES}-byte limit of one typed array` })
    }
    // Chunks of no elements have nothing to place (a single chunk covering the tensor streams, above).
    const out = new Uint8Array(size)
    for (const chunk of entry.chunks.filter((c) => numel(c.sizes) > 0)) copyChunk(out, entry.shape, entry.dtype.itemSize, chunk, yield* chunkBytes(entry, chunk, files, openItem))
    return out
  })
  const storage = new Storage({ key: entry.fqn, dtype: entry.dtype, record: entry.fqn, bytes: RecordBytes.Computed({ read, size }) })
  return new Tensor(entry.dtype, entry.shape, contiguousStrides(entry.shape), 0, storage, false)
}

/**
 * Puts `value` at `path` in the nested state as DCP's `set_element` does:
 * a string step goes into a dict, an index into a list (extended with
 * `None`s), each missing container made on the way.
 *
 * @internal
 */
export const setElement = (root: Map<PyValue, PyValue>, path: ReadonlyArray<string | number>, value: PyValue): void => {
  let container: Map<PyValue, PyValue> | Array<PyValue> = root
  const step = (key: string | number, next: () => Map<PyValue, PyValue> | Array<PyValue>): Map<PyValue, PyValue> | Array<PyValue> => {
    if (container instanceof Map) {
      const have = container.get(key)
      if (have instanceof Map || Array.isArray(have)) return have
      const made = next()
      container.set(key, made)
      return made
    }
    const i = Number(key)
    while (container.length <= i) container.push(null)
    const have = container[i]
    if (have instanceof Map || Array.isArray(have)) return have
    const made = next()
    container[i] = made
    return made
  }
  for (let i = 1; i < path.length; i++) container = step(path[i - 1]!, () => (typeof path[i] === "string" ? new Map() : []))
  const last = path.at(-1)!
  if (container instanceof Map) container.set(last, value)
  else {
    const i = Number(last)
    while (container.length <= i) container.push(null)
    container[i] = value
  }
}

/**
 * Opens a DCP folder: `.metadata` (at most `maxPickleBytes`), every file its
 * items name (a missing one is `MissingRecord`, an item past its file's
 * end `Truncated`), the values saved as bytes (`openItem`), and the lazy
 * tensors, nested as `planner_data` says.
 *
 * @internal
 */
export const loadDcp = (dir: Directory, openItem: OpenItem, limits: { readonly maxPickleBytes: number; readonly maxValueBytes?: number }): Effect.Effect<LoadedDcp, TorchwireError> =>
  Effect.gen(function*() {
    const source = yield* Effect.mapError(dir.file(METADATA_FILE), (e) =>
      new CheckpointError({ reason: "UnknownFormat", offset: 0, record: METADATA_FILE, detail: `${dir.name} is not a distributed checkpoint: ${e.detail}` }))
    if (source.size > limits.maxPickleBytes) {
      return yield* new CheckpointError({ reason: "LimitExceeded", offset: 0, record: METADATA_FILE, detail: `${source.size} bytes is over the ${limits.maxPickleBytes}-byte pickle limit` })
    }
    const metadata = yield* parseMetadata(yield* source.read(0, source.size), limits.maxValueBytes)
    const files = yield* openFiles(dir, metadata)
    const value = new Map<PyValue, PyValue>()
    for (const entry of metadata.entries) {
      const item = entry.kind === "tensor"
        ? tensorOf(entry, files, openItem)
        : yield* Effect.flatMap(ByteSource.slice(files.get(entry.location.file)!, entry.location.offset, entry.location.length, `${entry.location.file}@${entry.location.offset}`), openItem)
      setElement(value, metadata.paths.get(entry.fqn) ?? [entry.fqn], item)
    }
    return { value, metadata, files, source }
  })
