/**
 * Runs a torchwire command line to an exit status: 0 success, 1 failure
 * (the message names the file, record and byte offset), 2 usage error (the
 * message, then the command's usage), or the status a command chose (scan's
 * verdicts). Nothing on bad input ends in a stack trace.
 *
 * @internal
 */
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Usage from "@effect/cli/Usage"
import * as ValidationError from "@effect/cli/ValidationError"
import { isTorchwireError } from "@torchwire/core/Errors"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { format } from "node:util"
import * as NodeChecksum from "../NodeChecksum.js"
import { torchwire, usageByName } from "./commands.js"
import { CliExit, CliIo, ExitCode, UsageError } from "./io.js"

/** The version `--version` prints (a test holds it equal to package.json's). @internal */
export const VERSION = "0.1.0"

const cli = Command.run(torchwire, { name: "torchwire", version: VERSION, executable: "torchwire" })

/**
 * Runs `args` (without node and the script) and resolves to the exit
 * status, writing through `CliIo` (@effect/cli's help and messages too).
 *
 * @internal
 */
export const run = (args: ReadonlyArray<string>): Effect.Effect<number, never, CliIo | CliApp.CliApp.Environment> =>
  Effect.flatMap(CliIo, (io) =>
    cli(["node", "torchwire", ...args]).pipe(
      Effect.as(ExitCode.ok),
      Effect.catchAll((e) => Effect.sync(() => failure(e, args, io))),
      Effect.catchAllDefect((d) =>
        Effect.sync(() => (io.err(`torchwire: ${isTorchwireError(d) ? d.message : `internal error: ${String(d)}`}\n`), ExitCode.failure))
      ),
      Effect.withConsole(consoleTo(io)),
      // zlib's CRC-32 for everything a command verifies or writes.
      Effect.provide(NodeChecksum.layer)
    ))

/** Prints a failure as its kind asks; returns the exit status. */
const failure = (e: ValidationError.ValidationError | { readonly message: string }, args: ReadonlyArray<string>, io: CliIo["Type"]): number => {
  if (e instanceof CliExit) return e.code
  if (ValidationError.isValidationError(e) || e instanceof UsageError) {
    // @effect/cli has printed its own message for a ValidationError.
    if (e instanceof UsageError) io.err(`torchwire: ${e.message}\n`)
    io.err(usageOf(args))
    return ExitCode.usage
  }
  io.err(`torchwire: ${e.message}\n`)
  return ExitCode.failure
}

/** The usage of the subcommand `args` name (or a pointer to the overview). */
const usageOf = (args: ReadonlyArray<string>): string => {
  const name = args.find((a) => !a.startsWith("-"))
  const usage = name === undefined ? undefined : usageByName.get(name)
  if (usage === undefined) return "\nUsage: torchwire COMMAND ... (torchwire --help lists the commands)\n"
  const line = stripAnsi(HelpDoc.toAnsiText(Usage.getHelp(usage))).trim().replace(/^\$ /, "")
  return `\nUsage: torchwire ${line}\nRun 'torchwire ${name} --help' for its options.\n`
}

const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "")

/** A Console writing to `CliIo` (color only where it says so), for @effect/cli's help, version and messages. */
const consoleTo = (io: CliIo["Type"]): Console.Console => {
  const write = (to: (text: string) => void) => (...args: ReadonlyArray<unknown>) => {
    const text = format(...args).replace(/\n+$/, "")
    to((io.color ? text : stripAnsi(text)) + "\n")
  }
  const log = write(io.out)
  const error = write(io.err)
  const unsafe: Console.UnsafeConsole = { ...globalThis.console, log, info: log, error, warn: error, debug: error, trace: error }
  return {
    [Console.TypeId]: Console.TypeId,
    unsafe,
    assert: () => Effect.void,
    clear: Effect.void,
    count: () => Effect.void,
    countReset: () => Effect.void,
    debug: (...a) => Effect.sync(() => error(...a)),
    dir: (...a) => Effect.sync(() => log(...a)),
    dirxml: (...a) => Effect.sync(() => log(...a)),
    error: (...a) => Effect.sync(() => error(...a)),
    group: () => Effect.void,
    groupEnd: Effect.void,
    info: (...a) => Effect.sync(() => log(...a)),
    log: (...a) => Effect.sync(() => log(...a)),
    table: (...a) => Effect.sync(() => log(...a)),
    time: () => Effect.void,
    timeEnd: () => Effect.void,
    timeLog: () => Effect.void,
    trace: (...a) => Effect.sync(() => error(...a)),
    warn: (...a) => Effect.sync(() => error(...a))
  }
}
