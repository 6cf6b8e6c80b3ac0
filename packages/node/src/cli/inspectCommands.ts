/**
 * The commands that describe a file: `inspect`, `dis` and `code`. They
 * never execute anything a file holds: globals outside torch's allowlist
 * are shown as opaque objects.
 *
 * @internal
 */
import * as Container from "@torchwire/core/Container"
import * as Module from "@torchwire/core/Module"
import * as Effect from "effect/Effect"
import * as Inspect from "../Inspect.js"
import * as NodeDcp from "../NodeDcp.js"
import * as NodeShards from "../NodeShards.js"
import { ALL_LINES, DEFAULT_LIMIT } from "./defaults.js"
import { CliIo, UsageError } from "./io.js"
import { progressReporter } from "./progress.js"
import { isFolder, openSource, parseHeaders } from "./sources.js"

/** Arguments of `inspect`. @internal */
export interface InspectArgs {
  readonly file: string
  /** `--header` lines, for a URL. */
  readonly header: ReadonlyArray<string>
  readonly json: boolean
  readonly limit: number | undefined
  readonly all: boolean
}

/** The tree options `--limit N` / `--all` ask for. @internal */
export const treeOptions = (args: Pick<InspectArgs, "limit" | "all">): Effect.Effect<Inspect.TreeOptions, UsageError> => {
  if (args.all && args.limit !== undefined) return Effect.fail(new UsageError({ detail: "--limit and --all exclude each other" }))
  if (args.limit !== undefined && args.limit < 1) return Effect.fail(new UsageError({ detail: "--limit must be 1 or more" }))
  return Effect.succeed(args.all ? { maxItems: Infinity, maxLines: ALL_LINES } : { maxItems: args.limit ?? DEFAULT_LIMIT })
}

/**
 * `inspect FILE`: the tree (or, for modules, the module tree); with `--json`
 * the canonical summary, hashing tensor data with progress on a TTY.
 *
 * @internal
 */
export const inspect = (args: InspectArgs) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    if (args.json && (args.all || args.limit !== undefined)) {
      return yield* new UsageError({ detail: "--limit and --all shape the tree; --json prints the whole summary" })
    }
    const options = yield* treeOptions(args)
    const progress = io.progress === undefined ? undefined : progressReporter(io.progress, "hashing tensors")
    if (NodeShards.isIndexPath(args.file)) {
      const sharded = yield* NodeShards.open(args.file, { weightsOnly: false })
      return io.out(args.json ? yield* Inspect.shardedJson(sharded, progress) : Inspect.shardedReport(args.file, sharded, options))
    }
    const headers = yield* parseHeaders(args.header)
    if (yield* isFolder(args.file)) {
      const checkpoint = yield* NodeDcp.open(args.file, { weightsOnly: false })
      return io.out(args.json ? yield* Inspect.openedJson(checkpoint, progress) : Inspect.report(checkpoint, options))
    }
    const source = yield* openSource(args.file, headers)
    if (args.json) {
      return io.out(yield* Inspect.json(source, io.progress === undefined ? undefined : progressReporter(io.progress, "hashing tensors")))
    }
    const container = yield* Container.open(source)
    io.out(
      Container.isModuleFormat(container.format)
        ? Inspect.moduleReport(yield* Module.open(container), source.name, source.size)
        : Inspect.report(yield* Inspect.openForInspect(container), options)
    )
  }).pipe(Effect.scoped)

/**
 * `dis FILE [--record R]`: disassembly as `pickletools.dis` prints it, or
 * every opcode as JSON.
 *
 * @internal
 */
export const dis = (args: { readonly file: string; readonly header: ReadonlyArray<string>; readonly record: string | undefined; readonly json: boolean }) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const source = yield* openSource(args.file, yield* parseHeaders(args.header))
    if (!args.json) return io.out(yield* Inspect.dis(source, args.record))
    for (const chunk of yield* Inspect.disJsonChunks(source, args.record)) io.out(chunk)
  }).pipe(Effect.scoped)

/**
 * `code FILE [CLASS]`: the TorchScript source of a class, or all of
 * `code/`; as JSON, an object from class (or file) to source.
 *
 * @internal
 */
export const code = (args: { readonly file: string; readonly header: ReadonlyArray<string>; readonly className: string | undefined; readonly json: boolean }) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const archive = yield* Module.openCode(yield* openSource(args.file, yield* parseHeaders(args.header)))
    if (!args.json) return io.out(yield* Inspect.code(archive, args.className))
    const json = args.className === undefined
      ? { code: Object.fromEntries(archive.code) }
      : { classes: Object.fromEntries((yield* Inspect.classesNamed(archive, args.className)).map((c) => [c.qualifiedName, c.source])) }
    io.out(JSON.stringify(json, null, 2) + "\n")
  }).pipe(Effect.scoped)
