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
import { findEocd, parseEocd, parseZip64End, parseZip64Locator } from "./zipFormat.js"

/** Record name used in errors about the end records. @internal */
export const END = "end of central directory"

/** A `ZipError` from its parts. @internal */
export const zipError = (reason: ZipError["reason"], offset: number, detail: string, record?: string): ZipError =>
  new ZipError({ reason, offset, detail, ...(record === undefined ? {} : { record }) })

/**
 * Locates the end records: the classic one, and the zip64 locator and end
 * record where there are; `shift` is how far a prefix moved the archive.
 *
 * @internal
 */
export const readEndRecord = (source: ByteSource): Effect.Effect<EndRecord, ZipError | SourceError> =>
  Effect.gen(function*() {
    if (source.size < 22) return yield* zipError("NotAZip", 0, `${source.size} bytes is too short for a zip archive`, END)
    // Most archives have no comment: the last 98 bytes hold the end record,
    // the zip64 locator and the zip64 end record. Otherwise search 64 KiB.
    const locate = (length: number) =>
      Effect.flatMap(source.read(source.size - length, length), (tail) =>
        attempt(() => ({ tail, tailOffset: source.size - length, p: findEocd(tail, source.size - length, source.size) }), ZipError))
    const short = Math.min(source.size, 22 + 20 + 56)
    const { p, tail, tailOffset } = yield* locate(short).pipe(
      Effect.filterOrFail((r) => r.tailOffset + r.p + 22 === source.size, () => undefined),
      Effect.catchAll((e) => (e !== undefined && e._tag === "SourceError") ? Effect.fail(e) : locate(Math.min(source.size, 22 + 0xffff + 20 + 56)))
    )
    const eocdOffset = tailOffset + p
    const classic = parseEocd(tail, p)
    const hasZip64 = yield* attempt(() => parseZip64Locator(tail, p - 20, eocdOffset - 20) !== undefined, ZipError)
    if (!hasZip64) {
      const shift = eocdOffset - classic.cdSize - classic.cdOffset
      return { entries: classic.entries, cdSize: classic.cdSize, cdOffset: classic.cdOffset, eocdOffset, shift }
    }
    // The zip64 end record sits just before the locator. Locate it there
    // rather than by its declared offset, which an archive prefix shifts.
    const z64At = eocdOffset - 20 - 56
    if (z64At < 0) return yield* zipError("BadEndRecord", eocdOffset, "zip64 locator without room for a zip64 end record", END)
    const z64Bytes = yield* source.read(z64At, 56)
    const z64 = yield* attempt(() => parseZip64End(z64Bytes, z64At), ZipError)
    const shift = z64At - z64.cdSize - z64.cdOffset
    return { entries: z64.entries, cdSize: z64.cdSize, cdOffset: z64.cdOffset, eocdOffset, shift }
  })

/** What the end records say. @internal */
export interface EndRecord {
  readonly entries: number
  readonly cdSize: number
  readonly cdOffset: number
  readonly eocdOffset: number
  readonly shift: number
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
  const inflate = new Inflate((chunk) => void pending.push(chunk))
  return (data: Uint8Array, final: boolean): Array<Uint8Array> => {
    try {
      inflate.push(data, final)
    } catch (e) {
      throw zipError("InflateFailed", at, `corrupt DEFLATE data: ${String(e)}`, entry.name)
    }
    const out = pending
    pending = []
    return out
  }
}
