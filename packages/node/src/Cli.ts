/**
 * The torchwire command line: `inspect`, `inspect --json` and `dis`.
 *
 * Exit status: 0 on success, 1 when the file could not be read (a typed
 * error naming the record and byte offset is printed), 2 on usage errors.
 *
 * @since 0.1.0
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Module from "@torchwire/core/Module"
import * as Scan from "@torchwire/core/Scan"
import { CheckpointError, isTorchwireError } from "@torchwire/core/Errors"
import * as Effect from "effect/Effect"
import * as Inspect from "./Inspect.js"
import * as Streaming from "@torchwire/core/Streaming"
import type { PyValue } from "@torchwire/core/Value"
import * as NodeSave from "./NodeSave.js"
import * as NodeStreaming from "./NodeStreaming.js"
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
  torchwire code FILE [CLASS]       print the TorchScript source of a class (or of all of code/)
  torchwire scan FILE [--json]      every global every pickle in FILE references, classed allowed /
                                    unknown / dangerous; exit 0 safe, 1 suspicious or dangerous, 2 unreadable
  torchwire convert IN OUT [--protocol N] [--no-crc32]
                                    load any supported checkpoint and write OUT as the
                                    format its extension names (.pt/.pth: torch.save zip;
                                    .stream: the _streaming_save format)
  torchwire send FILE --to HOST:PORT
                                    send a checkpoint over TCP in the streaming format
  torchwire receive --listen HOST:PORT --out FILE [--no-crc32]
                                    receive one checkpoint over TCP and write it to FILE

  --no-crc32 writes a zip's CRCs as 0, as torch's compute_crc32=False does: faster, and
  torch loads it (it never checks CRCs), but zip tools that verify CRCs reject it.
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
  | { readonly _tag: "Code"; readonly file: string; readonly className: string | undefined }
  | { readonly _tag: "Scan"; readonly file: string; readonly json: boolean }
  | { readonly _tag: "Convert"; readonly input: string; readonly output: string; readonly protocol: number; readonly computeCrc32: boolean }
  | { readonly _tag: "Send"; readonly file: string; readonly to: NodeStreaming.Address }
  | { readonly _tag: "Receive"; readonly listen: NodeStreaming.Address; readonly out: string; readonly computeCrc32: boolean }
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
    if (a === "--json" || a === "--no-crc32") flags.set(a.slice(2), true)
    else if (a === "--record" || a === "--protocol" || a === "--to" || a === "--listen" || a === "--out") {
      const v = rest[++i]
      if (v === undefined) return { _tag: "Usage", error: `${a} needs a value` }
      flags.set(a.slice(2), v)
    } else if (a.startsWith("--")) return { _tag: "Usage", error: `unknown option ${a}` }
    else positional.push(a)
  }
  const computeCrc32 = !flags.has("no-crc32")
  if (!computeCrc32 && command !== "convert" && command !== "receive") return { _tag: "Usage", error: `${command} has no --no-crc32 option` }
  if (command === "send" || command === "receive") {
    const flag = command === "send" ? "to" : "listen"
    const address = NodeStreaming.parseAddress(String(flags.get(flag) ?? ""))
    if (address === undefined) return { _tag: "Usage", error: `${command} needs --${flag} HOST:PORT` }
    if (command === "send") {
      if (positional.length !== 1) return { _tag: "Usage", error: "send takes exactly one FILE" }
      return { _tag: "Send", file: positional[0]!, to: address }
    }
    const out = flags.get("out")
    if (typeof out !== "string" || positional.length !== 0) return { _tag: "Usage", error: "receive takes --listen HOST:PORT --out FILE" }
    return { _tag: "Receive", listen: address, out, computeCrc32 }
  }
  if (command === "convert") {
    if (positional.length !== 2) return { _tag: "Usage", error: "convert takes IN and OUT" }
    const protocol = Number(flags.get("protocol") ?? 2)
    if (!Number.isInteger(protocol) || protocol < 1 || protocol > 5) return { _tag: "Usage", error: "--protocol must be 1 to 5" }
    if (flags.has("json") || flags.has("record")) return { _tag: "Usage", error: "convert takes only --protocol and --no-crc32" }
    return { _tag: "Convert", input: positional[0]!, output: positional[1]!, protocol, computeCrc32 }
  }
  if (command === "code") {
    if (positional.length < 1 || positional.length > 2 || flags.size > 0) return { _tag: "Usage", error: "code takes FILE [CLASS]" }
    return { _tag: "Code", file: positional[0]!, className: positional[1] }
  }
  if (flags.has("protocol")) return { _tag: "Usage", error: `${command} has no --protocol option` }
  if (positional.length !== 1) return { _tag: "Usage", error: `${command} takes exactly one FILE` }
  const file = positional[0]!
  switch (command) {
    case "inspect":
      if (flags.has("record")) return { _tag: "Usage", error: "inspect has no --record option" }
      return { _tag: "Inspect", file, json: flags.has("json") }
    case "scan":
      if (flags.has("record")) return { _tag: "Usage", error: "scan has no --record option" }
      return { _tag: "Scan", file, json: flags.has("json") }
    case "dis":
      if (flags.has("json")) return { _tag: "Usage", error: "dis has no --json option" }
      return { _tag: "Dis", file, record: flags.get("record") as string | undefined }
    default:
      return { _tag: "Usage", error: `unknown command ${command}` }
  }
}

/**
 * A progress bar for long work: one line rewritten in place, updated at
 * most once per whole percent, silent for work under `minBytes`.
 *
 * @since 0.1.0
 * @category running
 */
