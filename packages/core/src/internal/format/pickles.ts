/**
 * Where a recognized file's pickles are: every pickle a loader of its
 * format would unpickle (what `Scan` vets), and one record by name (what
 * `dis` shows). Reads only those bytes.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { ByteSource } from "../../ByteSource.js"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { openArchive, type ZipArchive } from "../container/zipArchive.js"
import type { CentralEntry } from "../container/zipFormat.js"
import { RecordBytes, streamOf } from "../container/recordBytes.js"
import { repeatedMembers } from "../container/tar.js"
import { scanPickles } from "../pickle/scanPickle.js"
import { readGrowing } from "../readWindow.js"
import { defaultLimits, parseHeader } from "../streaming/streamingFormat.js"
import type { Container } from "./container.js"
import { type ScriptCall, sourceCalls } from "./scriptCalls.js"
import { archiveProblems, foldCase } from "./torchArchive.js"

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
  /**
   * The bytes may be no pickle at all (a flatbuffer module, which torch.load
   * would still unpickle): what they reference before they stop decoding
   * counts, their not decoding does not.
   */
  readonly bestEffort?: boolean
  /** The record could not be read (a zip entry that does not inflate, say): why; `bytes` is then empty. */
  readonly error?: string
  /** A pickle too large to hold: its bytes as a stream of chunks (`bytes` is then empty), scanned as they arrive. */
  readonly chunks?: Stream.Stream<Uint8Array, TorchwireError>
}

/**
 * Why a file reads differently in different readers (a second end record or
 * directory, names that repeat once case is folded, records outside the
 * archive folder, repeated tar members): each makes a scan suspicious.
 *
 * @internal
 */
export interface Problem {
  readonly record: string
  readonly offset: number
  readonly detail: string
}

/** The most bytes read whole as one pickle to vet it; a larger one is streamed. */
const MAX_PICKLE_BYTES = 256 << 20

/** `size` bytes at `offset` of a source, as one pickle: read whole when small enough, else streamed. @internal */
export const sourcePickle = (source: ByteSource, offset: number, size: number, pickle: Omit<PickleBytes, "bytes" | "chunks">): Effect.Effect<PickleBytes, TorchwireError> =>
  size <= MAX_PICKLE_BYTES
    ? Effect.map(source.read(offset, size), (bytes) => ({ ...pickle, bytes }))
    : Effect.succeed({ ...pickle, bytes: new Uint8Array(0), chunks: streamOf(RecordBytes.SourceRange({ source, offset, size })) })

/** A zip record read as a pickle: its name ends in `pkl`, in any case (torch's reader folds case). */
const isPickleEntry = (e: CentralEntry): boolean => /pkl$/i.test(e.name)

/** A zip archive's pickles; one that cannot be read (it does not inflate, say) is given with its error. */
const zipPickles = (archive: ZipArchive): Effect.Effect<Array<PickleBytes>, TorchwireError> =>
  Effect.forEach(
    archive.entries.filter(isPickleEntry),
    (e) =>
      e.uncompressedSize > MAX_PICKLE_BYTES
        ? Effect.succeed<PickleBytes>({ record: e.name, bytes: new Uint8Array(0), count: Infinity, chunks: archive.stream(e) })
        : archive.read(e).pipe(
        Effect.map((bytes): PickleBytes => ({ record: e.name, bytes, count: Infinity })),
        Effect.catchIf((err) => err._tag === "ZipError", (err) => Effect.succeed<PickleBytes>({ record: e.name, bytes: new Uint8Array(0), count: 1, error: err.message }))
      )
  )


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
 * polyglot) gives that archive's pickles too. A flatbuffer module is given
 * as a best-effort pickle: torch.load would unpickle it.
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
        (m) => sourcePickle(source, m.offset, m.size, { record: m.name, count: Infinity })
      )
    case "Stream":
      return streamPickles(source)
    case "Legacy":
      return Effect.zipWith(legacyPickles(source), hiddenZipPickles(source), (bytes, hidden) => [{ record: "pickle", bytes, count: 5 }, ...hidden])
    case "Pickle":
      return Effect.zipWith(sourcePickle(source, 0, source.size, { record: "pickle", count: Infinity }), hiddenZipPickles(source), (pickle, hidden) => [pickle, ...hidden])
    case "Flatbuffer":
      return Effect.map(sourcePickle(source, 0, source.size, { record: "file read as a pickle (as torch.load would)", count: 1, bestEffort: true }), (p) => [p])
    case "Safetensors":
      // A JSON header and raw tensor bytes: nothing any loader unpickles.
      return Effect.succeed([])
  }
}

