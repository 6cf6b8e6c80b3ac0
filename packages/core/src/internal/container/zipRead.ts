/**
 * Reading zip archives from a source: the end records located (zip64
 * included, archives after a prefix), chunks read into the fiber's buffer
 * ring, and DEFLATE data inflated incrementally. `Zip` builds its archive
 * on these.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { Inflate } from "fflate"
import { type ByteSource, ringChunkMinimum, StreamBufferRing } from "../../ByteSource.js"
import { attempt, type SourceError, ZipError } from "../../Errors.js"
import type { CentralEntry } from "./zipFormat.js"
import { findEocds, parseEocd, parseZip64End, parseZip64Locator } from "./zipFormat.js"

/** Record name used in errors about the end records. @internal */
export const END = "end of central directory"

/** A `ZipError` from its parts. @internal */
export const zipError = (reason: ZipError["reason"], offset: number, detail: string, record?: string): ZipError =>
  new ZipError({ reason, offset, detail, ...(record === undefined ? {} : { record }) })

/**
 * Locates the end records as torch's reader does: the last end of central
 * directory signature with a whole record after it (whatever its comment
 * length says), then the zip64 locator and end record where there are;
 * `shift` is how far the directory lies from where the record says (a
 * prefix moved the archive, or another directory was put there), and
 * `ambiguities` what other readers could read differently.
 *
 * @internal
 */
export const readEndRecord = (source: ByteSource): Effect.Effect<EndRecord, ZipError | SourceError> =>
  Effect.gen(function*() {
    if (source.size < 22) return yield* zipError("NotAZip", 0, `${source.size} bytes is too short for a zip archive`, END)
    const tailOf = (length: number) => Effect.map(source.read(source.size - length, length), (tail) => ({ tail, tailOffset: source.size - length, found: findEocds(tail) }))
    // Most archives have no comment: the last 98 bytes hold the end record, the zip64 locator and the zip64 end
    // record. A record anywhere else, or one with a comment, sends the search over the last 64 KiB, where a second
    // record is an ambiguity (a reader that honours comment lengths may take it).
    const short = yield* tailOf(Math.min(source.size, 22 + 20 + 56))
    const atEnd = short.found[0] !== undefined && short.tailOffset + short.found[0] + 22 === source.size && readUint16(short.tail, short.found[0] + 20) === 0
    const { tail, tailOffset, found } = atEnd ? short : yield* tailOf(Math.min(source.size, 22 + 0xffff + 20 + 56))
    const p = found[0]
    if (p === undefined) {
      return yield* zipError("NotAZip", Math.max(0, source.size - 22), "no end of central directory record found (not a zip archive, or truncated)", END)
    }
    const eocdOffset = tailOffset + p
    const ambiguities: Array<Ambiguity> = found.length > 1
      ? [{ offset: tailOffset + found[1]!, detail: `${found.length} end of central directory records: torch reads the last (at byte ${eocdOffset}), other readers may read another` }]
      : []
    const classic = parseEocd(tail, p)
    const hasZip64 = yield* attempt(() => parseZip64Locator(tail, p - 20, eocdOffset - 20) !== undefined, ZipError)
    const ends = hasZip64 ? yield* zip64End(source, eocdOffset) : { ...classic, directoryEnd: eocdOffset }
    const shift = ends.directoryEnd - ends.cdSize - ends.cdOffset
    if (shift !== 0) {
      ambiguities.push({ offset: eocdOffset, detail: `the central directory ends ${shift} bytes from where the end record puts it: torch reads the directory at the stored offset, other readers the one before the end record` })
    }
    return { entries: ends.entries, cdSize: ends.cdSize, cdOffset: ends.cdOffset, eocdOffset, shift, ambiguities }
  })

/** The zip64 end record, just before the locator that precedes the classic record at `eocdOffset`. */
const zip64End = (source: ByteSource, eocdOffset: number) =>
  Effect.gen(function*() {
    // Located there rather than by its declared offset, which an archive prefix shifts.
    const z64At = eocdOffset - 20 - 56
    if (z64At < 0) return yield* zipError("BadEndRecord", eocdOffset, "zip64 locator without room for a zip64 end record", END)
    const z64Bytes = yield* source.read(z64At, 56)
    const z64 = yield* attempt(() => parseZip64End(z64Bytes, z64At), ZipError)
    return { entries: z64.entries, cdSize: z64.cdSize, cdOffset: z64.cdOffset, directoryEnd: z64At }
  })

const readUint16 = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8)

/** Something other readers could read differently. @internal */
export interface Ambiguity {
  readonly offset: number
  readonly detail: string
}

/** What the end records say. @internal */
export interface EndRecord {
  readonly entries: number
  readonly cdSize: number
  readonly cdOffset: number
  readonly eocdOffset: number
  readonly shift: number
  readonly ambiguities: ReadonlyArray<Ambiguity>
}

/**
 * Reads chunks of a source: fresh buffers, or, for chunks of
 * `ringChunkMinimum` bytes or more, buffers of the running fiber's
 * `StreamBufferRing` when it has one and the source can fill them.
 *
 * @internal
 */
export const chunkReader = (source: ByteSource) =>
  Effect.map(FiberRef.get(StreamBufferRing), (ring) => {
    const readInto = source.readInto
    if (ring === undefined || readInto === undefined) return source.read
    return (offset: number, length: number): Effect.Effect<Uint8Array, SourceError> => {
      if (length < ringChunkMinimum) return source.read(offset, length)
      const target = ring.take(length)
      return Effect.as(readInto(offset, target), target)
    }
  })

/**
 * An incremental inflater of an entry's DEFLATE data: each call takes the
 * next compressed bytes (`final` with the last) and returns what they
 * inflate to. Throws `ZipError` on corrupt data.
 *
 * @internal
 */
export const inflater = (entry: CentralEntry, at: number) => {
  let pending: Array<Uint8Array> = []
  const inflate = boundedInflate(entry, at, (chunk) => void pending.push(chunk))
  return (data: Uint8Array, final: boolean): Array<Uint8Array> => {
    inflate(data, final)
    const out = pending
    pending = []
    return out
  }
}

/** Compressed bytes inflated per step: at most ~16 MiB of output (DEFLATE's 1032:1) before the size check runs. */
const INFLATE_STEP = 16 << 10

/**
 * An inflater that never makes more than the entry's declared size: input is
 * inflated 16 KiB at a time and each output chunk counted as it appears, so
 * a bomb (a few MB declaring a small entry and inflating to gigabytes) fails
 * with `InflateFailed` after one step, not after inflating. Each call takes
 * the next compressed bytes (`final` with the last) and hands `onChunk` what
 * they inflate to. Throws `ZipError`.
 *
 * @internal
 */
export const boundedInflate = (entry: CentralEntry, at: number, onChunk: (chunk: Uint8Array) => void) => {
  let produced = 0
  const inflate = new Inflate((chunk) => {
    produced += chunk.length
    if (produced > entry.uncompressedSize) throw zipError("InflateFailed", at, "entry inflates to more than its declared size", entry.name)
    onChunk(chunk)
  })
  return (data: Uint8Array, final: boolean): void => {
    try {
      let from = 0
      do {
        const to = Math.min(data.length, from + INFLATE_STEP)
        inflate.push(data.subarray(from, to), final && to === data.length)
        from = to
      } while (from < data.length)
    } catch (e) {
      throw e instanceof ZipError ? e : zipError("InflateFailed", at, `corrupt DEFLATE data: ${String(e)}`, entry.name)
    }
  }
}
