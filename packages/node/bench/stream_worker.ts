/**
 * One side of the streaming benchmark, in its own process.
 *
 *   tsx stream_worker.ts receive        listen on a free loopback port (printed as {"port"}), receive one
 *                                       checkpoint, print {"seconds" (from the first byte), "bytes", "peakRssMiB"}
 *   tsx stream_worker.ts receive-file OUT
 *                                       the same, written straight to OUT (a .pt archive, or verbatim for .stream)
 *   tsx stream_worker.ts receive-pieces the same, as zero-copy record pieces (Streaming.pieces), nothing held
 *   tsx stream_worker.ts send PORT FILE open FILE and send it to 127.0.0.1:PORT
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Streaming from "@torchwire/core/Streaming"
import * as NodeSource from "@torchwire/node/NodeSource"
import * as NodeStreaming from "@torchwire/node/NodeStreaming"
import { Effect, Stream } from "effect"
import { readFileSync } from "node:fs"

const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024
const [mode, port, file] = process.argv.slice(2)

const receive = Effect.scoped(Effect.gen(function*() {
  const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
  console.log(JSON.stringify({ port: listener.address.port }))
  let t0 = 0
  let bytes = 0
  yield* listener.accept((input) =>
    Streaming.load(input.pipe(Stream.tap((c) => Effect.sync(() => {
      t0 ||= performance.now()
      bytes += c.length
    }))), { weightsOnly: false }))
  return { seconds: (performance.now() - t0) / 1000, bytes, peakRssMiB: peakRssMiB() }
}))

const send = Effect.scoped(Effect.gen(function*() {
  const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(file!), { weightsOnly: false })
  yield* NodeStreaming.send(checkpoint.value, { host: "127.0.0.1", port: Number(port) })
  return { sent: true }
}))

/** Receives one checkpoint straight to a file (zip, or verbatim for .stream), in constant memory. */
const receiveFile = (out: string) => Effect.scoped(Effect.gen(function*() {
  const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
  console.log(JSON.stringify({ port: listener.address.port }))
  let t0 = 0
  if (process.env.TRACE_MEM) setInterval(() => { const m = process.memoryUsage(); process.stderr.write(`rss ${(m.rss / 2 ** 20).toFixed(0)} ab ${(m.arrayBuffers / 2 ** 20).toFixed(0)} heap ${(m.heapUsed / 2 ** 20).toFixed(0)}\n`) }, 200).unref()
  const bytes = yield* listener.accept((input) =>
    NodeStreaming.writeReceived(input.pipe(Stream.tap(() => Effect.sync(() => void (t0 ||= performance.now())))), out, { fsync: false }))
  return { seconds: (performance.now() - t0) / 1000, bytes, peakRssMiB: peakRssMiB() }
}))

/** Receives one checkpoint as zero-copy record pieces (`Streaming.pieces`), holding none of it. */
const receivePieces = Effect.scoped(Effect.gen(function*() {
  const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
  console.log(JSON.stringify({ port: listener.address.port }))
  let t0 = 0
  let bytes = 0
  yield* listener.accept((input) =>
    Stream.runForEach(input.pipe(Stream.tap(() => Effect.sync(() => void (t0 ||= performance.now()))), Streaming.pieces()), (piece) =>
      Effect.sync(() => void (bytes += piece._tag === "Data" ? piece.bytes.length : 0))))
  return { seconds: (performance.now() - t0) / 1000, bytes, peakRssMiB: peakRssMiB() }
}))

const program: Effect.Effect<object, unknown> = mode === "receive" ? receive : mode === "receive-file" ? receiveFile(port!) : mode === "receive-pieces" ? receivePieces : send
Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)), (e) => {
  console.error(e)
  process.exit(1)
})
