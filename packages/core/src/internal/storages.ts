/**
 * Storage persistent ids → lazy `Storage`s, shared by every container that
 * stores storages as named records (zip archives, the streaming format).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../Errors.js"
import { Storage } from "../Torch.js"
import type { PyValue } from "../Value.js"
import { decodeRecord, pidItems, StoragePid } from "./records.js"
import type { CallSite } from "./unpickler.js"

/** A record that holds a storage's bytes. @internal */
export interface StorageSource {
  /** Full record name, for errors. */
  readonly name: string
  readonly size: number
  /** File offset of the record, for errors. */
  readonly offset: number
  readonly read: Effect.Effect<Uint8Array, TorchwireError>
  readonly stream: Stream.Stream<Uint8Array, TorchwireError>
  /** The CRC-32 of the record's bytes, if the container recorded one. */
  readonly crc32?: number
}

/**
 * `read`, returning the bytes it last read for as long as something else
 * holds them: tensors over one storage (tied weights) read it once and share
 * it, as torch's do, and nothing is kept alive for them.
 *
 * @internal
 */
export const sharedWhileAlive = <E>(read: Effect.Effect<Uint8Array, E>): Effect.Effect<Uint8Array, E> => {
  // The buffer, not the Uint8Array: callers keep views of it (typed arrays), not this object.
  let last: { readonly buffer: WeakRef<ArrayBufferLike>; readonly offset: number; readonly length: number } | undefined
  return Effect.suspend(() => {
    const alive = last?.buffer.deref()
    return alive !== undefined
      ? Effect.succeed(new Uint8Array(alive, last!.offset, last!.length))
      : Effect.tap(read, (b) => Effect.sync(() => void (last = { buffer: new WeakRef(b.buffer), offset: b.byteOffset, length: b.byteLength })))
  })
}

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
    const read = sharedWhileAlive(Effect.map(record.read, (b) => (b.byteLength > nbytes ? b.subarray(0, nbytes) : b)))
    // The record's CRC describes the storage's bytes only when the record holds nothing else.
    const storage = new Storage(key, type.dtype, location, nbytes, record.name, read, options.byteOrder, record.stream, record.size === nbytes ? record.crc32 : undefined)
    storages.set(key, storage)
    return storage
  }
}
