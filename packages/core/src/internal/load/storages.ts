/**
 * Storage persistent ids → lazy `Storage`s, shared by every container that
 * stores storages as named records (zip archives, the streaming format).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { Storage } from "../torch/model.js"
import type { PyValue } from "../../Value.js"
import { BatchedData, type BatchReader } from "../container/recordStream.js"
import { decodeRecord, pidItems, StoragePid } from "../torch/records.js"
import type { CallSite } from "../pickle/unpickler.js"

/** A record that holds a storage's bytes. @internal */
export interface StorageSource {
  /** Full record name, for errors. */
  readonly name: string
  readonly size: number
  /** File offset of the record, for errors. */
  readonly offset: number
  /** Makes the read of the record's bytes (made only when a storage is read: a checkpoint may hold 100k storages). */
  readonly read: () => Effect.Effect<Uint8Array, TorchwireError>
  readonly stream: Stream.Stream<Uint8Array, TorchwireError>
  /** The CRC-32 of the record's bytes, if the container recorded one. */
  readonly crc32?: number
  /** A reader of many records at once (a zip archive's), and this record's key for it. */
  readonly batch?: { readonly reader: BatchReader; readonly key: unknown }
  /** Reads a range of the record's bytes, when its container can (a STORED zip entry). */
  readonly readRange?: (offset: number, length: number) => Effect.Effect<Uint8Array, TorchwireError>
}

/**
 * The read `read` makes, returning the bytes it last read for as long as
 * something else holds them: tensors over one storage (tied weights) read it
 * once and share it, as torch's do, and nothing is kept alive for them.
 * `remember` hands it bytes read some other way (in a batch with other
 * storages). Nothing but one effect is made until the storage is read.
 *
 * @internal
 */
export const sharedWhileAlive = <E>(read: () => Effect.Effect<Uint8Array, E>): {
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

/** Storages smaller than this are read whole (by writers, and in batches); larger ones are streamed. @internal */
export const SMALL_STORAGE = 1 << 20

/**
 * A loaded storage whose record can be read together with its neighbours'
 * (a small zip entry: one read per span of file, not one per storage).
 *
 * @internal
 */
export class BatchedStorage extends Storage {
  constructor(
    fields: ConstructorParameters<typeof Storage>,
    /** Reads the record with others. */
    readonly reader: BatchReader,
    /** The record's key for `reader`. */
    readonly readerKey: unknown,
    /** Hands the storage its bytes read in a batch: its reads return them while they are alive. */
    readonly remember: (bytes: Uint8Array) => void
  ) {
    super(...fields)
  }

  /** The storage's bytes as a writer's record data. */
  get data(): BatchedData {
    return new BatchedData(this.reader, this.readerKey, this.nbytes)
  }
}

/**
 * Reads the small storages among `storages` that can be read in batches, in
 * batches of up to 4 MiB (`concurrency` at once), and hands each storage its
 * bytes. The result holds the bytes read; the caller keeps it while it reads
 * the storages, which then read nothing more.
 *
 * @internal
 */
export const prefetchStorages = (
  storages: Iterable<Storage | undefined>,
  concurrency: number
): Effect.Effect<ReadonlyArray<ReadonlyArray<Uint8Array>>, TorchwireError> =>
  Effect.suspend(() => {
    const batches: Array<{ readonly reader: BatchReader; readonly members: Array<BatchedStorage>; bytes: number }> = []
    const open = new Map<BatchReader, (typeof batches)[number]>()
    const seen = new Set<Storage>()
    for (const storage of storages) {
      if (!(storage instanceof BatchedStorage) || seen.has(storage) || storage.nbytes >= SMALL_STORAGE) continue
      seen.add(storage)
      const { reader, nbytes } = storage
      let batch = open.get(reader)
      if (batch === undefined || batch.bytes >= PREFETCH_BATCH) {
        batch = { reader, members: [], bytes: 0 }
        open.set(reader, batch)
        batches.push(batch)
      }
      batch.members.push(storage)
      batch.bytes += nbytes
    }
    return Effect.forEach(batches, ({ members, reader }) =>
      Effect.map(reader.read(members.map((m) => m.readerKey)), (all) => {
        members.forEach((m, i) => m.remember(all[i]!.subarray(0, m.nbytes)))
        return all
      }), { concurrency })
  })

/** Bytes of storages `prefetchStorages` reads in one batch, about. */
const PREFETCH_BATCH = 4 << 20

/**
 * The read of a record's first `n` bytes, made by `read` when run. (A function of its own so that it holds
 * `read` and `n` only, not the record: a checkpoint may hold 100k storages.)
 */
const firstBytes = (read: StorageSource["read"], n: number) => (): Effect.Effect<Uint8Array, TorchwireError> =>
  Effect.map(read(), (b) => b.subarray(0, n))

/**
 * The `persistent_load` of torch.load: validates the id with Schema, finds
 * `data/<key>`, checks its size, and caches one `Storage` per key.
 *
 * @internal
 */
export const storagePersistentLoad = (
  lookup: (key: string) => StorageSource | undefined,
  options: {
    readonly pickleRecord: string
    readonly missingName: (key: string) => string
    readonly byteOrder: "little" | "big"
    /** Refuse records larger than the storage too (the streaming format sends exact sizes). */
    readonly exact?: boolean
  }
) => {
  const storages = new Map<string, Storage>()
  return (pid: PyValue, site: CallSite): PyValue => {
    const [, type, key, location, numel] = decodeRecord(StoragePid, pidItems(pid), {
      record: options.pickleRecord,
      offset: site.offset,
      reason: "BadPersistentId"
    })
    const cached = storages.get(key)
    if (cached !== undefined) return cached
    const record = lookup(key)
    if (record === undefined) {
      throw new CheckpointError({ reason: "MissingRecord", offset: site.offset, record: options.missingName(key), detail: `${options.pickleRecord} references storage ${JSON.stringify(key)}, which has no record` })
    }
    const nbytes = type.untyped ? numel : numel * type.dtype.itemSize
    if (record.size < nbytes || (options.exact && record.size !== nbytes)) {
      throw new CheckpointError({ reason: record.size < nbytes ? "StorageTooShort" : "BadRecord", offset: record.offset, record: record.name, detail: `storage ${JSON.stringify(key)} needs ${nbytes} bytes, the record holds ${record.size}` })
    }
    const { read, remember } = sharedWhileAlive(firstBytes(record.read, nbytes))
    // The record's CRC describes the storage's bytes only when the record holds nothing else.
    const fields: ConstructorParameters<typeof Storage> = [key, type.dtype, location, nbytes, record.name, read, options.byteOrder, record.stream, record.size === nbytes ? record.crc32 : undefined, undefined, record.readRange]
    const storage = record.batch === undefined ? new Storage(...fields) : new BatchedStorage(fields, record.batch.reader, record.batch.key, remember)
    storages.set(key, storage)
    return storage
  }
}
