/**
 * `scan PATH...`: vets files, and every checkpoint-like file in folders
 * (recursively, as picklescan does), listing every global every pickle
 * references, classed allowed / unknown / dangerous. Nothing is executed.
 *
 * @internal
 */
import * as Scan from "@torchwire/core/Scan"
import * as Dcp from "@torchwire/core/Dcp"
import * as Shards from "@torchwire/core/Shards"
import * as Effect from "effect/Effect"
import { readdir, readFile, stat } from "node:fs/promises"
import { dirname, join } from "node:path"
import * as Inspect from "../Inspect.js"
import * as NodeDirectory from "../NodeDirectory.js"
import * as NodeShards from "../NodeShards.js"
import { isFolder, isUrl, openSource, parseHeaders } from "./sources.js"
import { SCANNED_EXTENSIONS } from "./defaults.js"
import { CliExit, CliIo, ExitCode } from "./io.js"

/** A file's scan: its report, or why it could not be read at all. @internal */
export type FileScan =
  | { readonly file: string; readonly report: Scan.Report }
  | { readonly file: string; readonly error: string }

/** The verdict over many files: the worst of theirs. @internal */
export type Verdict = Scan.Report["verdict"] | "unreadable"

const rank: Record<Verdict, number> = { safe: 0, unreadable: 1, suspicious: 2, dangerous: 3 }

/** A file's verdict (unreadable when it could not be read at all). @internal */
export const verdictOf = (scan: FileScan): Verdict => ("report" in scan ? scan.report.verdict : "unreadable")

/** Exit status for a verdict: 0 safe, 1 suspicious or dangerous, 2 unreadable. @internal */
export const exitCodeOf = (verdict: Verdict): number =>
  verdict === "safe" ? ExitCode.ok : verdict === "unreadable" ? ExitCode.unreadable : ExitCode.failure

/**
 * The files named, with every file under a named folder whose extension is
 * in `SCANNED_EXTENSIONS` (symbolic links to folders are not followed), in
 * order, and an index file's shards in its place. A path that does not
 * exist is kept: its scan says why.
 *
 * @internal
 */
export const expandPaths = (paths: ReadonlyArray<string>): Effect.Effect<Array<string>> =>
  Effect.map(
    Effect.forEach(paths, (path) =>
      Effect.promise(async () => {
        if (isUrl(path)) return [path]
        const info = await stat(path).catch(() => undefined)
        if (info !== undefined && info.isFile() && NodeShards.isIndexPath(path)) return shardsOf(path)
        if (info === undefined || !info.isDirectory()) return [path]
        // A distributed checkpoint's folder is scanned as one: its .metadata divides its data files into items.
        if (await stat(join(path, Dcp.METADATA_FILE)).then((m) => m.isFile(), () => false)) return [path]
        const entries = await readdir(path, { recursive: true, withFileTypes: true })
        return entries
          .filter((e) => e.isFile() && SCANNED_EXTENSIONS.test(e.name))
          .map((e) => join(e.parentPath ?? e.path, e.name))
          .sort()
      })),
    (lists) => lists.flat()
  )

/** The shards an index file names, beside it; the index itself when it does not parse (its scan says why). */
const shardsOf = async (indexPath: string): Promise<Array<string>> => {
  const index = await Effect.runPromise(Effect.either(Shards.parseIndex(new Uint8Array(await readFile(indexPath)), indexPath)))
  return index._tag === "Left" ? [indexPath] : [...new Set(index.right.weightMap.values())].map((f) => join(dirname(indexPath), f))
}

/** Scans one file (or URL); a failure to open or recognize it becomes its error. @internal */
export const scanFile = (file: string, headers: Readonly<Record<string, string>> = {}): Effect.Effect<FileScan, never, CliIo> =>
  Effect.scoped(Effect.flatMap(openSource(file, headers), Scan.scan)).pipe(
    Effect.map((report): FileScan => ({ file, report })),
    Effect.catchAll((e) => Effect.succeed<FileScan>({ file, error: e.message })),
    Effect.catchAllDefect((d) => Effect.succeed<FileScan>({ file, error: `internal error: ${String(d)}` }))
  )