/**
 * What makes a container read differently in different readers: for a zip
 * archive, a second end record or directory, names that repeat once case
 * is folded and records outside the archive folder; for a tar file, member
 * names that repeat (`tarfile` takes the last, a
 * first-match reader the first).
 *
 * @internal
 */
export const problemsOf = (container: Container): Array<Problem> => {
  switch (container._tag) {
    case "Zip": {
      const { problems } = archiveProblems(container.archive)
      return problems.map((p) => ({ record: p.record ?? container.source.name, offset: p.offset, detail: p.detail }))
    }
    case "Tar": {
      const repeated = repeatedMembers(container.members).map((m) => ({
        record: m.name,
        offset: m.offset,
        detail: "the member name repeats an earlier member's (tarfile reads the last, others the first)"
      }))
      const { stoppedAt } = container
      return stoppedAt === undefined ? repeated : [
        ...repeated,
        { record: "tar header", offset: stoppedAt, detail: "an invalid tar header: tarfile (torch) stops listing members there, other readers fail or skip it" }
      ]
    }
    default:
      return []
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
      // As torch's reader finds records: ASCII case folded.
      const folded = foldCase(wanted)
      const entry = archive.entries.find((e) => foldCase(e.name) === folded || foldCase(e.name.slice(e.name.indexOf("/") + 1)) === folded)
      if (entry === undefined) return Effect.fail(missing(wanted, archive.entries.map((e) => e.name)))
      return Effect.map(archive.read(entry), (bytes) => ({ record: entry.name, bytes, count: 1 }))
    }
    case "Tar": {
      const wanted = record ?? "pickle"
      const member = container.members.find((m) => m.name === wanted)
      if (member === undefined) return Effect.fail(missing(wanted, container.members.map((m) => m.name)))
      return Effect.map(source.read(member.offset, Math.min(member.size, MAX_PICKLE_BYTES)), (bytes) => ({ record: member.name, bytes, count: 1 }))
    }
    case "Legacy":
      return Effect.map(legacyPickles(source), (bytes) => ({ record: "pickle", bytes, count: 5 }))
    case "Flatbuffer":
    case "Safetensors":
      return Effect.fail(new CheckpointError({ reason: "UnsupportedFormat", offset: 0, record: source.name, detail: `a ${container.format} file holds no pickles` }))
    default:
      return Effect.map(source.read(0, Math.min(source.size, MAX_PICKLE_BYTES)), (bytes) => ({ record: "pickle", bytes, count: 1 }))
  }
}

/**
 * What a module's printed code calls (`scriptCalls.ts`): the `code/`
 * sources of a TorchScript or mobile zip archive, each with its record.
 * (A mobile module's operators are decoded with it: `Scan` asks `Module`.)
 * Other containers hold no code.
 *
 * @internal
 */
export const sourceCallsOf = (container: Container): Effect.Effect<Array<ScriptCall & { readonly record: string }>, TorchwireError> => {
  if (container._tag !== "Zip" || container.format === "zip") return Effect.succeed([])
  const { archive } = container
  const under = (e: CentralEntry) => foldCase(e.name.slice(e.name.indexOf("/") + 1))
  const sources = archive.entries.filter((e) => under(e).startsWith("code/") && under(e).endsWith(".py"))
  return Effect.map(
    Effect.forEach(sources, (e) =>
      archive.read(e).pipe(
        Effect.map((bytes) => sourceCalls(bytes).map((c) => ({ ...c, record: e.name }))),
        Effect.catchIf((err) => err._tag === "ZipError", () => Effect.succeed([]))
      )),
    (all) => all.flat()
  )
}
