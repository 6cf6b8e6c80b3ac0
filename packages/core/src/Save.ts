/**
 * Write checkpoints that `torch.load` accepts: data.pkl pickled as
 * `torch.save` pickles it, inside the zip layout PyTorch's own writer
 * produces (STORED records, data aligned to 64 bytes with the `FB` padding
 * extra, data descriptors, zip64 end records).
 *
 * The archive is a Stream of byte chunks: storages flow from their source
 * to the sink chunk by chunk (a loaded checkpoint re-saves without decoding
 * its tensors), and the archive is never whole in memory.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { attempt, CheckpointError, type TorchwireError } from "./Errors.js"
import { concatBytes } from "./internal/bytes.js"
import { Crc32 } from "./Checksum.js"
import { RecordBytes } from "./internal/container/recordBytes.js"
import { storageData } from "./internal/save/storageStream.js"
import { pickleCheckpoint, type StorageRecord } from "./internal/torch/pickle.js"
import { type ArchiveRecord, archiveStream } from "./internal/container/archiveWriter.js"
import type { PyValue } from "./Value.js"

/**
 * Options of `toStream` and `toBytes`.
 *
 * @since 0.1.0
 * @category options
 */
export interface SaveOptions {
  /** Pickle protocol of data.pkl (default 2, as torch.save; 1-5 accepted). */
  readonly protocol?: number
  /** The archive folder (default "archive", what torch.save uses for file objects; see `prefixFor`). */
  readonly prefix?: string
  /**
   * The record set. "latest" (default): torch ≥ 2.7's data.pkl, .format_version,
   * .storage_alignment, byteorder, data/0..N-1, version, .data/serialization_id.
   * "1.13": data.pkl, data/<keys in string order>, version, as torch 1.6-2.0 write it.
   */
  readonly layout?: "latest" | "1.13"
  /** Data alignment of every record (default 64). */
  readonly alignment?: number
  /** CRC-32 implementation (default: the `Checksum.Crc32` service's: core's table-driven one unless a layer replaces it). */
  readonly crc32?: (data: Uint8Array, crc: number) => number
  /**
   * Compute every record's CRC-32 (default true). False writes them as 0,
   * as torch ≥ 2.5 does with `torch.utils.serialization.config.save.compute_crc32 = False`:
   * torch's readers never check CRCs, so torch.load (1.13 included) loads
   * the file, but tools that do check (Python's zipfile, `unzip -t`,
   * `checkCrc: true`) reject its records. Saving skips the one pass over
   * the tensor bytes that bounds its speed.
   */
  readonly computeCrc32?: boolean
  /**
   * Chunks to read ahead of the consumer when a storage's bytes are in a
   * file (default 0), so that its reads overlap the consumer's writes. A
   * stream of storages all in memory is never read ahead: its pulls (their
   * CRC-32s) are then made while the consumer's last write is in flight,
   * where a read-ahead fiber's would hold up the write after it.
   */
  readonly readAhead?: number
}

/**
 * The archive folder torch.save uses for a path: the file name without its
 * last extension (`/x/model.pt` → `model`), or "archive" for a non-ASCII name.
 *
 * @since 0.1.0
 * @category utils
 */
export const prefixFor = (path: string): string => {
  const base = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1)
  const dot = base.lastIndexOf(".")
  const stem = dot < 0 ? base : base.slice(0, dot)
  // eslint-disable-next-line no-control-regex
  return stem !== "" && /^[\x00-\x7f]*$/.test(path) ? stem : "archive"
}


const utf8 = new TextEncoder()
const textRecord = (name: string, text: string): ArchiveRecord => {
  const bytes = utf8.encode(text)
  return { name, size: bytes.length, data: RecordBytes.Memory({ bytes }) }
}

const recordsFor = (pickle: Uint8Array, storages: ReadonlyArray<StorageRecord>, layout: "latest" | "1.13", alignment: number): Array<ArchiveRecord> => {
  const storageRecords = storages.map((r): ArchiveRecord => ({
    name: `data/${r.key}`,
    size: r.storage.nbytes,
    // A storage copied verbatim keeps the CRC its file recorded (a swapped one is new bytes): see archiveStream.
    data: storageData(r)
  }))
  const pkl: ArchiveRecord = { name: "data.pkl", size: pickle.length, data: RecordBytes.Memory({ bytes: pickle }) }
  // The archive writer closes both layouts with version (and "latest" with .data/serialization_id).
  if (layout === "1.13") return [pkl, ...storageRecords.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))]
  return [
    pkl,
    textRecord(".format_version", "1"),
    textRecord(".storage_alignment", String(alignment)),
    textRecord("byteorder", "little"),
    ...storageRecords
  ]
}

/**
 * Saves a value as a torch.save zip archive, as a stream of byte chunks.
 * Tensors are read from their sources as the stream is consumed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toStream = (value: PyValue, options: SaveOptions = {}): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.unwrap(Effect.gen(function*() {
    const alignment = options.alignment ?? 64
    if (!Number.isInteger(alignment) || alignment < 1 || alignment >= 65536) {
      return yield* new CheckpointError({ reason: "BadRecord", offset: 0, detail: `alignment ${alignment} must be in [1, 65535]` })
    }
    const layout = options.layout ?? "latest"
    const prefix = options.prefix ?? "archive"
    const crc32 = options.crc32 ?? (yield* Crc32).update
    const { pickle, storages } = yield* attempt(() => pickleCheckpoint(value, options.protocol ?? 2))
    const archive = archiveStream(prefix, recordsFor(pickle, storages, layout, alignment), { alignment, crc32, computeCrc32: options.computeCrc32, trailer: layout === "latest" ? "version and id" : "version" })
    const readAhead = options.readAhead ?? 0
    return readAhead > 0 && storages.some((r) => r.storage.bytes._tag !== "Memory") ? Stream.bufferChunks(archive, { capacity: readAhead }) : archive
  }))

/**
 * Saves a value as a torch.save zip archive in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toBytes = (value: PyValue, options: SaveOptions = {}): Effect.Effect<Uint8Array, TorchwireError> =>
  Effect.map(Stream.runCollect(toStream(value, options)), (chunks) => concatBytes(Chunk.toReadonlyArray(chunks)))
