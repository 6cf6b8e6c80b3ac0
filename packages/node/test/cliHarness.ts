/**
 * Runs the CLI in-process, as the bin does but with its output collected.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import { Effect, Layer } from "effect"
import { CliIo } from "../src/cli/io.js"
import * as Main from "../src/cli/main.js"

/** What a run printed, and its exit status. */
export interface CliRun {
  readonly code: number
  readonly out: string
  readonly err: string
  readonly progress: string
}

/** Runs `torchwire ...args`; `tty` gives it a progress writer, as a terminal's stderr would. */
export const runCli = (args: ReadonlyArray<string>, options: { readonly tty?: boolean; readonly onErr?: (text: string) => void } = {}) =>
  Effect.suspend(() => {
    let out = ""
    let err = ""
    let progress = ""
    const io = Layer.succeed(CliIo, {
      out: (t) => void (out += t),
      err: (t) => (err += t, options.onErr?.(t)),
      progress: options.tty ? (t) => void (progress += t) : undefined,
      color: false
    })
    return Main.run(args).pipe(
      Effect.provide(Layer.mergeAll(io, NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)),
      Effect.map((code): CliRun => ({ code, out, err, progress }))
    )
  })

/** The same, from its arguments. */
export const cli = (...args: Array<string>) => runCli(args)
