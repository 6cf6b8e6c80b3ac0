/**
 * The `_streaming_save` / `_streaming_load` format of
 * `torch.distributed._serialization`, which lets processes exchange
 * checkpoints over non-seekable transports (sockets, pipes): a pickled list
 * of `_Entry(key, is_storage, length)`, then every record's bytes back to
 * back (format-facts §12).
 *
 * Everything here works on Effect Streams of byte chunks, incrementally and
 * with bounded memory: `encode` streams storages from their sources; `parts`
 * parses the header as bytes arrive and emits each record once complete (a
 * relay can forward records with `fromParts` without holding them all);
 * `load` ends with the loaded value.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Crc32 } from "./Checksum.js"
import { attempt, CheckpointError, type TorchwireError } from "./Errors.js"
import { concatBytes } from "./internal/bytes.js"
import { DecimalRecord, decodeRecord, text } from "./internal/torch/records.js"
import { RecordBytes } from "./internal/container/recordBytes.js"
import { storageData } from "./internal/save/storageStream.js"
import { decodeWith, isDataFirst } from "./internal/pushDecoder.js"
import { defaultLimits, encodeHeader, makeDecoder, makePieceDecoder, type StreamEntry, type StreamLimits, type StreamPart, type StreamPiece } from "./internal/streaming/streamingFormat.js"
import { ArchiveEncoder } from "./internal/container/archiveWriter.js"
import { type RecordWriter, writeRecords } from "./internal/container/recordStream.js"
import { pickleCheckpoint } from "./internal/torch/pickle.js"
import { loadFrom } from "./internal/load/streamCheckpoint.js"
import type { OpenOptions } from "./internal/load/loadContext.js"
import type { PyValue } from "./Value.js"

/**
 * One `_Entry` of a stream's header.
 *
 * @since 0.1.0
 * @category models
 */
export type Entry = StreamEntry

/**
 * What `parts` emits: the header's entries first, then every record.
 *
 * @since 0.1.0
 * @category models
 */
export type Part = StreamPart

/**
 * What `pieces` emits: the header's entries first, then every record as one
 * or more consecutive `Data` pieces, views of the input chunks (the first
 * at `offset` 0, the last with `last` set; a zero-length record is one
 * empty piece).
 *
 * @since 0.1.0
 * @category models
 */
export type Piece = StreamPiece

/**
 * Decoder limits (defaults: 16 MiB header, 1,000,000 entries, 64 GiB per record).
 *
 * @since 0.1.0
 * @category options
 */
export type Limits = StreamLimits

const utf8 = new TextEncoder()

/**
 * Encodes a value in the streaming format, as `_streaming_save` does: the
 * records of the newest `torch.save` (data.pkl, .format_version,
 * .storage_alignment, byteorder, data/0..N-1; no version or serialization
 * id), storages streamed from their sources.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (value: PyValue, options: { readonly protocol?: number } = {}): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.unwrap(Effect.map(attempt(() => pickleCheckpoint(value, options.protocol ?? 2)), ({ pickle, storages }) => {
    const small = (key: string, bytes: Uint8Array) => ({ entry: { key, isStorage: false, length: bytes.length }, data: RecordBytes.Memory({ bytes }) })
    const records = [
      small("data.pkl", pickle),
      small(".format_version", utf8.encode("1")),
      small(".storage_alignment", utf8.encode("64")),
      small("byteorder", utf8.encode("little")),
      ...storages.map((r) => ({ entry: { key: `data/${r.key}`, isStorage: true, length: r.storage.nbytes }, data: storageData(r) }))
    ]
    const header = encodeHeader(records.map((r) => r.entry))
    return writeRecords([{ entry: { key: "header", isStorage: false, length: header.length }, data: RecordBytes.Memory({ bytes: header }) }, ...records], sizeChecked())
  }))

/**
 * Writes records as they are, failing with `StorageTooShort` (at the
 * record's stream offset) when one's data is not its declared length.
 */
const sizeChecked = (): RecordWriter<{ readonly entry: StreamEntry }> => {
  const none = new Uint8Array(0)
  let current: StreamEntry | undefined
  let start = 0
  let written = 0
  const check = (ok: boolean) => {
    if (ok) return
    const detail = `record produced ${written} bytes or more, expected ${current!.length}`
    throw new CheckpointError({ reason: "StorageTooShort", offset: start, record: current!.key, detail })
  }
  return {
    begin: (record) => {
      start += written
      current = record.entry
      written = 0
      return none
    },
    data: (chunk) => {
      written += chunk.length
      check(written <= current!.length)
      return chunk
    },
    end: () => {
      check(written === current!.length)
      return none
    },
    finish: () => []
  }
}

