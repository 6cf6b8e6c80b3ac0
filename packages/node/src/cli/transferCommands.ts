/**
 * The commands that move a checkpoint: `convert` (to a file), `send` and
 * `receive` (over TCP, in the `_streaming_save` format). Every file is
 * written atomically: an interrupted or failed write leaves nothing behind
 * (a signal, caught while the file is written, interrupts the write).
 *
 * @internal
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Module from "@torchwire/core/Module"
import { bufferRing, StreamBufferRing } from "@torchwire/core/ByteSource"
import type { TorchwireError } from "@torchwire/core/Errors"
import * as Safetensors from "@torchwire/core/Safetensors"
import * as Shards from "@torchwire/core/Shards"
import * as Streaming from "@torchwire/core/Streaming"
import type { PyValue } from "@torchwire/core/Value"
import type * as Socket from "@effect/platform/Socket"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Inspect from "../Inspect.js"
import * as NodeDcp from "../NodeDcp.js"
import * as NodeSave from "../NodeSave.js"
import * as NodeShards from "../NodeShards.js"
import * as NodeSource from "../NodeSource.js"
import * as NodeStreaming from "../NodeStreaming.js"
import { CliIo, UsageError } from "./io.js"
import { countReporter, progressReporter } from "./progress.js"
import { holdingSignals } from "./signals.js"
import { isFolder, isUrl, openSource, parseHeaders } from "./sources.js"

/**
 * The format an output path names by its extension; a usage error when
 * torchwire writes no format of that name.
 *
 * @internal
 */
export const outputFormat = (path: string): Effect.Effect<"zip" | "stream" | "safetensors" | "dcp" | "mobile" | "flatbuffer", UsageError> =>
  /[\\/]$/.test(path)
    ? Effect.succeed("dcp")
    : /\.ptl$/i.test(path)
    ? Effect.succeed("mobile")
    : /\.ff$/i.test(path)
    ? Effect.succeed("flatbuffer")
    : /\.stream$/i.test(path)
    ? Effect.succeed("stream")
    : /\.safetensors$/i.test(path)
    ? Effect.succeed("safetensors")
    : /\.(pt|pth|bin|ckpt)$/i.test(path)
    ? Effect.succeed("zip")
    : Effect.fail(new UsageError({ detail: `${path}: the extension names no format torchwire writes (use .pt, .pth, .bin, .ckpt, .stream or .safetensors, DIR/ for a distributed checkpoint's folder, or .ptl or .ff for a mobile module)` }))

/** The bytes of a value's distinct storages: the total a write's progress counts toward. @internal */
export const storageBytes = (value: PyValue): number => {
  const storages = new Set(Checkpoint.tensors(value).flatMap(([, t]) => (t.storage ? [t.storage] : [])))
  return [...storages].reduce((n, s) => n + s.nbytes, 0)
}

/** A progress callback for writing `value`, where there is a place to report it. */
const progressOf = (value: PyValue, progress: ((text: string) => void) | undefined, label: string) => {
  if (progress === undefined) return {}
  const total = storageBytes(value)
  const bar = progressReporter(progress, label)
  return { onProgress: (done: number) => bar(done, total) }
}

/**
 * `convert IN OUT`: loads any checkpoint torchwire reads (describing, not
 * policing, its globals) and writes OUT as its extension names. A zip
 * input's records are CRC-checked as they are copied, so OUT never carries a
 * CRC that disagrees with its data.
 *
 * @internal
 */
