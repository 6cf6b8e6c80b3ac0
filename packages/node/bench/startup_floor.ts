/**
 * The start-up benchmark's floors, bundled and loaded as the torchwire bin is: `--version` of a bare @effect/cli
 * program (one command, one argument, one option, the same platform layers as the CLI), and with `--imports-only`
 * the same modules imported and nothing run.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const inspect = Command.make("inspect", { file: Args.file({ name: "FILE" }), json: Options.boolean("json") }, (a) => Console.log(a.file, a.json))
const cli = Command.run(Command.make("floor").pipe(Command.withSubcommands([inspect])), { name: "floor", version: "0.1.0" })

if (process.argv[2] === "--imports-only") process.stdout.write("0.1.0\n")
else cli(process.argv).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)), NodeRuntime.runMain)
