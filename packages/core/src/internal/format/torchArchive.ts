/**
 * A torch zip archive's records as torch's reader finds them: the folder is
 * the first entry's; a record is looked up as `<folder>/<name>` with ASCII
 * case folded (miniz's `mz_zip_reader_locate_file` without
 * `MZ_ZIP_FLAG_CASE_SENSITIVE`, which `PyTorchStreamReader` calls), so
 * `archive/DATA.PKL` is `data.pkl`. Two entries that fold to one name (or
 * repeat one) read differently in different readers: they are refused as
 * `Ambiguous`, as are, for `Scan`, entries outside the folder.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { CheckpointError } from "../../Errors.js"
import type { ZipArchive } from "../container/zipArchive.js"
import type { CentralEntry } from "../container/zipFormat.js"

/** ASCII letters lower-cased (miniz's MZ_TOLOWER), other characters as they are. @internal */
export const foldCase = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase())

/** A torch archive's records. @internal */
export interface TorchRecords {
  /** The archive folder (the first entry's). */
  readonly prefix: string
  /** Entries by name under the folder, as written, in archive order. */
  readonly records: ReadonlyMap<string, CentralEntry>
  /** Finds a record by name under the folder as torch does (ASCII case folded). */
  readonly find: (name: string) => CentralEntry | undefined
}

/** Something that makes an archive read differently in different readers, or unreadable for torch. @internal */
export interface ArchiveProblem {
  readonly reason: "BadRecord" | "Ambiguous"
  readonly offset: number
  readonly record?: string
  readonly detail: string
}

/**
 * The archive folder and every problem of an archive: its end records read
 * two ways (`ZipArchive.ambiguities`), no entries, a first entry outside any
 * folder, entries outside the folder, entries marked as directories, names
 * with a NUL byte, names that repeat once case is folded.
 *
 * @internal
 */
export const archiveProblems = (archive: ZipArchive): { readonly prefix: string | undefined; readonly problems: Array<ArchiveProblem> } => {
  const ends: Array<ArchiveProblem> = archive.ambiguities.map((a) => ({ reason: "Ambiguous", offset: a.offset, record: "end of central directory", detail: a.detail }))
  const { prefix, problems } = nameProblems(archive)
  return { prefix, problems: [...ends, ...problems] }
}

/** The archive folder and the problems of an archive's names. */
const nameProblems = (archive: ZipArchive): { readonly prefix: string | undefined; readonly problems: Array<ArchiveProblem> } => {
  const first = archive.entries[0]
  if (first === undefined) return { prefix: undefined, problems: [{ reason: "BadRecord", offset: 0, detail: "archive does not contain any files" }] }
  const slash = first.name.indexOf("/")
  if (slash < 0) return { prefix: undefined, problems: [{ reason: "BadRecord", offset: first.centralOffset, record: first.name, detail: "file in archive is not in a subdirectory" }] }
  const prefix = first.name.slice(0, slash)
  const folder = foldCase(prefix + "/")
  const problems: Array<ArchiveProblem> = []
  const seen = new Map<string, CentralEntry>()
  for (const e of archive.entries) {
    const folded = foldCase(e.name)
    if (!folded.startsWith(folder)) {
      problems.push({ reason: "BadRecord", offset: e.centralOffset, record: e.name, detail: `record is not under the archive folder ${JSON.stringify(prefix)}` })
    }
    if (e.name.includes("\u0000")) {
      problems.push({ reason: "Ambiguous", offset: e.centralOffset, record: e.name, detail: "the name holds a NUL byte: torch's reader takes names as C strings and reads it cut short" })
    }
    if (e.isDirectory) {
      problems.push({ reason: "Ambiguous", offset: e.centralOffset, record: e.name, detail: "the entry is marked as a directory: torch's reader (miniz) reads no bytes of it and leaves its buffer as it was" })
    }
    const earlier = seen.get(folded)
    if (earlier === undefined) seen.set(folded, e)
    else {
      problems.push({
        reason: "Ambiguous",
        offset: e.centralOffset,
        record: e.name,
        detail: earlier.name === e.name ? "the name repeats an earlier record's" : `the name is ${JSON.stringify(earlier.name)} in another case (torch's reader ignores case)`
      })
    }
  }
  return { prefix, problems }
}

/**
 * The records of a torch archive, or the first problem of its names as a
 * `CheckpointError` (`BadRecord`, `Ambiguous`).
 *
 * @internal
 */
export const torchRecords = (archive: ZipArchive): Effect.Effect<TorchRecords, CheckpointError> =>
  Effect.suspend(() => {
    const { prefix, problems } = archiveProblems(archive)
    const problem = problems[0]
    if (problem !== undefined || prefix === undefined) {
      return Effect.fail(new CheckpointError({ ...problem!, ...(problem?.record === undefined ? {} : { record: problem.record }) }))
    }
    const records = new Map<string, CentralEntry>()
    const folded = new Map<string, CentralEntry>()
    for (const e of archive.entries) {
      const name = e.name.slice(prefix.length + 1)
      records.set(name, e)
      folded.set(foldCase(name), e)
    }
    return Effect.succeed({ prefix, records, find: (name: string) => folded.get(foldCase(name)) })
  })

/** Whether an archive has the record `name` right under its first entry's folder, case folded. @internal */
export const hasTorchRecord = (archive: ZipArchive, name: string): boolean => {
  const first = archive.entries[0]
  const slash = first?.name.indexOf("/") ?? -1
  if (first === undefined || slash < 0) return false
  const wanted = foldCase(`${first.name.slice(0, slash)}/${name}`)
  return archive.entries.some((e) => e.name.length === wanted.length && foldCase(e.name) === wanted)
}