export const convert = (args: {
  readonly input: string
  /** `--header` lines, for a URL input. */
  readonly header: ReadonlyArray<string>
  readonly output: string
  readonly protocol: number
  readonly computeCrc32: boolean
  readonly dropNonTensors: boolean
  readonly maxShardSize: string | undefined
  readonly json: boolean
}) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const sharded = NodeShards.isIndexPath(args.output)
    const format = sharded ? "sharded" : (yield* isFolder(args.output)) ? "dcp" : yield* outputFormat(args.output)
    if (format === "mobile" || format === "flatbuffer") return yield* convertModule(args, format)
    const maxShardSize = args.maxShardSize === undefined ? undefined : Shards.parseSize(args.maxShardSize)
    if (maxShardSize === undefined && args.maxShardSize !== undefined) return yield* new UsageError({ detail: `--max-shard-size ${args.maxShardSize}: a size is bytes, or a number with KB, MB, GB or TB` })
    if (maxShardSize !== undefined && !sharded) return yield* new UsageError({ detail: "--max-shard-size splits into shards: OUT must be an index (model.safetensors.index.json, pytorch_model.bin.index.json)" })
    const checkpoint = yield* openInput(args.input, yield* parseHeaders(args.header))
    const options = { protocol: args.protocol, computeCrc32: args.computeCrc32, ...progressOf(checkpoint.value, io.progress, "writing") }
    const bytes = yield* holdingSignals(
      format === "sharded"
        ? writeShards(checkpoint.value, args.output, { dropNonTensors: args.dropNonTensors, ...(maxShardSize === undefined ? {} : { maxShardSize }) }, io)
        : format === "stream"
        ? NodeSave.writeAtomically(Streaming.encode(checkpoint.value, options), args.output, options)
        : format === "safetensors"
        ? writeSafetensors(checkpoint, args.output, { ...options, dropNonTensors: args.dropNonTensors }, io)
        : format === "dcp"
        ? Effect.map(NodeDcp.save(checkpoint.value, args.output), (saved) => saved.bytes)
        : NodeSave.save(checkpoint.value, args.output, options)
    )
    reportConverted(io, args, checkpoint.format, format, bytes)
  }).pipe(Effect.scoped)

/** What convert says it wrote: a line, or with --json the object docs/cli-json.md describes. */
const reportConverted = (
  io: CliIo["Type"],
  args: { readonly input: string; readonly output: string; readonly json: boolean },
  from: string,
  to: string,
  bytes: number
) =>
  io.out(
    args.json
      ? JSON.stringify({ input: args.input, output: args.output, from, to, bytes }) + "\n"
      : `${args.output}: ${from} → ${to}, ${Inspect.formatBytes(bytes)}\n`
  )

/**
 * `convert model.ptl model.ff` and back: a mobile module written in the
 * other form (or the same one, rewritten), atomically.
 */
const convertModule = (args: { readonly input: string; readonly header: ReadonlyArray<string>; readonly output: string; readonly json: boolean }, format: "mobile" | "flatbuffer") =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const archive = yield* Module.open(yield* openSource(args.input, yield* parseHeaders(args.header)))
    const bytes = yield* holdingSignals(NodeSave.saveModule(archive, args.output, { format }))
    reportConverted(io, args, archive.format, format, bytes)
  })

/** What convert reads: a checkpoint, a sharded one through its index, or a distributed checkpoint's folder. */
const openInput = (
  input: string,
  headers: Readonly<Record<string, string>>
): Effect.Effect<Pick<Checkpoint.Checkpoint, "value" | "metadata"> & { readonly format: Checkpoint.Checkpoint["format"] | "sharded" }, TorchwireError, Scope.Scope | CliIo> =>
  NodeShards.isIndexPath(input) && !isUrl(input)
    ? Effect.map(NodeShards.open(input, { weightsOnly: false, checkCrc: true }), (s) => ({ value: s.value, format: "sharded" as const }))
    : Effect.flatMap(isFolder(input), (folder) =>
      folder
        ? NodeDcp.open(input, { weightsOnly: false, checkCrc: true })
        : Effect.flatMap(openSource(input, headers), (source) => Checkpoint.open(source, { weightsOnly: false, checkCrc: true })))

/** Writes shards and an index (`NodeShards.save`), saying the files on stderr; the bytes written. */
const writeShards = (value: PyValue, output: string, options: NodeShards.SaveOptions, io: CliIo["Type"]) =>
  Effect.map(NodeShards.save(value, output, options), (saved) => {
    io.err(`wrote ${saved.files.join(", ")}\n`)
    return saved.bytes
  })

/**
 * Writes a checkpoint's tensors as a safetensors file, with the metadata
 * transformers writes (`format: pt`, or the input's own when it is a
 * safetensors file); says on stderr which names it left out (aliases of a
 * tensor written under another name, and with `--drop-non-tensors` the
 * values that are not tensors).
 */
