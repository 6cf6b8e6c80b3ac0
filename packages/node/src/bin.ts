#!/usr/bin/env node
/**
 * The `torchwire` executable.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.js"

const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text)

NodeRuntime.runMain(
  Effect.flatMap(
    Cli.run(Cli.parse(process.argv.slice(2)), write(process.stdout), write(process.stderr), process.stderr.isTTY ? write(process.stderr) : undefined),
    (code) =>
    Effect.sync(() => {
      process.exitCode = code
    })),
  { disableErrorReporting: true }
)