export const progressReporter = (write: (text: string) => void, label: string, minBytes = 64 * 2 ** 20) => {
  let shown = -1
  return (done: number, total: number): void => {
    if (total < minBytes) return
    const percent = Math.floor((100 * done) / total)
    if (percent === shown) return
    shown = percent
    const bar = "#".repeat(Math.floor(percent / 4)).padEnd(25, ".")
    write(`\r${label} [${bar}] ${percent}% (${Inspect.formatBytes(done)} of ${Inspect.formatBytes(total)})${done >= total ? "\n" : ""}`)
  }
}

/**
 * A running byte count for work of unknown size (a checkpoint arriving):
 * one line rewritten in place every `step` bytes.
 *
 * @since 0.1.0
 * @category utils
 */
export const countReporter = (write: (text: string) => void, label: string, step = 64 * 2 ** 20) => {
  let next = step
  return {
    report: (done: number): void => {
      if (done < next) return
      next = done + step
      write(`\r${label} ${Inspect.formatBytes(done)}`)
    },
    /** Ends the line, if one was written. */
    finish: (): void => {
      if (next > step) write("\n")
    }
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
    case "Convert":
      return Effect.scoped(Effect.gen(function*() {
        const format = outputFormat(command.output)
        if (format === undefined) return yield* Effect.fail(new CheckpointError({ reason: "UnsupportedFormat", offset: 0, record: command.output, detail: "the output extension names no format torchwire writes (use .pt, .pth or .stream)" }))
        const source = yield* NodeSource.open(command.input)
        const checkpoint = yield* Checkpoint.open(source, { weightsOnly: false })
        const report = writeProgress(checkpoint.value, progress)
        const options = { protocol: command.protocol, computeCrc32: command.computeCrc32, ...(report ? { onProgress: report } : {}) }
        const written = format === "stream"
          ? yield* NodeSave.writeAtomically(Streaming.encode(checkpoint.value, options), command.output, options)
          : yield* NodeSave.save(checkpoint.value, command.output, options)
        return `${command.output}: ${checkpoint.format} → ${format}, ${Inspect.formatBytes(written)}\n`
      })).pipe(finish(out, err))
    case "Scan":
      return Effect.scoped(Effect.gen(function*() {
        const report = yield* Scan.scan(yield* NodeSource.open(command.file))
        out(command.json ? JSON.stringify({ verdict: report.verdict, globals: report.globals.map(({ module, name, class: c, record, offset }) => ({ module, name, class: c, record, offset })) }, null, 2) + "\n" : Inspect.scanReport(command.file, report))
        return report.verdict === "safe" ? 0 : 1
      })).pipe(
        Effect.catchAll((e) => Effect.sync(() => (err(`torchwire: ${e.message}\n`), 2))),
        Effect.catchAllDefect((d) => Effect.sync(() => (err(`torchwire: internal error: ${String(d)}\n`), 2)))
      )
    case "Send":
      return Effect.scoped(Effect.gen(function*() {
        const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(command.file), { weightsOnly: false })
        yield* NodeStreaming.send(checkpoint.value, command.to)
        return `${command.file}: sent to ${command.to.host}:${command.to.port}\n`
      })).pipe(finish(out, err))
    case "Receive":
      return Effect.scoped(Effect.gen(function*() {
        const listener = yield* NodeStreaming.listen(command.listen)
        err(`listening on ${listener.address.host}:${listener.address.port}\n`)
        const counter = progress === undefined ? undefined : countReporter(progress, "receiving")
        const written = yield* listener.receiveFile(command.out, { computeCrc32: command.computeCrc32, ...(counter === undefined ? {} : { onProgress: counter.report }) })
        counter?.finish()
        return `${command.out}: received, ${Inspect.formatBytes(written)}\n`
      })).pipe(finish(out, err))
    case "Inspect":
    case "Dis":
    case "Code":
      return Effect.scoped(Effect.gen(function*() {
        const source = yield* NodeSource.open(command.file)
        if (command._tag === "Dis") return yield* Inspect.dis(source, command.record)
        if (command._tag === "Code") return yield* Inspect.code(yield* Module.open(source), command.className)
        if (command.json) return yield* Inspect.json(source, progress === undefined ? undefined : progressReporter(progress, "hashing tensors"))
        const format = yield* Checkpoint.detect(source)
        if (Checkpoint.isModuleFormat(format)) return Inspect.moduleReport(yield* Module.open(source), source.name, source.size)
        return Inspect.report(yield* Inspect.openForInspect(source))
      })).pipe(finish(out, err))
  }
}