const writeSafetensors = (
  checkpoint: Pick<Checkpoint.Checkpoint, "value" | "metadata">,
  output: string,
  options: { readonly onProgress?: (done: number) => void; readonly dropNonTensors: boolean },
  io: CliIo["Type"]
) =>
  Effect.gen(function*() {
    const plan = yield* Safetensors.plan(checkpoint.value, { metadata: checkpoint.metadata ?? new Map([["format", "pt"]]), dropNonTensors: options.dropNonTensors })
    if (plan.dropped.length > 0) io.err(`${output}: left out (aliases of tensors written once, and values that are not tensors): ${plan.dropped.join(", ")}\n`)
    // Reads into recycled buffers, as NodeSave.save's (two read ahead of the writes, so a ring of 8 suffices).
    return yield* NodeSave.writeAtomically(Safetensors.toStream(plan, { readAhead: 2 }), output, options).pipe(Effect.locally(StreamBufferRing, bufferRing(8)))
  })

/**
 * Says where a connection failed: host, port and the system's error
 * (`ECONNREFUSED`, `ENOTFOUND`), instead of the socket layer's words.
 *
 * @internal
 */
export const connectMessage = (to: NodeStreaming.Address, e: Socket.SocketError): string => {
  const cause = "cause" in e ? e.cause : undefined
  const system = cause instanceof Error ? ("code" in cause && typeof cause.code === "string" ? `${cause.code} (${cause.message})` : cause.message) : String(cause ?? e.message)
  return e.reason === "Open" || e.reason === "OpenTimeout"
    ? `cannot connect to ${to.host}:${to.port}: ${system}`
    : `${to.host}:${to.port}: the connection failed while sending: ${system}`
}

/** A connection that failed, worded by `connectMessage`. @internal */
export class ConnectionFailed extends Data.TaggedError("ConnectionFailed")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/**
 * `send FILE --to HOST:PORT`: streams a checkpoint to a peer, with progress
 * toward the storages' total on a TTY.
 *
 * @internal
 */
export const send = (args: { readonly file: string; readonly to: NodeStreaming.Address; readonly protocol: number; readonly json: boolean }) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(args.file), { weightsOnly: false, checkCrc: true })
    let sent = 0
    const report = progressOf(checkpoint.value, io.progress, "sending").onProgress
    yield* NodeStreaming.send(checkpoint.value, args.to, { protocol: args.protocol, onProgress: (n) => (sent = n, report?.(n)) }).pipe(
      Effect.catchTag("SocketError", (e) => new ConnectionFailed({ detail: connectMessage(args.to, e) }))
    )
    const to = `${args.to.host}:${args.to.port}`
    io.out(args.json ? JSON.stringify({ file: args.file, to, bytes: sent }) + "\n" : `${args.file}: sent to ${to}, ${Inspect.formatBytes(sent)}\n`)
  }).pipe(Effect.scoped)

/**
 * `receive --listen HOST:PORT --out FILE`: receives one checkpoint straight
 * to FILE (a `.pt` archive, or `.stream` verbatim) in constant memory; on a
 * TTY a running count, then a bar once the stream's header says the total.
 *
 * @internal
 */
export const receive = (args: { readonly listen: NodeStreaming.Address; readonly out: string; readonly computeCrc32: boolean; readonly json: boolean }) =>
  Effect.gen(function*() {
    const io = yield* CliIo
    const format = yield* outputFormat(args.out)
    if (format !== "zip" && format !== "stream") {
      return yield* new UsageError({ detail: `${args.out}: receive writes a torch.save archive (.pt, .pth, .bin, .ckpt) or the stream as it comes (.stream), not ${format}` })
    }
    const listener = yield* NodeStreaming.listen(args.listen)
    io.err(`listening on ${listener.address.host}:${listener.address.port}\n`)
    const counter = io.progress === undefined ? undefined : countReporter(io.progress, "receiving")
    const bytes = yield* holdingSignals(listener.receiveFile(args.out, {
      computeCrc32: args.computeCrc32,
      ...(counter === undefined ? {} : {
        onProgress: counter.report,
        onHeader: (entries) => counter.setTotal(entries.reduce((n, e) => n + e.length, 0))
      })
    })).pipe(Effect.ensuring(Effect.sync(() => counter?.finish())))
    io.out(args.json ? JSON.stringify({ output: args.out, bytes }) + "\n" : `${args.out}: received, ${Inspect.formatBytes(bytes)}\n`)
  }).pipe(Effect.scoped)
