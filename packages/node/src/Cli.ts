/**
 * The torchwire command line: `inspect`, `inspect --json` and `dis`.
 *
 * Exit status: 0 on success, 1 when the file could not be read (a typed
 * error naming the record and byte offset is printed), 2 on usage errors.
 *
 * @since 0.1.0
 */
import { isTorchwireError } from "@torchwire/core/Errors"
import * as Effect from "effect/Effect"
import * as Inspect from "./Inspect.js"
import * as NodeSource from "./NodeSource.js"

/**
 * The usage text.
 *
 * @since 0.1.0
 * @category constants
 */
export const usage = `torchwire - read PyTorch checkpoints without Python

Usage:
  torchwire inspect FILE            tree of keys, dtypes, shapes, element counts and totals
  torchwire inspect --json FILE     the canonical JSON summary (tensor data hashed)
  torchwire dis FILE [--record R]   disassemble a pickle (like python -m pickletools)
  torchwire --help | --version

Nothing in a file is ever executed; unknown globals are shown as opaque objects.
`

/**
 * A parsed command line.
 *
 * @since 0.1.0
 * @category models
 */
export type Command =
  | { readonly _tag: "Inspect"; readonly file: string; readonly json: boolean }
  | { readonly _tag: "Dis"; readonly file: string; readonly record: string | undefined }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Version" }
  | { readonly _tag: "Usage"; readonly error: string }

/**
 * Parses arguments (without the node and script paths).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (args: ReadonlyArray<string>): Command => {
  const [command, ...rest] = args
  if (command === undefined || command === "--help" || command === "-h" || command === "help") return { _tag: "Help" }
  if (command === "--version" || command === "-V") return { _tag: "Version" }
  const flags = new Map<string, string | true>()
  const positional: Array<string> = []
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    if (a === "--json") flags.set("json", true)
    else if (a === "--record") {
      const v = rest[++i]
      if (v === undefined) return { _tag: "Usage", error: "--record needs a name" }
      flags.set("record", v)
    } else if (a.startsWith("--")) return { _tag: "Usage", error: `unknown option ${a}` }
    else positional.push(a)
  }
  if (positional.length !== 1) return { _tag: "Usage", error: `${command} takes exactly one FILE` }
  const file = positional[0]!
  switch (command) {
    case "inspect":
      if (flags.has("record")) return { _tag: "Usage", error: "inspect has no --record option" }
      return { _tag: "Inspect", file, json: flags.has("json") }
    case "dis":
      if (flags.has("json")) return { _tag: "Usage", error: "dis has no --json option" }
      return { _tag: "Dis", file, record: flags.get("record") as string | undefined }
    default:
      return { _tag: "Usage", error: `unknown command ${command}` }
  }
}

/**
 * A progress reporter for hashing: one line rewritten in place, updated at
 * most once per whole percent, silent for work under `minBytes`.
 *
 * @since 0.1.0
 * @category running
 */
export const hashingProgress = (write: (text: string) => void, minBytes = 64 * 2 ** 20) => {
  let shown = -1
  return (done: number, total: number): void => {
    if (total < minBytes) return
    const percent = Math.floor((100 * done) / total)
    if (percent === shown) return
    shown = percent
    write(`\rhashing tensors: ${percent}% (${Inspect.formatBytes(done)} of ${Inspect.formatBytes(total)})${done >= total ? "\n" : ""}`)
  }
}

/**
 * Runs a command, writing to `out`; resolves to the exit status.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  command: Command,
  out: (text: string) => void,
  err: (text: string) => void,
  /** Where progress of long work goes (a TTY's stderr), if anywhere. */
  progress?: (text: string) => void
): Effect.Effect<number> => {
  switch (command._tag) {
    case "Help":
      return Effect.sync(() => (out(usage), 0))
    case "Version":
      return Effect.sync(() => (out("torchwire 0.1.0\n"), 0))
    case "Usage":
      return Effect.sync(() => (err(`torchwire: ${command.error}\n\n${usage}`), 2))
    case "Inspect":
    case "Dis":
      return Effect.scoped(Effect.gen(function*() {
        const source = yield* NodeSource.open(command.file)
        if (command._tag === "Dis") return yield* Inspect.dis(source, command.record)
        if (command.json) return yield* Inspect.json(source, progress === undefined ? undefined : hashingProgress(progress))
        return Inspect.report(yield* Inspect.openForInspect(source))
      })).pipe(
        Effect.map((text) => (out(text), 0)),
        Effect.catchAll((e) => Effect.sync(() => (err(`torchwire: ${e.message}\n`), 1))),
        Effect.catchAllDefect((d) =>
          Effect.sync(() => (err(`torchwire: internal error: ${isTorchwireError(d) ? d.message : String(d)}\n`), 1))
        )
      )
  }
}
