/**
 * Where a record's bytes live: the one descriptor that loaders build for
 * every storage (and writers for every record) and that readers and writers
 * match on. Reading whole, streaming, reading ranges and batching follow from
 * the tag, so no storage carries closures for each way of reading it.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ByteSource } from "../../ByteSource.js"
import type { TorchwireError } from "../../Errors.js"
import type { ZipArchive } from "./zipArchive.js"
import type { CentralEntry as ZipEntry } from "./zipFormat.js"
import { concatBytes } from "../bytes.js"
import { chunkReader } from "./zipRead.js"

/**
 * A record's bytes:
 *
 * - `Memory`: in memory.
 * - `SourceRange`: `size` bytes at `offset` of a source (a record of a
 *   `.stream` file, a storage of a tar file): read whole, by ranges, or
 *   streamed 1 MiB at a time.
 * - `ZipEntry`: the first `size` bytes of a zip entry; read with the entries
 *   around it (`ZipArchive.readMany`), by ranges when `ranged` (a STORED
 *   entry whose CRC-32 is not being checked), else streamed (inflated,
 *   checked).
 * - `Computed`: read by an effect (a legacy storage, whose offset is known
 *   once the pickles are read; a view of another storage; new bytes).
 * - `Streamed`: a stream of chunks, read once.
 *
 * @internal
 */
export type RecordBytes = Data.TaggedEnum<{
  Memory: { readonly bytes: Uint8Array }
  SourceRange: { readonly source: ByteSource; readonly offset: number; readonly size: number }
  ZipEntry: { readonly archive: ZipArchive; readonly entry: ZipEntry; readonly size: number; readonly ranged: boolean }
  Computed: { readonly read: Effect.Effect<Uint8Array, TorchwireError>; readonly size: number }
  Streamed: { readonly stream: Stream.Stream<Uint8Array, TorchwireError>; readonly size: number }
}>

/** Constructors and `$match`/`$is` for `RecordBytes`. @internal */
export const RecordBytes = Data.taggedEnum<RecordBytes>()

/** The bytes of a whole zip entry, ranged when its archive allows (STORED, CRC-32 not checked). @internal */
export const zipEntryBytes = (archive: ZipArchive, entry: ZipEntry): RecordBytes =>
  RecordBytes.ZipEntry({ archive, entry, size: entry.uncompressedSize, ranged: entry.method === 0 && !archive.checkCrc })

/** How many bytes the record holds. @internal */
export const sizeOf = (b: RecordBytes): number => (b._tag === "Memory" ? b.bytes.length : b.size)

/** Records smaller than this are read whole (by writers, with their neighbours when they can); larger ones by ranges or streamed. @internal */
export const SMALL_RECORD = 1 << 20

/** Chunk size of in-memory records' streams: small enough that writers overlap CRC-32 with writes. */
const MEMORY_CHUNK = 4 << 20

/** Chunk size of a source range's stream. */
const SOURCE_CHUNK = 1 << 20

/** Zero-copy views of `bytes`, `size` bytes each. */
const chunksOf = (bytes: Uint8Array, size: number): Stream.Stream<Uint8Array> =>
  Stream.fromIterable({
    *[Symbol.iterator]() {
      for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, Math.min(at + size, bytes.length))
    }
  })

/** `length` bytes at `at` of a source, as chunks of `SOURCE_CHUNK`. */
const sourceChunks = (source: ByteSource, at: number, length: number): Stream.Stream<Uint8Array, TorchwireError> =>
  // Into the fiber's StreamBufferRing when it has one (chunkReader): fresh memory is slow to touch on some machines.
  Stream.unwrap(Effect.map(chunkReader(source), (read) =>
    Stream.paginateEffect(0, (pos: number) =>
      Effect.map(read(at + pos, Math.min(SOURCE_CHUNK, length - pos)), (b) =>
        [b, pos + b.length < length ? Option.some(pos + b.length) : Option.none()] as const)).pipe(Stream.filter((b) => b.length > 0))))

