/**
 * The command line's grammar, on `@effect/cli`: every subcommand with its
 * arguments and options (each has `--help`; options take `--opt value` and
 * `--opt=value`), wired to its handler.
 *
 * @internal
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import type * as Usage from "@effect/cli/Usage"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { parseAddress } from "../internal/address.js"
import { ALL_LINES, DEFAULT_LIMIT, SCANNED_EXTENSIONS } from "./defaults.js"
import { CliIo } from "./io.js"

// The handlers load when a command runs, not at start-up: `--version`, `--help` and usage errors never evaluate
// torchwire's codecs (measured in BENCHMARKS.md).
const InspectCommands = Effect.promise(() => import("./inspectCommands.js"))
const ScanCommand = Effect.promise(() => import("./scanCommand.js"))
const TransferCommands = Effect.promise(() => import("./transferCommands.js"))

const file = (name: string, description: string) => Args.file({ name }).pipe(Args.withDescription(description))
/** A file, a folder (a distributed checkpoint's), or an http(s):// URL. */
const fileOrFolder = (name: string, description: string) => Args.path({ name }).pipe(Args.withDescription(description))
/** A file or an http(s):// URL. */
const input = (name: string, description: string) => Args.path({ name }).pipe(Args.withDescription(`${description}; or an http:// or https:// URL, read by range requests`))
const header = Options.text("header").pipe(
  Options.withPseudoName("'NAME: VALUE'"),
  Options.repeated,
  Options.withDescription("a header sent with every request for a URL (an Authorization token: never printed); repeat for more"),
  Options.withDefault<ReadonlyArray<string>>([])
)
const json = (description: string) => Options.boolean("json").pipe(Options.withDescription(description))
const dropNonTensors = Options.boolean("drop-non-tensors").pipe(
  Options.withDescription("for a .safetensors OUT, which holds tensors only: leave out the values that are not tensors (listed on stderr) instead of failing")
)
const noCrc32 = Options.boolean("no-crc32").pipe(
  Options.withDescription(
    "write every CRC-32 of the zip as 0, as torch's compute_crc32=False does: faster, and torch loads it (it never checks CRCs), but zip tools that verify CRCs reject it"
  )
)
const protocol = Options.integer("protocol").pipe(
  Options.withPseudoName("N"),
  Options.withDefault(2),
  Options.mapEffect((n) =>
    n >= 1 && n <= 5 ? Effect.succeed(n) : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--protocol must be 1 to 5, not ${n}`)))
  ),
  Options.withDescription("the pickle protocol of data.pkl (or the stream's header), 1 to 5; torch.save uses 2")
)
const address = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("HOST:PORT"),
    Options.mapEffect((text) => {
      const parsed = parseAddress(text)
      return parsed === undefined ? Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} takes HOST:PORT, not "${text}"`))) : Effect.succeed(parsed)
    }),
    Options.withDescription(description)
  )
const optional = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const inspect = Command.make("inspect", {
  file: fileOrFolder("FILE", "a checkpoint, pickle, TorchScript, mobile or flatbuffer module, stream, index of shards, a distributed checkpoint's folder, or an http:// or https:// URL (read by range requests)"),
  header,
  json: json("print the canonical JSON summary (tensor data hashed with SHA-256) instead of the tree"),
  limit: Options.integer("limit").pipe(Options.withPseudoName("N"), Options.optional, Options.withDescription(`items shown per container (default ${DEFAULT_LIMIT})`)),
  all: Options.boolean("all").pipe(Options.withDescription(`show every item of every container (at most ${ALL_LINES.toLocaleString("en-US")} lines)`))
}, (a) => Effect.flatMap(InspectCommands, (m) => m.inspect({ ...a, limit: optional(a.limit) }))).pipe(
  Command.withDescription("print a file's tree of keys, dtypes, shapes, element counts and totals")
)

const dis = Command.make("dis", {
  file: input("FILE", "a checkpoint or pickle"),
  header,
  record: Options.text("record").pipe(Options.withPseudoName("R"), Options.optional, Options.withDescription("the zip record or tar member (default data.pkl, or pickle)")),
  json: json("print every opcode with its byte offset and argument as JSON")
}, (a) => Effect.flatMap(InspectCommands, (m) => m.dis({ ...a, record: optional(a.record) }))).pipe(
  Command.withDescription("disassemble a pickle of the file, as python -m pickletools does; nothing is executed")
)

const code = Command.make("code", {
  file: input("FILE", "a TorchScript or mobile archive"),
  header,
  className: Args.text({ name: "CLASS" }).pipe(Args.optional, Args.withDescription("a class, by qualified name or its last part (default: all of code/)")),
  json: json("print an object from class (or file of code/) to source")
}, (a) => Effect.flatMap(InspectCommands, (m) => m.code({ ...a, className: optional(a.className) }))).pipe(
  Command.withDescription("print the TorchScript source of a class of a module, or all of code/")
)

