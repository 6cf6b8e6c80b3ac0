/**
 * `Checkpoint.open` for files in the streaming format: the header is
 * parsed, record offsets follow from the entries' lengths, and storages are
 * read lazily from the file like any other checkpoint's.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readAll, RecordBytes, sizeOf } from "../container/recordBytes.js"
import type { ByteSource } from "../../ByteSource.js"
import { attempt, CheckpointError, type TorchwireError } from "../../Errors.js"
import { readGrowing } from "../readWindow.js"
import { DEFAULT_MAX_PICKLE_BYTES, type OpenOptions, pickleOptions, policyOf } from "./loadContext.js"
import { runUnpickle } from "./pickleAt.js"
import { ByteOrder, decodeRecord, text } from "../torch/records.js"
import type { PyValue } from "../../Value.js"
import { type StorageSource, storagePersistentLoad } from "./storages.js"
import { defaultLimits, parseHeader, type StreamEntry } from "../streaming/streamingFormat.js"

/** The stream header (the pickled list of `_Entry`s) from the start of the file, read through a growing window. */
const readHeader = (source: ByteSource): Effect.Effect<{ readonly entries: ReadonlyArray<StreamEntry>; readonly end: number }, TorchwireError> =>
  readGrowing(source, 0, defaultLimits.maxHeaderBytes, (bytes, isLast) =>
    attempt(() => parseHeader(bytes, defaultLimits)).pipe(
      Effect.map(Option.some),
      Effect.catchIf((e) => !isLast && e._tag === "PickleError" && e.reason === "Truncated", () => Effect.succeed(Option.none()))
    ))

/**
 * Opens a `.stream` file.
 *
 * @internal
 */
export const loadStreamCheckpoint = (source: ByteSource, options: OpenOptions): Effect.Effect<{ readonly value: PyValue; readonly records: ReadonlyArray<string> }, TorchwireError> =>
  Effect.gen(function*() {
    const { entries, end } = yield* readHeader(source)
    const records = new Map<string, StorageSource>()
    let at = end
    for (const entry of entries) {
      if (at + entry.length > source.size) {
        return yield* new CheckpointError({ reason: "Truncated", offset: at, record: entry.key, detail: `record of ${entry.length} bytes runs past the end of the file` })
      }
      const offset = at
      records.set(entry.key, { name: entry.key, offset, bytes: RecordBytes.SourceRange({ source, offset, size: entry.length }) })
      at += entry.length
    }
    if (at < source.size) return yield* new CheckpointError({ reason: "TrailingBytes", offset: at, record: "stream", detail: `${source.size - at} bytes follow the last record` })
    return yield* loadFrom((key) => records.get(key), entries.map((e) => e.key), options)
  })

/**
 * Loads a value from a stream's records: `get` returns a record by key,
 * readable in memory or lazily (`Checkpoint.open` on `.stream` files).
 *
 * @internal
 */
export const loadFrom = (
  get: (key: string) => StorageSource | undefined,
  keys: ReadonlyArray<string>,
  options: OpenOptions
): Effect.Effect<{ readonly value: PyValue; readonly records: ReadonlyArray<string> }, TorchwireError> =>
  Effect.gen(function*() {
    const pklRecord = get("data.pkl")
    if (pklRecord === undefined) return yield* new CheckpointError({ reason: "MissingRecord", offset: 0, record: "data.pkl", detail: "the stream has no data.pkl record" })
    if (sizeOf(pklRecord.bytes) > (options.maxPickleBytes ?? DEFAULT_MAX_PICKLE_BYTES)) {
      return yield* new CheckpointError({ reason: "LimitExceeded", offset: pklRecord.offset, record: "data.pkl", detail: `data.pkl of ${sizeOf(pklRecord.bytes)} bytes is over the limit` })
    }
    const orderRecord = get("byteorder")
    const byteOrder = orderRecord === undefined ? "little" as const : yield* Effect.flatMap(readAll(orderRecord.bytes), (b) =>
      attempt(() => decodeRecord(ByteOrder, text(b), { record: "byteorder", offset: orderRecord.offset }), CheckpointError))
    const persistentLoad = storagePersistentLoad((key) => get(`data/${key}`), {
      pickleRecord: "data.pkl",
      missingName: (key) => `data/${key}`,
      byteOrder,
      exact: true
    })
    const { value } = yield* runUnpickle(yield* readAll(pklRecord.bytes), 0, pickleOptions(policyOf(options), "data.pkl", persistentLoad))
    return { value, records: keys }
  })