/** The first `n` bytes of a stream of chunks. @internal */
export const takeBytes = <E>(s: Stream.Stream<Uint8Array, E>, n: number): Stream.Stream<Uint8Array, E> =>
  Stream.suspend(() => {
    let left = n
    return s.pipe(
      Stream.takeWhile(() => left > 0),
      Stream.map((c) => {
        const out = c.length > left ? c.subarray(0, left) : c
        left -= out.length
        return out
      })
    )
  })

/**
 * The first `n` bytes of a record (at most its size), as a record of
 * their own: what a storage over the start of a record holds.
 *
 * @internal
 */
export const take = (b: RecordBytes, n: number): RecordBytes => {
  if (n >= sizeOf(b)) return b
  switch (b._tag) {
    case "Memory":
      return RecordBytes.Memory({ bytes: b.bytes.subarray(0, n) })
    case "SourceRange":
      return RecordBytes.SourceRange({ source: b.source, offset: b.offset, size: n })
    case "ZipEntry":
      return RecordBytes.ZipEntry({ archive: b.archive, entry: b.entry, size: n, ranged: b.ranged })
    case "Computed":
      return RecordBytes.Computed({ read: Effect.map(b.read, (bytes) => bytes.subarray(0, n)), size: n })
    case "Streamed":
      return RecordBytes.Streamed({ stream: takeBytes(b.stream, n), size: n })
  }
}

/** Reads the record's bytes whole. @internal */
export const readAll = (b: RecordBytes): Effect.Effect<Uint8Array, TorchwireError> => {
  switch (b._tag) {
    case "Memory":
      return Effect.succeed(b.bytes)
    case "SourceRange":
      return b.source.read(b.offset, b.size)
    case "ZipEntry":
      return b.size === b.entry.uncompressedSize ? b.archive.read(b.entry) : Effect.map(b.archive.read(b.entry), (bytes) => bytes.subarray(0, b.size))
    case "Computed":
      return b.read
    case "Streamed":
      return Effect.map(Stream.runCollect(b.stream), (chunks) => concatBytes(Chunk.toReadonlyArray(chunks)))
  }
}

/** The record's bytes as a stream of chunks (built when first pulled). @internal */
export const streamOf = (b: RecordBytes): Stream.Stream<Uint8Array, TorchwireError> => {
  switch (b._tag) {
    case "Memory":
      return chunksOf(b.bytes, MEMORY_CHUNK)
    case "SourceRange":
      return sourceChunks(b.source, b.offset, b.size)
    case "ZipEntry": {
      // Built when first pulled: an eager zip stream is about 2 KB, and a checkpoint may hold 100k storages.
      const whole = Stream.suspend(() => b.archive.stream(b.entry))
      return b.size === b.entry.uncompressedSize ? whole : takeBytes(whole, b.size)
    }
    case "Computed":
      return Stream.fromEffect(b.read)
    case "Streamed":
      return b.stream
  }
}

/** Reads `length` bytes at `offset` of the record, when its container can seek there (else none). @internal */
export const rangeReader = (b: RecordBytes): ((offset: number, length: number) => Effect.Effect<Uint8Array, TorchwireError>) | undefined => {
  switch (b._tag) {
    case "Memory":
      return (offset, length) => Effect.succeed(b.bytes.subarray(offset, offset + length))
    case "SourceRange":
      return (offset, length) => b.source.read(b.offset + offset, length)
    case "ZipEntry":
      return b.ranged ? (offset, length) => b.archive.readRange(b.entry, offset, length) : undefined
    default:
      return undefined
  }
}

/** The CRC-32 its container recorded for exactly these bytes (a whole zip entry), if any. @internal */
export const recordedCrc32 = (b: RecordBytes): number | undefined =>
  b._tag === "ZipEntry" && b.size === b.entry.uncompressedSize ? b.entry.crc32 : undefined
