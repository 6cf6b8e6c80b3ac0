/**
 * The `torchwire` executable: runs the command line with the process's
 * streams (progress and color only on a TTY) and exits with its status.
 * SIGINT and SIGTERM end it at once, as the system's default does, except
 * while a command holds a temporary file: then it exits 130 or 143 once the
 * interrupted command has removed it (`cli/signals.ts`).
 *
 * @since 0.1.0
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { CliIo } from "./cli/io.js"
import { run } from "./cli/main.js"
import { caughtSignal } from "./cli/signals.js"

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text)

const io = Layer.succeed(CliIo, {
  out: write(process.stdout),
  err: write(process.stderr),
  progress: process.stderr.isTTY ? write(process.stderr) : undefined,
  color: process.stdout.isTTY === true
})

// The process stays up while the command waits on something that holds no handle of its own.
const keepAlive = setInterval(() => undefined, 2 ** 31 - 1)
const fiber = Effect.runFork(
  run(process.argv.slice(2)).pipe(Effect.provide(Layer.mergeAll(io, NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)))
)
fiber.addObserver((exit) => {
  clearInterval(keepAlive)
  const signal = caughtSignal()
  const status = signal !== undefined ? 128 + signal : Exit.isSuccess(exit) ? exit.value : 1
  // Success lets the event loop drain (output still in flight); anything else ends the process now.
  if (status === 0) process.exitCode = 0
  else process.exit(status)
})
