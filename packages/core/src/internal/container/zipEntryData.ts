/**
 * A zip entry's data, synchronously: where it starts (its local header),
 * where torch's writer puts it, the checks of its declared sizes, inflating
 * it whole, its CRC-32, and which entries `readMany` reads through one span
 * of the file. Each check throws `ZipError`.
 *
 * @internal
 */
import { boundedInflate, zipError } from "./zipRead.js"
import { type CentralEntry, parseLocalHeader } from "./zipFormat.js"

/** Largest expansion DEFLATE can achieve; a larger claimed size is a lie. */
const MAX_DEFLATE_RATIO = 1032

/** Entries this small (compressed) are read together with their local header. @internal */
export const ONE_READ_MAXIMUM = 64 << 10

/** Longest span of file `readMany` reads at once. */
const SPAN_MAXIMUM = 1 << 20

/** Most bytes between two entries that `readMany` reads through rather than reading the entries apart. */
const SPAN_GAP_MAXIMUM = 16 << 10

const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to

const utf8 = new TextEncoder()

/**
 * Where an entry's data starts, from its local header's first 30 bytes;
 * refuses encrypted entries, compression other than STORED and DEFLATE,
 * and data running past the end of a `sourceSize`-byte file.
 *
 * @internal
 */
export const dataStart = (entry: CentralEntry, header: Uint8Array, sourceSize: number): number => {
  const at = entry.localHeaderOffset + parseLocalHeader(header, entry)
  if (entry.flags & 1) throw zipError("Encrypted", entry.localHeaderOffset, "encrypted entries are not supported", entry.name)
  if (entry.method !== 0 && entry.method !== 8) {
    throw zipError("UnsupportedCompression", entry.localHeaderOffset, `compression method ${entry.method}`, entry.name)
  }
  if (at + entry.compressedSize > sourceSize) {
    throw zipError("BadLocalHeader", at, `entry data (${entry.compressedSize} bytes) runs past the end of the file`, entry.name)
  }
  return at
}

/**
 * Where torch's writer puts an entry's data: after the header, the name and
 * the padding field's 4 bytes, aligned to 64 from the start of the archive
 * (`shift` bytes into the file).
 *
 * @internal
 */
export const guessedDataStart = (entry: CentralEntry, shift: number): number =>
  shift + alignUp(entry.localHeaderOffset - shift + 30 + utf8.encode(entry.name).length + 4, 64)

/** Refuses an entry whose declared sizes no data could have. @internal */
export const checkSizes = (entry: CentralEntry): void => {
  if (entry.method === 0 && entry.compressedSize !== entry.uncompressedSize) {
    throw zipError("BadCentralDirectory", entry.centralOffset, "stored entry with different compressed and uncompressed sizes", entry.name)
  }
}

/** Refuses a DEFLATE entry claiming to expand more than DEFLATE can. @internal */
export const checkRatio = (entry: CentralEntry, at: number): void => {
  if (entry.method === 8 && entry.uncompressedSize > entry.compressedSize * MAX_DEFLATE_RATIO + 1024) {
    throw zipError("LimitExceeded", at, `declared size ${entry.uncompressedSize} is impossible for ${entry.compressedSize} compressed bytes`, entry.name)
  }
}

/** Refuses content whose CRC-32 (`crc`) is not the central directory's. @internal */
export const verifyCrc = (entry: CentralEntry, crc: number, at: number): void => {
  if (crc !== entry.crc32) {
    throw zipError("CrcMismatch", at, `CRC-32 is ${crc.toString(16)}, central directory says ${entry.crc32.toString(16)}`, entry.name)
  }
}

/** Inflates a whole DEFLATE entry into exactly its declared size. */
const inflateAll = (entry: CentralEntry, compressed: Uint8Array, at: number): Uint8Array => {
  const out = new Uint8Array(entry.uncompressedSize)
  let n = 0
  boundedInflate(entry, at, (chunk) => {
    out.set(chunk, n)
    n += chunk.length
  })(compressed, true)
  if (n !== out.length) throw zipError("InflateFailed", at, `entry inflates to ${n} bytes, declared ${out.length}`, entry.name)
  return out
}

/**
 * The content of a whole entry from its raw bytes at `at`: inflated if need
 * be, its CRC-32 checked with `crc32` when given.
 *
 * @internal
 */
export const contentOf = (entry: CentralEntry, raw: Uint8Array, at: number, crc32: ((data: Uint8Array, crc: number) => number) | undefined): Uint8Array => {
  const data = entry.method === 0 ? raw : inflateAll(entry, raw, at)
  if (crc32 !== undefined) verifyCrc(entry, crc32(data, 0), at)
  return data
}

/**
 * Entries of `readMany` read through one span of the file: `start` and `end`
 * (the start aligned to 64 in the archive, so data aligned in the archive is
 * aligned in the buffer), and the indices of the entries it holds.
 *
 * @internal
 */
export interface Span {
  readonly start: number
  end: number
  readonly members: Array<number>
}

/**
 * Groups small entries into spans (by file offset, each at most SPAN_MAXIMUM
 * long, with gaps of at most SPAN_GAP_MAXIMUM), each entry's data where
 * `knownStart` says or else where torch puts it; the indices of entries read
 * on their own are returned apart.
 *
 * @internal
 */
export const planSpans = (
  list: ReadonlyArray<CentralEntry>,
  place: { readonly sourceSize: number; readonly shift: number; readonly knownStart: (entry: CentralEntry) => number | undefined }
): { readonly spans: Array<Span>; readonly alone: Array<number> } => {
  const spans: Array<Span> = []
  const alone: Array<number> = []
  const order = list.map((_, i) => i).sort((x, y) => list[x]!.localHeaderOffset - list[y]!.localHeaderOffset)
  let current: Span | undefined
  for (const i of order) {
    const entry = list[i]!
    if (entry.compressedSize > ONE_READ_MAXIMUM || entry.localHeaderOffset + 30 > place.sourceSize) {
      alone.push(i)
      continue
    }
    const end = Math.min(place.sourceSize, (place.knownStart(entry) ?? guessedDataStart(entry, place.shift)) + entry.compressedSize)
    if (current !== undefined && entry.localHeaderOffset - current.end <= SPAN_GAP_MAXIMUM && end - current.start <= SPAN_MAXIMUM) {
      current.end = Math.max(current.end, end)
      current.members.push(i)
      continue
    }
    current = { start: entry.localHeaderOffset - ((entry.localHeaderOffset - place.shift) % 64), end, members: [i] }
    spans.push(current)
  }
  return { spans, alone }
}