/**
 * Decodes a byte stream into its parts, incrementally: the header as soon
 * as it is complete, then each record as soon as its last byte arrives.
 * Fails with `Truncated` when the input ends early, `TrailingBytes` when
 * bytes follow the last record, `LimitExceeded` past the limits.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parts: {
  (limits?: Partial<Limits>): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Part, E | TorchwireError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, limits?: Partial<Limits>): Stream.Stream<Part, E | TorchwireError, R>
} = dual(isDataFirst, <E, R>(self: Stream.Stream<Uint8Array, E, R>, limits: Partial<Limits> = {}): Stream.Stream<Part, E | TorchwireError, R> =>
  decodeWith(self, () => makeDecoder({ ...defaultLimits, ...limits })))

/**
 * Decodes a byte stream into pieces, holding nothing but the header: each
 * record's bytes are passed on as they arrive, as views of the input
 * chunks. The errors are those of `parts`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const pieces: {
  (limits?: Partial<Limits>): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Piece, E | TorchwireError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, limits?: Partial<Limits>): Stream.Stream<Piece, E | TorchwireError, R>
} = dual(isDataFirst, <E, R>(self: Stream.Stream<Uint8Array, E, R>, limits: Partial<Limits> = {}): Stream.Stream<Piece, E | TorchwireError, R> =>
  decodeWith(self, () => makePieceDecoder({ ...defaultLimits, ...limits })))

/** A `.storage_alignment` record: a decimal the zip layout can pad to (1 to 65535). */
const Alignment = DecimalRecord.pipe(Schema.between(1, 65535))

/**
 * Passes a byte stream through unchanged while checking it is one
 * well-formed stream (header, records, nothing after): what a receiver
 * writing `.stream` files verbatim runs. Holds nothing but the header.
 *
 * @since 0.1.0
 * @category decoding
 */
export const validate: {
  (limits?: Partial<Limits>, options?: HeaderOptions): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Uint8Array, E | TorchwireError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, limits?: Partial<Limits>, options?: HeaderOptions): Stream.Stream<Uint8Array, E | TorchwireError, R>
} = dual(isDataFirst, <E, R>(self: Stream.Stream<Uint8Array, E, R>, limits: Partial<Limits> = {}, options: HeaderOptions = {}): Stream.Stream<Uint8Array, E | TorchwireError, R> =>
  decodeWith(self, () => {
    const decoder = makePieceDecoder({ ...defaultLimits, ...limits })
    const seeHeader = headerWatcher(options)
    return { push: (chunk) => (decoder.push(chunk).forEach(seeHeader), [chunk]), end: () => (decoder.end(), []) }
  }))

/**
 * Options of decoders that can tell what a stream's header declares.
 *
 * @since 0.1.0
 * @category options
 */
export interface HeaderOptions {
  /** Called once the header has arrived, with its entries (what a receiver's progress total comes from). */
  readonly onHeader?: (entries: ReadonlyArray<Entry>) => void
}

/** Calls `onHeader` with the entries of a header piece. */
const headerWatcher = (options: HeaderOptions) => (piece: Piece): void => {
  if (piece._tag === "Header") options.onHeader?.(piece.entries)
}

/**
 * Converts a byte stream in the streaming format into the torch.save zip
 * archive of the same records, as the bytes arrive: each record is written
 * through as it streams in (CRC-32 on the way), then `version` and
 * `.data/serialization_id` close it as torch.save does. Nothing but the
 * header and the bytes in transit is held, so a receiver can write a
 * checkpoint of any size to disk in constant memory.
 *
 * @since 0.1.0
 * @category decoding
 */
/**
 * Options of `toArchive`.
 *
 * @since 0.2.0
 * @category options
 */
export type ToArchiveOptions = {
  /** The archive folder (default "archive"). */
  readonly prefix?: string
  /** CRC-32 implementation (default: the `Checksum.Crc32` service's). */
  readonly crc32?: (data: Uint8Array, crc: number) => number
  /** Compute CRC-32s (default true); false writes 0s, as `Save.SaveOptions.computeCrc32`. */
  readonly computeCrc32?: boolean
  readonly limits?: Partial<Limits>
} & HeaderOptions

