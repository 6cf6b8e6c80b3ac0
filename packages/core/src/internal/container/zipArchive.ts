/**
 * An open zip archive: the end records and the central directory read, then
 * each way of reading entries as a named handler over one `ArchiveState`
 * (an entry whole, many entries through spans of the file, an entry as a
 * stream, a range of a STORED entry). `Zip` is the public facade.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { ByteSource } from "../../ByteSource.js"
import { Crc32, type Crc32Service } from "../../Checksum.js"
import { attempt, type SourceError, ZipError } from "../../Errors.js"
import { isRangeWithin } from "../bytes.js"
import { checkRatio, checkSizes, contentOf, dataStart, guessedDataStart, ONE_READ_MAXIMUM, planSpans, type Span, verifyCrc } from "./zipEntryData.js"
import { type CentralEntry, parseCentralDirectory } from "./zipFormat.js"
import { type Ambiguity, chunkReader, END, inflater, readEndRecord, zipError } from "./zipRead.js"

/** Options of `openArchive` (`Zip.ZipOptions`). @internal */
export interface ZipOptions {
  /** Verify CRC-32 of every entry read (default false: torch never checks). */
  readonly checkCrc?: boolean
  /** Refuse archives with more entries (default 1,000,000). */
  readonly maxEntries?: number
}

/** An open zip archive over a byte source (`Zip.ZipArchive`). @internal */
export interface ZipArchive {
  readonly source: ByteSource
  /**
   * How far the archive lies from where its end record puts it: 0 when a
   * central directory is at the stored offset (torch reads it there), else
   * the length of a prefix the archive was moved by.
   */
  readonly shift: number
  /** What other zip readers could read differently: a second end record, a directory away from its stored offset. */
  readonly ambiguities: ReadonlyArray<Ambiguity>
  /** Whether reads check each entry's CRC-32 (`ZipOptions.checkCrc`); ranges of entries are then not read. */
  readonly checkCrc: boolean
  /** Entries in central-directory order. */
  readonly entries: ReadonlyArray<CentralEntry>
  /** Looks an entry up by its full name. */
  readonly entry: (name: string) => CentralEntry | undefined
  /** Offset of the entry's data in the source (reads its local header once). */
  readonly dataOffset: (entry: CentralEntry) => Effect.Effect<number, ZipError | SourceError>
  /** The whole (uncompressed) content of an entry. */
  readonly read: (entry: CentralEntry) => Effect.Effect<Uint8Array, ZipError | SourceError>
  /**
   * The contents of many entries, in the order given, in as few reads as their
   * places in the file allow: small entries lying near one another (as torch
   * writes a checkpoint's tensors) share one read of the span of file that
   * holds them, up to 1 MiB. The results of entries read together are views
   * of one buffer; copy one to keep it without the others.
   */
  readonly readMany: (entries: ReadonlyArray<CentralEntry>) => Effect.Effect<ReadonlyArray<Uint8Array>, ZipError | SourceError>
  /** The content of an entry as a stream of chunks, inflated incrementally. */
  readonly stream: (entry: CentralEntry, options?: { readonly chunkSize?: number }) => Stream.Stream<Uint8Array, ZipError | SourceError>
  /**
   * `length` bytes of a STORED entry's content from `offset`, read into the
   * running fiber's `StreamBufferRing` when it has one and `length` is
   * `ringChunkMinimum` or more. No CRC-32 is checked (a range is not the
   * whole entry). Fails with `UnsupportedCompression` for a compressed
   * entry and `LimitExceeded` for a range outside the entry.
   */
  readonly readRange: (entry: CentralEntry, offset: number, length: number) => Effect.Effect<Uint8Array, ZipError | SourceError>
}

/** What every handler reads an archive's entries with. */
interface ArchiveState {
  readonly source: ByteSource
  /** Where the archive starts in the source (after a prefix, if any). */
  readonly shift: number
  /** The CRC-32 that checks entries, when `checkCrc`. */
  readonly crc32: Crc32Service["update"] | undefined
  /** Where each entry's data starts, once its local header has been read. */
  readonly offsets: Map<CentralEntry, number>
}