/**
 * Scans a path `expandPaths` gave: a file, or a distributed checkpoint's
 * folder (`Dcp.scan`: its `.metadata`, then each data file's items), one
 * scan per file. @internal
 */
export const scanPath = (path: string, headers: Readonly<Record<string, string>>): Effect.Effect<Array<FileScan>, never, CliIo> =>
  Effect.flatMap(isFolder(path), (folder) =>
    folder
      ? Effect.scoped(Effect.flatMap(NodeDirectory.open(path), Dcp.scan)).pipe(
        Effect.map((scanned) => scanned.map(({ file, report }): FileScan => ({ file: join(path, file), report }))),
        Effect.catchAll((e) => Effect.succeed<Array<FileScan>>([{ file: path, error: e.message }])),
        Effect.catchAllDefect((d) => Effect.succeed<Array<FileScan>>([{ file: path, error: `internal error: ${String(d)}` }]))
      )
      : Effect.map(scanFile(path, headers), (s) => [s]))

/** The `--json` document of a scan. @internal */
export const scanJson = (scans: ReadonlyArray<FileScan>, verdict: Verdict) => ({
  verdict,
  files: scans.map((s) =>
    "report" in s
      ? {
        file: s.file,
        verdict: s.report.verdict,
        format: s.report.format,
        globals: s.report.globals.map(({ module, name, class: c, record, offset }) => ({ module, name, class: c, record, offset })),
        ...(s.report.repeats > 0 ? { repeats: s.report.repeats } : {}),
        ...(s.report.unlisted > 0 ? { unlisted: s.report.unlisted } : {}),
        unreadable: s.report.unreadable,
        problems: s.report.problems.map(({ record, offset, detail }) => ({ record, offset, detail }))
      }
      : { file: s.file, verdict: "unreadable", error: s.error }
  )
})

/**
 * `scan PATH... [--json]`: exit 0 when every file is safe, 1 when any is
 * suspicious or dangerous, 2 when none is but some could not be read.
 *
 * @internal
 */
export const scan = (args: { readonly paths: ReadonlyArray<string>; readonly header: ReadonlyArray<string>; readonly json: boolean }) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const headers = yield* parseHeaders(args.header)
    const files = yield* expandPaths(args.paths)
    const scans: Array<FileScan> = []
    for (const [i, file] of files.entries()) {
      if (files.length > 1) io.progress?.(`\rscanning ${i + 1} of ${files.length}`)
      scans.push(...yield* scanPath(file, headers))
    }
    if (files.length > 1) io.progress?.("\n")
    const verdict = scans.map(verdictOf).reduce<Verdict>((a, b) => (rank[b] > rank[a] ? b : a), "safe")
    if (args.json) io.out(JSON.stringify(scanJson(scans, verdict), null, 2) + "\n")
    else {
      for (const s of scans) {
        if ("report" in s) io.out(Inspect.scanReport(s.file, s.report))
        else io.err(`torchwire: ${s.error}\n`)
      }
      if (scans.length !== 1) io.out(summaryLine(scans))
    }
    const code = exitCodeOf(verdict)
    if (code !== ExitCode.ok) return yield* new CliExit({ code })
  })

/** "3 files: 1 dangerous, 2 safe" (folders with nothing to scan say so). */
const summaryLine = (scans: ReadonlyArray<FileScan>): string => {
  if (scans.length === 0) return "no files to scan\n"
  const counts = (["dangerous", "suspicious", "unreadable", "safe"] as const)
    .map((v) => [v, scans.filter((s) => verdictOf(s) === v).length] as const)
    .filter(([, n]) => n > 0)
  return `${scans.length} files: ${counts.map(([v, n]) => `${n} ${v}`).join(", ")}\n`
}
