/**
 * The `torchwire` executable: runs the command line with the process's
 * streams (progress and color only on a TTY), and exits 130 after SIGINT or
 * 143 after SIGTERM, once the interrupted command has closed its scopes (an
 * interrupted write leaves no file behind), or after a grace of 5 s, or at
 * a second signal.
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { CliIo } from "./cli/io.js"
import { run } from "./cli/main.js"

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text)

/** How long an interrupted command may take to close its scopes (remove temporary files) before the process ends regardless. */
const GRACE_MILLIS = 5000

/**
 * The signal that interrupted the command, if one did (runMain's own handlers do the interrupting). A second
 * signal, or a command still closing after the grace period, ends the process at once: a signal always ends it.
 */
let signal: number | undefined
for (const [name, number] of [["SIGINT", 2], ["SIGTERM", 15]] as const) {
  process.on(name, () => {
    if (signal !== undefined) process.exit(128 + signal)
    signal = number
    setTimeout(() => process.exit(128 + number), GRACE_MILLIS).unref()
  })
}

const io = Layer.succeed(CliIo, {
  out: write(process.stdout),
  err: write(process.stderr),
  progress: process.stderr.isTTY ? write(process.stderr) : undefined,
  color: process.stdout.isTTY === true
})

NodeRuntime.runMain(
  run(process.argv.slice(2)).pipe(Effect.provide(Layer.mergeAll(io, NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer))),
  {
    disableErrorReporting: true,
    teardown: (exit, onExit) =>
      onExit(signal !== undefined ? 128 + signal : Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : 1)
  }
)