/** Prints a command's text, or its typed error; resolves to the exit status. */
const finish = (out: (text: string) => void, err: (text: string) => void) => <E extends { readonly message: string }>(self: Effect.Effect<string, E>): Effect.Effect<number> =>
  self.pipe(
    Effect.map((text) => (out(text), 0)),
    Effect.catchAll((e) => Effect.sync(() => (err(`torchwire: ${e.message}\n`), 1))),
    Effect.catchAllDefect((d) => Effect.sync(() => (err(`torchwire: internal error: ${isTorchwireError(d) ? d.message : String(d)}\n`), 1)))
  )

/**
 * The format an output path names by its extension, if torchwire writes it.
 *
 * @since 0.1.0
 * @category parsing
 */
export const outputFormat = (path: string): "zip" | "stream" | undefined =>
  /\.stream$/i.test(path) ? "stream" : /\.(pt|pth|bin|ckpt)$/i.test(path) ? "zip" : undefined

/** Progress of writing a value's storages, if there is a place to report it. */
const writeProgress = (value: PyValue, progress: ((text: string) => void) | undefined) => {
  if (progress === undefined) return undefined
  const storages = new Set(Checkpoint.tensors(value).flatMap(([, t]) => (t.storage ? [t.storage] : [])))
  const total = [...storages].reduce((n, s) => n + s.nbytes, 0)
  const bar = progressReporter(progress, "writing")
  return (done: number) => bar(Math.min(done, total), total)
}
