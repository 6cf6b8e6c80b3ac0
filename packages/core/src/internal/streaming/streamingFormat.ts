/**
 * The `_streaming_save` wire format (format-facts §12): a protocol-2 pickle
 * of a list of `torch.distributed._serialization._Entry` objects (key,
 * is_storage, length), then every record's bytes back to back.
 *
 * The decoder is a pure push parser: feed it chunks as they arrive; it
 * parses the header as soon as its STOP arrives, then emits each record as
 * it completes. Only the header and the record being assembled are held.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { CheckpointError, PickleError } from "../../Errors.js"
import { makeOpcodeDecoder } from "../pickle/opcodeStream.js"
import { PyGlobal, PyObject, type PyValue } from "../../Value.js"
import { concatBytes } from "../bytes.js"
import { pickle } from "../pickle/pickler.js"
import { decodeRecord } from "../torch/records.js"
import { unpickle } from "../pickle/unpickler.js"
import type { PushDecoder } from "../pushDecoder.js"

/** The entry class, as the wire names it. @internal */
export const ENTRY = new PyGlobal("torch.distributed._serialization", "_Entry")

/** One `_Entry`. @internal */
export interface StreamEntry {
  readonly key: string
  readonly isStorage: boolean
  readonly length: number
}

/** Limits of the decoder. @internal */
export interface StreamLimits {
  /** Largest header pickle (default 16 MiB). */
  readonly maxHeaderBytes: number
  /** Most entries (default 1,000,000). */
  readonly maxEntries: number
  /** Largest record (default 64 GiB; one record is held whole while it arrives). */
  readonly maxRecordBytes: number
}

/** Safe defaults. @internal */
export const defaultLimits: StreamLimits = { maxHeaderBytes: 16 << 20, maxEntries: 1_000_000, maxRecordBytes: 64 * 2 ** 30 }

const EntryState = Schema.Struct({
  key: Schema.String,
  is_storage: Schema.Boolean,
  length: Schema.Number.pipe(Schema.int(), Schema.nonNegative())
})

const HEADER = "stream header"

/**
 * Whether a key names a record as torch writes them (`data.pkl`, `byteorder`,
 * `.format_version`, `data/0`): relative, `/`-separated, no empty, `.` or
 * `..` segment, no backslash or NUL. Anything else could name a path
 * outside the archive folder once written into a zip.
 *
 * @internal
 */
export const isRecordName = (key: string): boolean =>
  key.length > 0 && key.length <= 4096 && !/[\\\0]/.test(key) && key.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..")

/** True when the first bytes are a stream header (a pickle naming `_Entry`). @internal */
export const looksLikeStream = (head: Uint8Array): boolean =>
  head[0] === 0x80 && new TextDecoder("latin1").decode(head.subarray(0, 256)).includes("torch.distributed._serialization")

/** The header pickle for these entries, as `pickle.dump(entries, f, protocol=2)` writes it. @internal */
export const encodeHeader = (entries: ReadonlyArray<StreamEntry>, protocol = 2): Uint8Array =>
  pickle(
    entries.map((e) => {
      const o = new PyObject(ENTRY, [], "newobj")
      o.state = new Map<PyValue, PyValue>([["key", e.key], ["is_storage", e.isStorage], ["length", e.length]])
      return o
    }),
    { protocol }
  )

/**
 * Parses a header pickle into validated entries. Only the `_Entry` global is
 * accepted (as `_weights_only_unpickler` with `_Entry` allowlisted).
 *
 * @internal
 */
export const parseHeader = (bytes: Uint8Array, limits: StreamLimits): { readonly entries: Array<StreamEntry>; readonly end: number } => {
  const { value, end } = unpickle(bytes, 0, {
    record: HEADER,
    findClass: (module, name, site) => {
      if (module === ENTRY.module && name === ENTRY.name) return ENTRY
      throw new PickleError({ reason: "ForbiddenGlobal", offset: site.offset, record: HEADER, detail: `global ${module}.${name} is not allowed in a stream header` })
    }
  })
  if (!Array.isArray(value)) throw new CheckpointError({ reason: "BadRecord", offset: 0, record: HEADER, detail: "the header is not a list of entries" })
  if (value.length > limits.maxEntries) {
    throw new CheckpointError({ reason: "LimitExceeded", offset: 0, record: HEADER, detail: `${value.length} entries exceed the limit of ${limits.maxEntries}` })
  }
  const seen = new Set<string>()
  const entries = value.map((item, i): StreamEntry => {
    const where = { record: `${HEADER} entry ${i}`, offset: 0 }
    if (!(item instanceof PyObject) || item.cls !== ENTRY || !(item.state instanceof Map)) {
      throw new CheckpointError({ ...where, reason: "BadRecord", detail: "not an _Entry with state" })
    }
    const state = decodeRecord(EntryState, Object.fromEntries(item.state as Map<string, PyValue>), where)
    if (state.length > limits.maxRecordBytes) {
      throw new CheckpointError({ ...where, reason: "LimitExceeded", detail: `record ${state.key} of ${state.length} bytes exceeds the limit of ${limits.maxRecordBytes}` })
    }
    if (!isRecordName(state.key)) {
      throw new CheckpointError({ ...where, reason: "BadRecord", detail: `record name ${JSON.stringify(state.key)} is not a relative path inside the archive` })
    }
    if (seen.has(state.key)) throw new CheckpointError({ ...where, reason: "BadRecord", detail: `record ${state.key} appears twice` })
    seen.add(state.key)
    return { key: state.key, isStorage: state.is_storage, length: state.length }
  })
  return { entries, end }
}