/** Where an entry's data starts (from its local header), remembered. Throws `ZipError`. */
const locateIn = (state: ArchiveState, entry: CentralEntry, header: Uint8Array): number => {
  const at = dataStart(entry, header, state.source.size)
  state.offsets.set(entry, at)
  return at
}

const locate = (state: ArchiveState, entry: CentralEntry, header: Uint8Array) => attempt(() => locateIn(state, entry, header), ZipError)

const headerInFile = (state: ArchiveState, entry: CentralEntry) =>
  entry.localHeaderOffset + 30 > state.source.size
    ? zipError("BadLocalHeader", entry.localHeaderOffset, "local header lies past the end of the file", entry.name)
    : Effect.void

/** Where an entry's data starts: remembered, or read from its local header. */
const dataOffset = (state: ArchiveState, entry: CentralEntry) =>
  Effect.suspend(() => {
    const known = state.offsets.get(entry)
    if (known !== undefined) return Effect.succeed(known)
    return headerInFile(state, entry).pipe(
      Effect.zipRight(state.source.read(entry.localHeaderOffset, 30)),
      Effect.flatMap((header) => locate(state, entry, header))
    )
  })

/**
 * A small entry's raw bytes, read with its local header in one read (per-read
 * costs dominate re-saving a checkpoint of many small tensors). The read
 * guesses that the data starts where torch's writer puts it; when it starts
 * later, the data is read again from where the header says.
 */
const rawBytes = (state: ArchiveState, entry: CentralEntry) =>
  Effect.suspend(() => {
    const { source } = state
    const known = state.offsets.get(entry)
    /** The raw bytes at `at` (read by `raw` once the declared sizes pass checkRatio). */
    const checked = (at: number, raw: Effect.Effect<Uint8Array, SourceError>) =>
      Effect.zipRight(attempt(() => checkRatio(entry, at), ZipError), Effect.map(raw, (raw) => ({ at, raw })))
    if (known !== undefined || entry.compressedSize > ONE_READ_MAXIMUM) {
      return Effect.flatMap(dataOffset(state, entry), (at) => checked(at, source.read(at, entry.compressedSize)))
    }
    const span = Math.min(source.size, guessedDataStart(entry, state.shift) + entry.compressedSize) - entry.localHeaderOffset
    return headerInFile(state, entry).pipe(
      Effect.zipRight(source.read(entry.localHeaderOffset, span)),
      Effect.flatMap((both) =>
        Effect.flatMap(locate(state, entry, both.subarray(0, 30)), (at) => {
          const start = at - entry.localHeaderOffset
          return checked(at, start + entry.compressedSize <= both.length
            ? Effect.succeed(both.subarray(start, start + entry.compressedSize))
            : source.read(at, entry.compressedSize))
        })
      )
    )
  })

/** An entry's whole content. Built when run: a checkpoint may hold 100k storages, each with its read. */
const readEntry = (state: ArchiveState, entry: CentralEntry) =>
  Effect.suspend(() =>
    Effect.zipRight(
      attempt(() => checkSizes(entry), ZipError),
      Effect.flatMap(rawBytes(state, entry), ({ at, raw }) => attempt(() => contentOf(entry, raw, at, state.crc32), ZipError))
    )
  )

/** Reads the entries `list[i]` of `indices` one by one, each into `out[i]`. */
const readEach = (state: ArchiveState, list: ReadonlyArray<CentralEntry>, indices: ReadonlyArray<number>, out: Array<Uint8Array>) =>
  Effect.forEach(indices, (i) => Effect.map(readEntry(state, list[i]!), (b) => void (out[i] = b)), { discard: true })

/**
 * The entries of a span from one read of it; an entry whose data turns out to
 * run past the span (a local header longer than torch writes) is read on its own.
 */