export const toArchive: {
  (options?: ToArchiveOptions): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Uint8Array, E | TorchwireError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options?: ToArchiveOptions): Stream.Stream<Uint8Array, E | TorchwireError, R>
} = dual(isDataFirst, <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: ToArchiveOptions = {}): Stream.Stream<Uint8Array, E | TorchwireError, R> =>
  Stream.unwrap(Effect.map(Crc32, (crc) =>
  decodeWith(self, () => {
    const decoder = makePieceDecoder({ ...defaultLimits, ...options.limits })
    const seeHeader = headerWatcher(options)
    const encoder = new ArchiveEncoder(options.prefix ?? "archive", { alignment: 64, crc32: options.crc32 ?? crc.update, computeCrc32: options.computeCrc32 })
    let alignment: Array<Uint8Array> = []
    const convert = (piece: Piece): Array<Uint8Array> => {
      seeHeader(piece)
      if (piece._tag === "Header") return []
      const out = piece.offset === 0 ? [encoder.begin(piece.entry.key, piece.entry.length)] : []
      out.push(encoder.data(piece.bytes))
      if (piece.last) out.push(encoder.end())
      if (piece.entry.key === ".storage_alignment") {
        // Later records are aligned as the stream declares (torch always declares 64).
        alignment.push(piece.bytes)
        if (piece.last) {
          const where = { record: piece.entry.key, offset: piece.at + piece.bytes.length - piece.entry.length }
          encoder.alignment = decodeRecord(Alignment, text(concatBytes(alignment)), where)
          alignment = []
        }
      }
      return out
    }
    return {
      push: (chunk) => decoder.push(chunk).flatMap(convert).filter((b) => b.length > 0),
      end: () => (decoder.end(), [...encoder.trailer(true), encoder.finish()])
    }
  }))))

/**
 * Re-encodes parts into bytes: a relay's other half (`parts` then `fromParts`
 * forwards a stream one record at a time).
 *
 * @since 0.1.0
 * @category encoding
 */
export const fromParts = <E, R>(self: Stream.Stream<Part, E, R>): Stream.Stream<Uint8Array, E, R> =>
  Stream.map(self, (part) => (part._tag === "Header" ? encodeHeader(part.entries) : part.bytes))

/**
 * Options of `load`: those of `Checkpoint.open`, and the decoder's limits.
 *
 * @since 0.2.0
 * @category options
 */
export type LoadOptions = OpenOptions & {
  readonly limits?: Partial<Limits>
  /**
   * Most bytes of records a stream may declare to be held in memory (default
   * 8 GiB): a larger one fails `LimitExceeded` as soon as its header
   * arrives, before anything is received. Receive it to a file instead
   * (`NodeStreaming` `receiveFile`).
   */
  readonly maxLoadBytes?: number
}

/** Most bytes of records `load` holds in memory, by default. */
const MAX_LOAD_BYTES = 8 * 2 ** 30

/**
 * What `load` gives: the value (storages in memory) and the record names.
 *
 * @since 0.2.0
 * @category models
 */
export interface Loaded {
  readonly value: PyValue
  readonly records: ReadonlyArray<string>
}

/**
 * Loads a value from a byte stream, as `_streaming_load` does (weights-only
 * by default). Storages are held in memory: they arrive once, in order.
 * Fails with `MissingRecord` without data.pkl and `BadRecord` when a storage
 * record's size disagrees with data.pkl.
 *
 * @since 0.1.0
 * @category decoding
 */
export const load: {
  (options?: LoadOptions): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Effect.Effect<Loaded, E | TorchwireError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options?: LoadOptions): Effect.Effect<Loaded, E | TorchwireError, R>
} = dual(isDataFirst, <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: LoadOptions = {}): Effect.Effect<Loaded, E | TorchwireError, R> =>
  Effect.gen(function*() {
    const records = new Map<string, Uint8Array>()
    const most = options.maxLoadBytes ?? MAX_LOAD_BYTES
    yield* Stream.runForEach(self.pipe(parts(options.limits)), (part) => {
      if (part._tag === "Record") return Effect.sync(() => void records.set(part.entry.key, part.bytes))
      const declared = part.entries.reduce((n, e) => n + e.length, 0)
      return declared <= most ? Effect.void : Effect.fail(
        new CheckpointError({
          reason: "LimitExceeded",
          offset: 0,
          record: "stream header",
          detail: `the stream declares ${declared} bytes of records, over the ${most}-byte limit of what is held in memory (receive it to a file, or raise maxLoadBytes)`
        })
      )
    })
    return yield* loadRecords(records, options)
  }))

/** Records received in memory, as `loadFrom` wants them. */
const loadRecords = (records: ReadonlyMap<string, Uint8Array>, options: OpenOptions) =>
  loadFrom((key) => {
    const bytes = records.get(key)
    return bytes === undefined ? undefined : { name: key, offset: 0, bytes: RecordBytes.Memory({ bytes }) }
  }, [...records.keys()], options)