/** What the decoder emits: the entries once the header is parsed, then each record. @internal */
export type StreamPart =
  | { readonly _tag: "Header"; readonly entries: ReadonlyArray<StreamEntry> }
  | { readonly _tag: "Record"; readonly entry: StreamEntry; readonly bytes: Uint8Array }

/**
 * What the piece decoder emits: the entries once the header is parsed, then
 * every record as one or more consecutive `Data` pieces (views of the input
 * chunks, never copies): the first at `offset` 0, the last with `last` set;
 * `at` is the stream offset of the piece's first byte. A zero-length record
 * is one empty piece.
 *
 * @internal
 */
export type StreamPiece =
  | { readonly _tag: "Header"; readonly entries: ReadonlyArray<StreamEntry> }
  | { readonly _tag: "Data"; readonly entry: StreamEntry; readonly bytes: Uint8Array; readonly offset: number; readonly at: number; readonly last: boolean }


/**
 * A push decoder of a stream into pieces, holding nothing but the header
 * while it arrives. Throws typed errors; not reusable after one.
 *
 * @internal
 */
export const makePieceDecoder = (limits: StreamLimits = defaultLimits): PushDecoder<StreamPiece> => {
  const scanner = makeOpcodeDecoder({ record: HEADER, untilStop: true })
  let headerChunks: Array<Uint8Array> = []
  let headerBytes = 0
  let entries: Array<StreamEntry> | undefined
  let index = 0 // the record being received
  let filled = 0 // its bytes received so far
  let consumed = 0 // bytes of the stream consumed so far

  /** Zero-length records complete at once, at stream offset `at`. */
  const emptyRecords = (out: Array<StreamPiece>, at: number) => {
    while (index < entries!.length && entries![index]!.length === 0) {
      out.push({ _tag: "Data", entry: entries![index]!, bytes: new Uint8Array(0), offset: 0, at, last: true })
      index++
    }
  }

  const takeRecords = (chunk: Uint8Array, out: Array<StreamPiece>) => {
    let p = 0
    while (p < chunk.length) {
      if (index >= entries!.length) {
        throw new CheckpointError({ reason: "TrailingBytes", offset: consumed + p, record: "stream", detail: `${chunk.length - p}+ bytes follow the last record` })
      }
      const entry = entries![index]!
      const n = Math.min(entry.length - filled, chunk.length - p)
      const last = filled + n === entry.length
      out.push({ _tag: "Data", entry, bytes: chunk.subarray(p, p + n), offset: filled, at: consumed + p, last })
      p += n
      filled += n
      if (last) {
        filled = 0
        index++
        emptyRecords(out, consumed + p)
      }
    }
    consumed += chunk.length
  }

  /** Buffers header bytes until the header pickle's STOP, then parses it. */
  const takeHeader = (chunk: Uint8Array, out: Array<StreamPiece>) => {
    headerChunks.push(chunk)
    headerBytes += chunk.length
    const stop = scanner.push(chunk).find((op) => op.name === "STOP")
    if ((stop === undefined ? headerBytes : stop.offset + 1) > limits.maxHeaderBytes) {
      throw new CheckpointError({ reason: "LimitExceeded", offset: limits.maxHeaderBytes, record: HEADER, detail: `header exceeds ${limits.maxHeaderBytes} bytes` })
    }
    if (stop === undefined) return
    const all = concatBytes(headerChunks)
    headerChunks = []
    const parsed = parseHeader(all.subarray(0, stop.offset + 1), limits)
    entries = parsed.entries
    out.push({ _tag: "Header", entries })
    consumed = parsed.end
    emptyRecords(out, consumed)
    takeRecords(all.subarray(parsed.end), out)
  }

  return {
    push: (chunk) => {
      const out: Array<StreamPiece> = []
      if (entries !== undefined) takeRecords(chunk, out)
      else takeHeader(chunk, out)
      return out
    },
    end: () => {
      if (entries === undefined) {
        throw new CheckpointError({ reason: "Truncated", offset: headerBytes, record: HEADER, detail: "the stream ends inside its header" })
      }
      if (index < entries.length) {
        const entry = entries[index]!
        throw new CheckpointError({ reason: "Truncated", offset: consumed, record: entry.key, detail: `the stream ends ${entry.length - filled} bytes into record ${JSON.stringify(entry.key)} (${index + 1} of ${entries.length})` })
      }
      return []
    }
  }
}

/**
 * A push decoder of a stream into whole records: a record within one input
 * chunk is a view of it, a longer one is assembled in its own buffer (so
 * only the header and the record being assembled are held).
 *
 * @internal
 */
export const makeDecoder = (limits: StreamLimits = defaultLimits): PushDecoder<StreamPart> => {
  const pieces = makePieceDecoder(limits)
  let assembling: Uint8Array | undefined
  const assemble = (piece: StreamPiece): StreamPart | undefined => {
    if (piece._tag === "Header") return piece
    if (piece.offset === 0 && piece.last) return { _tag: "Record", entry: piece.entry, bytes: piece.bytes }
    assembling ??= new Uint8Array(piece.entry.length)
    assembling.set(piece.bytes, piece.offset)
    if (!piece.last) return undefined
    const bytes = assembling
    assembling = undefined
    return { _tag: "Record", entry: piece.entry, bytes }
  }
  return {
    push: (chunk) => pieces.push(chunk).map(assemble).filter((p): p is StreamPart => p !== undefined),
    end: () => (pieces.end(), [])
  }
}
