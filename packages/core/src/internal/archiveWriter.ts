/**
 * Writes a torch archive (PyTorchStreamWriter's layout, §5) as a Stream of
 * byte chunks: each record's local header, its data streamed through with
 * its CRC-32 computed on the way, its descriptor, then the central
 * directory and end records.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../Errors.js"
import { centralDirectory, dataDescriptor, localHeader, type WrittenEntry } from "./zipWriter.js"

/** A record to write: its name under the archive folder, its size, its bytes. @internal */
export interface ArchiveRecord {
  readonly name: string
  readonly size: number
  readonly data: Stream.Stream<Uint8Array, TorchwireError>
}

/**
 * The archive of `records` under `prefix`. `trailer`, if given, makes one
 * last record from the entries written before it (`.data/serialization_id`).
 *
 * @internal
 */
export const archiveStream = (
  prefix: string,
  records: ReadonlyArray<ArchiveRecord>,
  options: {
    readonly alignment: number
    readonly crc32: (data: Uint8Array, crc: number) => number
    readonly trailer?: (entries: () => ReadonlyArray<WrittenEntry>) => ArchiveRecord
  }
): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.suspend(() => {
    let cursor = 0
    const entries: Array<WrittenEntry> = []
    const emit = (spec: ArchiveRecord): Stream.Stream<Uint8Array, TorchwireError> =>
      Stream.suspend(() => {
        const headerOffset = cursor
        const header = localHeader(headerOffset, `${prefix}/${spec.name}`, spec.size, options.alignment)
        cursor += header.bytes.length
        let crc = 0
        let written = 0
        const body = spec.data.pipe(Stream.map((chunk) => {
          crc = options.crc32(chunk, crc)
          written += chunk.length
          cursor += chunk.length
          return chunk
        }))
        const descriptor = Stream.suspend(() => {
          if (written !== spec.size) {
            return Stream.fail(new CheckpointError({ reason: "StorageTooShort", offset: headerOffset, record: `${prefix}/${spec.name}`, detail: `record produced ${written} bytes, expected ${spec.size}` }))
          }
          const entry: WrittenEntry = { name: header.name, size: spec.size, crc, headerOffset }
          entries.push(entry)
          const bytes = dataDescriptor(entry)
          cursor += bytes.length
          return Stream.make(bytes)
        })
        return Stream.concat(Stream.concat(Stream.make(header.bytes), body), descriptor)
      })
    const all = options.trailer === undefined ? records : [...records, options.trailer(() => entries)]
    return Stream.concat(
      Stream.concatAll(Chunk.fromIterable(all.map(emit))),
      Stream.suspend(() => Stream.make(centralDirectory(entries, cursor)))
    ).pipe(Stream.filter((b) => b.length > 0))
  })
