/**
 * Storage persistent ids → lazy `Storage`s, shared by every container that
 * stores storages as named records (zip archives, the streaming format), and
 * the batched reading of small storages.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import type { PyValue } from "../../Value.js"
import type { ZipArchive } from "../container/zipArchive.js"
import type { CentralEntry as ZipEntry } from "../container/zipFormat.js"
import { RecordBytes, sizeOf, SMALL_RECORD, take } from "../container/recordBytes.js"
import type { CallSite } from "../pickle/hooks.js"
import { Storage } from "../torch/model.js"
import { decodeRecord, pidItems, StoragePid } from "../torch/records.js"

/** A record that holds a storage's bytes. @internal */
export interface StorageSource {
  /** Full record name, for errors. */
  readonly name: string
  /** File offset of the record, for errors. */
  readonly offset: number
  readonly bytes: RecordBytes
}

/** The record of a storage of no elements that has none (TorchScript reads no record for it). */
const NO_ELEMENTS: StorageSource = { name: "(no record)", offset: 0, bytes: RecordBytes.Memory({ bytes: new Uint8Array(0) }) }

/** Bytes of storages `prefetchStorages` reads in one batch, about. */
const PREFETCH_BATCH = 4 << 20

/**
 * Reads the small storages among `storages` that lie in zip entries, in
 * batches of up to 4 MiB per archive (`concurrency` at once: one
 * `ZipArchive.readMany` each, one read per span of file), and hands each
 * storage its bytes. The result holds the bytes read; the caller keeps it
 * while it reads the storages, which then read nothing more.
 *
 * @internal
 */
export const prefetchStorages = (
  storages: Iterable<Storage | undefined>,
  concurrency: number
): Effect.Effect<ReadonlyArray<ReadonlyArray<Uint8Array>>, TorchwireError> =>
  Effect.suspend(() => {
    type Member = { readonly storage: Storage; readonly entry: ZipEntry }
    const batches: Array<{ readonly archive: ZipArchive; readonly members: Array<Member>; bytes: number }> = []
    const open = new Map<ZipArchive, (typeof batches)[number]>()
    const seen = new Set<Storage>()
    for (const storage of storages) {
      if (storage === undefined || storage.bytes._tag !== "ZipEntry" || storage.nbytes >= SMALL_RECORD || seen.has(storage)) continue
      seen.add(storage)
      const { archive, entry } = storage.bytes
      let batch = open.get(archive)
      if (batch === undefined || batch.bytes >= PREFETCH_BATCH) {
        batch = { archive, members: [], bytes: 0 }
        open.set(archive, batch)
        batches.push(batch)
      }
      batch.members.push({ storage, entry })
      batch.bytes += storage.nbytes
    }
    return Effect.forEach(batches, ({ archive, members }) =>
      Effect.map(archive.readMany(members.map((m) => m.entry)), (all) => {
        members.forEach((m, i) => m.storage.remember(all[i]!.subarray(0, m.storage.nbytes)))
        return all
      }), { concurrency })
  })

/**
 * The `persistent_load` of torch.load: validates the id with Schema, finds
 * `data/<key>`, checks its size, and caches one `Storage` per key (over the
 * record's first bytes, as many as the id declares).
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
    /**
     * Read ids as TorchScript's C++ unpickler does: items after the fifth
     * ignored (archives of about torch 1.3 add a sixth, `None`), and a
     * storage of no elements needs no record.
     */
    readonly script?: boolean
  }
) => {
  const storages = new Map<string, Storage>()
  return (pid: PyValue, site: CallSite): PyValue => {
    const items = pidItems(pid)
    const [, type, key, location, numel] = decodeRecord(StoragePid, options.script === true && Array.isArray(items) ? items.slice(0, 5) : items, {
      record: options.pickleRecord,
      offset: site.offset,
      reason: "BadPersistentId"
    })
    const cached = storages.get(key)
    if (cached !== undefined) return cached
    const record = options.script === true && numel === 0 ? lookup(key) ?? NO_ELEMENTS : lookup(key)
    if (record === undefined) {
      throw new CheckpointError({ reason: "MissingRecord", offset: site.offset, record: options.missingName(key), detail: `${options.pickleRecord} references storage ${JSON.stringify(key)}, which has no record` })
    }
    const nbytes = type.untyped ? numel : numel * type.dtype.itemSize
    const size = sizeOf(record.bytes)
    if (size < nbytes || (options.exact && size !== nbytes)) {
      throw new CheckpointError({ reason: size < nbytes ? "StorageTooShort" : "BadRecord", offset: record.offset, record: record.name, detail: `storage ${JSON.stringify(key)} needs ${nbytes} bytes, the record holds ${size}` })
    }
    const storage = new Storage({ key, dtype: type.dtype, location, record: record.name, bytes: take(record.bytes, nbytes), byteOrder: options.byteOrder })
    storages.set(key, storage)
    return storage
  }
}
