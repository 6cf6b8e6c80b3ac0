/**
 * A zip reader for torch archives: end records (zip64 included), the
 * central directory, archives that start after a prefix, STORED entries
 * read positionally as zero-copy views where the source allows, DEFLATE
 * entries inflated incrementally with fflate, and optional CRC checks
 * (torch itself never checks them; with `checkCrc` the `Checksum.Crc32`
 * service does).
 *
 * Opening reads only the end records and the central directory. The reader
 * lives in `internal/container/`: `zipRead` (end records, chunk reads,
 * inflating), `zipFormat` (the records' layout), `zipEntryData` (an entry's
 * data and its checks), `zipArchive` (the ways of reading entries).
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ByteSource } from "./ByteSource.js"
import type { SourceError, ZipError } from "./Errors.js"
import * as internal from "./internal/container/zipArchive.js"
import type { CentralEntry } from "./internal/container/zipFormat.js"

/**
 * A zip entry, as the central directory describes it.
 *
 * @since 0.1.0
 * @category models
 */
export type ZipEntry = CentralEntry

/**
 * Options of `open`: `checkCrc` (verify the CRC-32 of every entry read;
 * default false, as torch) and `maxEntries` (refuse archives with more
 * entries; default 1,000,000).
 *
 * @since 0.1.0
 * @category options
 */
export type ZipOptions = internal.ZipOptions

/**
 * An open zip archive over a byte source: its entries, and reads of an
 * entry whole (`read`), of many at once through shared spans of the file
 * (`readMany`), as a stream (`stream`) or by ranges of a STORED entry
 * (`readRange`).
 *
 * @since 0.1.0
 * @category models
 */
export type ZipArchive = internal.ZipArchive

/**
 * Opens a zip archive: reads the end records and the central directory,
 * nothing else.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open: (source: ByteSource, options?: ZipOptions) => Effect.Effect<ZipArchive, ZipError | SourceError> = internal.openArchive

/**
 * The entries of an archive as a Stream.
 *
 * @since 0.1.0
 * @category combinators
 */
export const entries = (archive: ZipArchive): Stream.Stream<ZipEntry> => Stream.fromIterable(archive.entries)