const scan = Command.make("scan", {
  paths: Args.path({ name: "PATH" }).pipe(
    Args.atLeast(1),
    Args.withDescription(`files, http(s):// URLs, and folders: a distributed checkpoint's (with .metadata) scanned item by item, others searched recursively for files named ${SCANNED_EXTENSIONS.source}`)
  ),
  header,
  json: json("print the verdict and every file's globals and unreadable pickles as JSON")
}, (a) => Effect.flatMap(ScanCommand, (m) => m.scan(a))).pipe(
  Command.withDescription(
    "list every global every pickle references, classed allowed / unknown / dangerous; exit 0 safe, 1 suspicious or dangerous, 2 unreadable"
  )
)

const convert = Command.make("convert", {
  input: fileOrFolder("IN", "any file torchwire reads as a checkpoint, a distributed checkpoint's folder, or an http:// or https:// URL (read by range requests)"),
  header,
  output: fileOrFolder("OUT", "the file to write: .pt, .pth, .bin or .ckpt (a torch.save zip), .stream (the _streaming_save format), .safetensors, an index (….safetensors.index.json, ….bin.index.json) with its shards beside it, or DIR/ (a folder, existing or ending in /): a distributed checkpoint as one process's dcp.save writes it; or, from a mobile module (.ptl, .ff), .ptl (the lite interpreter's zip) or .ff (a flatbuffer module)"),
  protocol,
  computeCrc32: noCrc32,
  dropNonTensors,
  maxShardSize: Options.text("max-shard-size").pipe(
    Options.withPseudoName("SIZE"),
    Options.withDescription("for an OUT index (DIR/model.safetensors.index.json, DIR/pytorch_model.bin.index.json): the most a shard holds, as transformers' save_pretrained splits (default 5GB)"),
    Options.optional
  ),
  json: json("print what was written as JSON")
}, (a) => Effect.flatMap(TransferCommands, (m) => m.convert({ ...a, maxShardSize: optional(a.maxShardSize), computeCrc32: !a.computeCrc32 }))).pipe(
  Command.withDescription("load a checkpoint and write it in the format OUT's extension names (atomically)")
)

const send = Command.make("send", {
  file: file("FILE", "the checkpoint to send"),
  to: address("to", "the peer (a torchwire receive, or Python's _streaming_load)"),
  protocol,
  json: json("print what was sent as JSON")
}, (a) => Effect.flatMap(TransferCommands, (m) => m.send(a))).pipe(Command.withDescription("stream a checkpoint to a peer over TCP in the _streaming_save format"))

const receive = Command.make("receive", {
  listen: address("listen", "where to listen (port 0 picks a free one, printed on stderr)"),
  out: Options.file("out").pipe(Options.withPseudoName("FILE"), Options.withDescription("the file to write: .pt/.pth/.bin/.ckpt (a torch.save zip) or .stream (verbatim)")),
  computeCrc32: noCrc32,
  json: json("print what was received as JSON")
}, (a) => Effect.flatMap(TransferCommands, (m) => m.receive({ ...a, computeCrc32: !a.computeCrc32 }))).pipe(
  Command.withDescription("receive one checkpoint over TCP straight to a file, in constant memory")
)

const subcommands = [inspect, dis, code, scan, convert, send, receive] as const

/** Each subcommand's usage line, by name (what a usage error prints). @internal */
export const usageByName: ReadonlyMap<string, Usage.Usage> = new Map([
  ["inspect", Command.getUsage(inspect)],
  ["dis", Command.getUsage(dis)],
  ["code", Command.getUsage(code)],
  ["scan", Command.getUsage(scan)],
  ["convert", Command.getUsage(convert)],
  ["send", Command.getUsage(send)],
  ["receive", Command.getUsage(receive)]
])

/**
 * The whole command: `torchwire` alone prints the overview.
 *
 * @internal
 */
export const torchwire = Command.make("torchwire", {}, () =>
  Effect.flatMap(CliIo, (io) => Effect.sync(() => io.out(overview)))).pipe(
    Command.withDescription("read and write PyTorch checkpoints without Python; nothing in a file is ever executed"),
    Command.withSubcommands(subcommands)
  )

/** What `torchwire` alone prints. @internal */
export const overview = `torchwire - read and write PyTorch checkpoints without Python

Commands:
  inspect FILE [--json] [--limit N | --all]   tree of keys, dtypes, shapes, element counts, totals
  dis FILE [--record R] [--json]              disassemble a pickle (like python -m pickletools)
  code FILE [CLASS] [--json]                  TorchScript source of a class, or all of code/
  scan PATH... [--json]                       vet files and folders: every global, classed
  convert IN OUT [--protocol N] [--no-crc32]  write OUT as its extension names (.pt, .safetensors, .ptl, .ff, ...)
  send FILE --to HOST:PORT                    stream a checkpoint to a peer over TCP
  receive --listen HOST:PORT --out FILE       receive one straight to FILE

torchwire COMMAND --help shows a command's options; torchwire --version, --completions bash|zsh|fish|sh.
Exit status: 0 success, 1 failure (the message names the file, record and byte offset), 2 usage error.
Nothing in a file is ever executed; unknown globals are shown as opaque objects.
`