const readSpan = (state: ArchiveState, list: ReadonlyArray<CentralEntry>, span: Span, out: Array<Uint8Array>) =>
  Effect.flatMap(state.source.read(span.start, span.end - span.start), (bytes) => {
    const late: Array<number> = []
    const decoded = attempt(() => {
      for (const i of span.members) {
        const entry = list[i]!
        checkSizes(entry)
        const header = entry.localHeaderOffset - span.start
        const at = locateIn(state, entry, bytes.subarray(header, header + 30))
        checkRatio(entry, at)
        const from = at - span.start
        if (from + entry.compressedSize > bytes.length) late.push(i)
        else out[i] = contentOf(entry, bytes.subarray(from, from + entry.compressedSize), at, state.crc32)
      }
    }, ZipError)
    return Effect.zipRight(decoded, readEach(state, list, late, out))
  })

/** Many entries' contents, small neighbours through shared spans of the file. */
const readMany = (state: ArchiveState, list: ReadonlyArray<CentralEntry>) =>
  Effect.suspend(() => {
    const out = new Array<Uint8Array>(list.length)
    const { spans, alone } = planSpans(list, { sourceSize: state.source.size, shift: state.shift, knownStart: (e) => state.offsets.get(e) })
    return Effect.as(
      Effect.zipRight(
        Effect.forEach(spans, (span) => readSpan(state, list, span, out), { discard: true }),
        readEach(state, list, alone, out)
      ),
      out as ReadonlyArray<Uint8Array>
    )
  })

/**
 * An entry's content as one pull loop: each pull reads one chunk (inflating
 * it, counting it and adding it to the CRC-32), and the pull after the last
 * chunk checks the size and CRC. One effect per chunk, not a pipeline of
 * stream stages (2026-12-02, a gigabyte in 4 MiB chunks from the page cache:
 * 0.47 to 0.53 s through five stages per entry, 0.36 to 0.42 s as one loop,
 * 0.16 to 0.19 s for the same reads with no stream).
 */
const streamEntry = (state: ArchiveState, entry: CentralEntry, streamOptions: { readonly chunkSize?: number } = {}) =>
  Stream.unwrap(Effect.gen(function*() {
    const { source, crc32 } = state
    const at = yield* dataOffset(state, entry)
    yield* attempt(() => checkRatio(entry, at), ZipError)
    const chunkSize = Math.max(1, streamOptions.chunkSize ?? 4 << 20)
    // Inflating keeps no input, but only STORED entries are passed on as read: only they may reuse buffers.
    const readChunk = entry.method === 0 ? yield* chunkReader(source) : source.read
    const inflate = entry.method === 0 ? undefined : inflater(entry, at)
    let pos = 0
    let crc = 0
    let produced = 0
    let ended = false
    /** Counts and checksums what the entry produced; throws `ZipError` past its declared size. */
    const counted = (out: ReadonlyArray<Uint8Array>) => {
      for (const b of out) {
        produced += b.length
        if (produced > entry.uncompressedSize) throw zipError("InflateFailed", at, "entry inflates to more than its declared size", entry.name)
        if (crc32 !== undefined) crc = crc32(b, crc)
      }
      return Chunk.unsafeFromArray(out.filter((b) => b.length > 0))
    }
    /** The inflater's last output, then the size and CRC checks. */
    const finish = () => {
      ended = true
      const last = counted(inflate === undefined ? [] : inflate(new Uint8Array(0), true))
      if (produced !== entry.uncompressedSize) throw zipError("InflateFailed", at, `entry holds ${produced} bytes, declared ${entry.uncompressedSize}`, entry.name)
      if (crc32 !== undefined) verifyCrc(entry, crc, at)
      return last
    }
    const pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<ZipError | SourceError>> = Effect.suspend(() => {
      if (ended) return Effect.fail(Option.none())
      if (pos >= entry.compressedSize) return Effect.mapError(attempt(finish, ZipError), Option.some)
      return readChunk(at + pos, Math.min(chunkSize, entry.compressedSize - pos)).pipe(
        Effect.flatMap((b) => {
          pos += b.length
          return attempt(() => counted(inflate === undefined ? [b] : inflate(b, false)), ZipError)
        }),
        Effect.mapError(Option.some)
      )
    })
    return Stream.repeatEffectChunkOption(pull)
  }))

