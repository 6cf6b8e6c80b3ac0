/**
 * Writes a torch archive (PyTorchStreamWriter's layout, §5): each record's
 * local header, its data passed through with its CRC-32 computed on the
 * way, its descriptor, then the central directory and end records.
 *
 * `ArchiveEncoder` is the pure, push-style core (bytes in, bytes out);
 * `archiveStream` drives it over records in memory, read whole or streamed
 * (`writeRecords`).
 *
 * @internal
 */
import { recordedCrc32 } from "./recordBytes.js"
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { type RecordData, writeRecords } from "./recordStream.js"
import { centralDirectory, dataDescriptor, localHeader, serializationId, type WrittenEntry } from "./zipWriter.js"

/** A record to write: its name under the archive folder, its size, its bytes (and their CRC-32, if known). @internal */
export interface ArchiveRecord extends RecordData {
  readonly name: string
  readonly size: number
  readonly crc32?: number | undefined
}

/** Options of an archive: data alignment, the CRC-32 to use, and whether to compute CRCs at all (else 0). @internal */
export interface ArchiveOptions {
  readonly alignment: number
  readonly crc32: (data: Uint8Array, crc: number) => number
  readonly computeCrc32?: boolean | undefined
}

/**
 * The zip layer of a torch archive as a push encoder: `begin` a record, pass
 * its `data` through, `end` it, and `finish` with the central directory.
 * Throws `CheckpointError` when a record's data disagrees with its size.
 *
 * @internal
 */
export class ArchiveEncoder {
  /** Records written so far, in order. */
  readonly entries: Array<WrittenEntry> = []
  /** Record names (without the folder) written so far, in order. */
  readonly names: Array<string> = []
  /** Data alignment of the records begun from now on. */
  alignment: number
  private cursor = 0
  private current: { readonly name: Uint8Array; readonly label: string; readonly size: number; readonly headerOffset: number; readonly knownCrc: number | undefined; crc: number; written: number } | undefined

  constructor(readonly prefix: string, readonly options: ArchiveOptions) {
    this.alignment = options.alignment
  }

  /**
   * Starts a record of `size` bytes (whose CRC-32 is `knownCrc`, if the
   * caller knows it): its local header. With `computeCrc32: false` every
   * CRC is written as 0, as torch's `save.compute_crc32 = False` writes it.
   */
  begin(name: string, size: number, knownCrc?: number): Uint8Array {
    const label = `${this.prefix}/${name}`
    const header = localHeader(this.cursor, label, size, this.alignment)
    const crc = this.options.computeCrc32 === false ? 0 : knownCrc
    this.current = { name: header.name, label, size, headerOffset: this.cursor, knownCrc: crc, crc: 0, written: 0 }
    this.names.push(name)
    this.cursor += header.bytes.length
    return header.bytes
  }

  /** Some of the current record's bytes, returned as they are. */
  data(chunk: Uint8Array): Uint8Array {
    const r = this.current!
    if (r.written + chunk.length > r.size) throw this.sizeError(r.written + chunk.length)
    if (r.knownCrc === undefined) r.crc = this.options.crc32(chunk, r.crc)
    r.written += chunk.length
    this.cursor += chunk.length
    return chunk
  }

  /** Ends the current record: its data descriptor. */
  end(): Uint8Array {
    const r = this.current!
    if (r.written !== r.size) throw this.sizeError(r.written)
    const entry: WrittenEntry = { name: r.name, size: r.size, crc: r.knownCrc ?? r.crc, headerOffset: r.headerOffset }
    this.entries.push(entry)
    this.current = undefined
    const bytes = dataDescriptor(entry)
    this.cursor += bytes.length
    return bytes
  }

  /** A whole small record: header, data and descriptor. */
  record(name: string, bytes: Uint8Array): Array<Uint8Array> {
    return [this.begin(name, bytes.length), this.data(bytes), this.end()]
  }

  /**
   * The records torch's writer closes an archive with (those not written
   * yet): `version`, then, from torch 2.7 on (`withId`), `.data/serialization_id`.
   */
  trailer(withId: boolean): Array<Uint8Array> {
    const version = this.names.includes("version") ? [] : this.record("version", utf8.encode("3\n"))
    if (!withId || this.names.includes(".data/serialization_id")) return version
    const id = serializationId(this.names, this.entries.map((e) => e.crc))
    return [...version, ...this.record(".data/serialization_id", utf8.encode(id))]
  }

  /** The central directory and end records, after the last record. */
  finish(): Uint8Array {
    return centralDirectory(this.entries, this.cursor)
  }

  private sizeError(written: number): CheckpointError {
    const r = this.current!
    return new CheckpointError({ reason: "StorageTooShort", offset: r.headerOffset, record: r.label, detail: `record produced ${written} bytes, expected ${r.size}` })
  }
}

const utf8 = new TextEncoder()

/**
 * The archive of `records` under `prefix`, closed with torch's trailing
 * records if `trailer` says which: "version", or "version and id" (torch ≥ 2.7).
 *
 * @internal
 */
export const archiveStream = (
  prefix: string,
  records: ReadonlyArray<ArchiveRecord>,
  options: ArchiveOptions & { readonly trailer?: "version" | "version and id" }
): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.suspend(() => {
    const encoder = new ArchiveEncoder(prefix, options)
    return writeRecords(records, {
      // A record copied verbatim from a zip entry keeps the CRC-32 its archive recorded.
      begin: (record) => encoder.begin(record.name, record.size, record.crc32 ?? recordedCrc32(record.data)),
      data: (chunk) => encoder.data(chunk),
      end: () => encoder.end(),
      finish: () => [...(options.trailer === undefined ? [] : encoder.trailer(options.trailer === "version and id")), encoder.finish()]
    })
  })

