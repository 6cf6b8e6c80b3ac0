/**
 * Where a recognized file's pickles are: every pickle a loader of its
 * format would unpickle (what `Scan` vets), and one record by name (what
 * `dis` shows). Reads only those bytes.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ByteSource } from "../../ByteSource.js"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { openArchive, type ZipArchive } from "../container/zipArchive.js"
import type { CentralEntry } from "../container/zipFormat.js"
import type { TarMember } from "../container/tar.js"
import { scanPickles } from "../pickle/scanPickle.js"
import { readGrowing } from "../readWindow.js"
import { defaultLimits, parseHeader } from "../streaming/streamingFormat.js"
import type { Container } from "./container.js"

/**
 * Bytes that hold pickles: the record they come from, and how many pickles
 * lie back to back in them (the legacy format's five; a stream header's one;
 * unbounded elsewhere, so a pickle appended after the first is seen too).
 *
 * @internal
 */
export interface PickleBytes {
  readonly record: string
  readonly bytes: Uint8Array
  readonly count: number
}

/** The most bytes read as one pickle: torch's loaders hold whole pickles in memory too. */
const MAX_PICKLE_BYTES = 1 << 30

/** A zip record read as a pickle when its name ends in `pkl` and it is within the limit. */
const isPickleEntry = (e: CentralEntry): boolean => /pkl$/.test(e.name) && e.uncompressedSize <= MAX_PICKLE_BYTES

const zipPickles = (archive: ZipArchive): Effect.Effect<Array<PickleBytes>, TorchwireError> =>
  Effect.forEach(archive.entries.filter(isPickleEntry), (e) => Effect.map(archive.read(e), (bytes) => ({ record: e.name, bytes, count: Infinity })))

const memberBytes = (source: ByteSource, m: TarMember): Effect.Effect<Uint8Array, TorchwireError> =>
  source.read(m.offset, Math.min(m.size, MAX_PICKLE_BYTES))

/** A zip archive behind a pickle (a polyglot file), whose pickles are vetted too; none when there is none. */
const hiddenZipPickles = (source: ByteSource): Effect.Effect<Array<PickleBytes>, TorchwireError> =>
  openArchive(source).pipe(Effect.flatMap(zipPickles), Effect.orElseSucceed(() => []))

/** The five pickles before a legacy file's storages, read through a window that grows until they fit. */
const legacyPickles = (source: ByteSource): Effect.Effect<Uint8Array, TorchwireError> =>
  readGrowing(source, 0, MAX_PICKLE_BYTES, (bytes, isLast) => {
    const result = scanPickles(bytes, "pickle", 5)
    if (result.error === undefined) return Effect.succeed(Option.some(bytes.subarray(0, result.end)))
    return Effect.succeed(isLast ? Option.some(bytes) : Option.none())
  })

/** A stream's header pickle, and the `pkl` records after it when the header parses. */
const streamPickles = (source: ByteSource): Effect.Effect<Array<PickleBytes>, TorchwireError> =>
  Effect.gen(function*() {
    const header = yield* source.read(0, Math.min(source.size, defaultLimits.maxHeaderBytes))
    const out: Array<PickleBytes> = [{ record: "stream header", bytes: header, count: 1 }]
    const parsed = yield* Effect.option(Effect.try(() => parseHeader(header, defaultLimits)))
    if (Option.isNone(parsed)) return out
    let at = parsed.value.end
    for (const entry of parsed.value.entries) {
      if (entry.key.endsWith("pkl") && at + entry.length <= source.size) out.push({ record: entry.key, bytes: yield* source.read(at, entry.length), count: Infinity })
      at += entry.length
    }
    return out
  })

/**
 * Every pickle a loader of the container's format would unpickle: a zip
 * archive's `pkl` records; a tar file's `pickle` and `sys_info`; a stream's
 * header and `pkl` records; a legacy file's five leading pickles; a bare
 * pickle. A legacy file or bare pickle that is also a zip archive (a
 * polyglot) gives that archive's pickles too. Flatbuffer modules hold none.
 *
 * @internal
 */
export const picklesOf = (container: Container): Effect.Effect<Array<PickleBytes>, TorchwireError> => {
  const { source } = container
  switch (container._tag) {
    case "Zip":
      return zipPickles(container.archive)
    case "Tar":
      return Effect.forEach(
        container.members.filter((m) => m.name === "pickle" || m.name === "sys_info"),
        (m) => Effect.map(memberBytes(source, m), (bytes) => ({ record: m.name, bytes, count: Infinity }))
      )
    case "Stream":
      return streamPickles(source)
    case "Legacy":
      return Effect.zipWith(legacyPickles(source), hiddenZipPickles(source), (bytes, hidden) => [{ record: "pickle", bytes, count: 5 }, ...hidden])
    case "Pickle":
      return Effect.zipWith(source.read(0, Math.min(source.size, MAX_PICKLE_BYTES)), hiddenZipPickles(source), (bytes, hidden) => [{ record: "pickle", bytes, count: Infinity }, ...hidden])
    case "Flatbuffer":
      return Effect.succeed([])
  }
}

/**
 * The pickle of one record: a zip record by its full name or its name under
 * the archive folder (default `data.pkl`); a tar member (default `pickle`);
 * for legacy files the five pickles before the storages (`count` 5); for
 * bare pickles and streams the file. A missing record fails with
 * `MissingRecord`, listing the records there are.
 *
 * @internal
 */
export const recordPickle = (container: Container, record?: string): Effect.Effect<PickleBytes, TorchwireError> => {
  const { source } = container
  const missing = (wanted: string, names: ReadonlyArray<string>) =>
    new CheckpointError({ reason: "MissingRecord", offset: 0, record: wanted, detail: `no such record; records: ${names.join(", ")}` })
  switch (container._tag) {
    case "Zip": {
      const wanted = record ?? "data.pkl"
      const { archive } = container
      const entry = archive.entries.find((e) => e.name === wanted || e.name.slice(e.name.indexOf("/") + 1) === wanted)
      if (entry === undefined) return Effect.fail(missing(wanted, archive.entries.map((e) => e.name)))
      return Effect.map(archive.read(entry), (bytes) => ({ record: entry.name, bytes, count: 1 }))
    }
    case "Tar": {
      const wanted = record ?? "pickle"
      const member = container.members.find((m) => m.name === wanted)
      if (member === undefined) return Effect.fail(missing(wanted, container.members.map((m) => m.name)))
      return Effect.map(memberBytes(source, member), (bytes) => ({ record: member.name, bytes, count: 1 }))
    }
    case "Legacy":
      return Effect.map(legacyPickles(source), (bytes) => ({ record: "pickle", bytes, count: 5 }))
    case "Flatbuffer":
      return Effect.fail(new CheckpointError({ reason: "UnsupportedFormat", offset: 0, record: source.name, detail: "a flatbuffer module holds no pickles" }))
    default:
      return Effect.map(source.read(0, Math.min(source.size, MAX_PICKLE_BYTES)), (bytes) => ({ record: "pickle", bytes, count: 1 }))
  }
}