/** A range of a STORED entry's content. */
const readRange = (state: ArchiveState, entry: CentralEntry, offset: number, length: number) =>
  Effect.suspend(() => {
    if (entry.method !== 0) {
      return Effect.fail(zipError("UnsupportedCompression", entry.localHeaderOffset, "ranges can be read from STORED entries only", entry.name))
    }
    if (!isRangeWithin(offset, length, entry.compressedSize)) {
      return Effect.fail(zipError("LimitExceeded", entry.localHeaderOffset, `range of ${length} bytes at ${offset} lies outside the entry's ${entry.compressedSize}`, entry.name))
    }
    return Effect.flatMap(dataOffset(state, entry), (at) => Effect.flatMap(chunkReader(state.source), (read) => read(at + offset, length)))
  })

/** Whether a central directory (its first header's signature) starts at `offset` of the source. */
const directoryAt = (source: ByteSource, offset: number, entries: number): Effect.Effect<boolean, SourceError> =>
  entries === 0 || offset + 4 > source.size
    ? Effect.succeed(entries === 0)
    : Effect.map(source.read(offset, 4), (b) => b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x01 && b[3] === 0x02)

/** Entries by name (the first of each), made when first looked up: a checkpoint may hold 100k entries. */
const nameIndex = (entries: ReadonlyArray<CentralEntry>) => {
  let byName: Map<string, CentralEntry> | undefined
  return (name: string): CentralEntry | undefined => {
    if (byName === undefined) {
      byName = new Map()
      for (const e of entries) if (!byName.has(e.name)) byName.set(e.name, e)
    }
    return byName.get(name)
  }
}

/**
 * Opens a zip archive: reads the end records and the central directory,
 * nothing else. Entries are checked with the `Checksum.Crc32` service when
 * `checkCrc` is set.
 *
 * @internal
 */
export const openArchive = (source: ByteSource, options: ZipOptions = {}): Effect.Effect<ZipArchive, ZipError | SourceError> =>
  Effect.gen(function*() {
    const end = yield* readEndRecord(source)
    const maxEntries = options.maxEntries ?? 1_000_000
    if (end.shift < 0) {
      return yield* zipError("BadEndRecord", end.eocdOffset, `central directory (offset ${end.cdOffset}, size ${end.cdSize}) overlaps the end records`, END)
    }
    // Where torch reads the directory, at its stored offset, when a directory is there; else after a prefix.
    const shift = end.shift === 0 || (yield* directoryAt(source, end.cdOffset, end.entries)) ? 0 : end.shift
    if (end.entries > maxEntries) {
      return yield* zipError("LimitExceeded", end.eocdOffset, `${end.entries} entries exceed the limit of ${maxEntries}`, END)
    }
    if (end.entries * 46 > end.cdSize) {
      return yield* zipError("BadEndRecord", end.eocdOffset, `${end.entries} entries cannot fit in a ${end.cdSize}-byte central directory`, END)
    }
    const cdAt = end.cdOffset + shift
    const cd = yield* source.read(cdAt, end.cdSize)
    const entries = yield* attempt(() => parseCentralDirectory(cd, cdAt, end.entries, shift), ZipError)
    const checkCrc = options.checkCrc ?? false
    const state: ArchiveState = { source, shift, crc32: checkCrc ? (yield* Crc32).update : undefined, offsets: new Map() }
    return {
      source,
      shift,
      ambiguities: end.ambiguities,
      checkCrc,
      entries,
      entry: nameIndex(entries),
      dataOffset: (entry) => dataOffset(state, entry),
      read: (entry) => readEntry(state, entry),
      readMany: (list) => readMany(state, list),
      stream: (entry, streamOptions) => streamEntry(state, entry, streamOptions),
      readRange: (entry, offset, length) => readRange(state, entry, offset, length)
    }
  })
