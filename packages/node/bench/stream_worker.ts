/**
 * One side of the streaming benchmark, in its own process.
 *
 *   node stream_worker.mjs receive          listen on a free loopback port (printed as {"port"}), load one
 *                                           checkpoint in memory (Streaming.load), print {"seconds" (from the
 *                                           first byte), "bytes" (received), "peakRssMiB"}
 *   node stream_worker.mjs receive-file OUT the same, written straight to OUT (a .pt archive, or verbatim for
 *                                           .stream); "bytes" is the file's size
 *   node stream_worker.mjs receive-pieces   the same, as zero-copy record pieces (Streaming.pieces), nothing held
 *   node stream_worker.mjs send PORT FILE   open FILE and send it to 127.0.0.1:PORT
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Streaming from "@torchwire/core/Streaming"
import * as NodeSource from "@torchwire/node/NodeSource"
import * as NodeStreaming from "@torchwire/node/NodeStreaming"
import type * as Socket from "@effect/platform/Socket"
import { Effect, Stream } from "effect"
import { readFileSync } from "node:fs"

const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024
const [mode, port, file] = process.argv.slice(2)

/**
 * Listens, prints the port, hands the first connection's bytes to `consume`
 * and times it from the first byte. `consume` returns the bytes it counts.
 */
const receiveWith = (consume: (bytes: Stream.Stream<Uint8Array, Socket.SocketError>) => Effect.Effect<number, unknown>) =>
  Effect.scoped(Effect.gen(function*() {
    const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
    console.log(JSON.stringify({ port: listener.address.port }))
    let t0 = 0
    const bytes = yield* listener.accept((input) => consume(input.pipe(Stream.tap(() => Effect.sync(() => void (t0 ||= performance.now()))))))
    return { seconds: (performance.now() - t0) / 1000, bytes, peakRssMiB: peakRssMiB() }
  }))

const receive = receiveWith((input) => {
  let bytes = 0
  return Effect.zipRight(Streaming.load(input.pipe(Stream.tap((c) => Effect.sync(() => void (bytes += c.length)))), { weightsOnly: false }), Effect.sync(() => bytes))
})

/** Straight to a file (zip, or verbatim for .stream), in constant memory. */
const receiveFile = (out: string) => receiveWith((input) => NodeStreaming.writeReceived(input, out, { fsync: false }))

/** As zero-copy record pieces (`Streaming.pieces`), holding none of it. */
const receivePieces = receiveWith((input) => {
  let bytes = 0
  return Effect.zipRight(
    Stream.runForEach(input.pipe(Streaming.pieces()), (piece) => Effect.sync(() => void (bytes += piece._tag === "Data" ? piece.bytes.length : 0))),
    Effect.sync(() => bytes)
  )
})

const send = Effect.scoped(Effect.gen(function*() {
  const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(file!), { weightsOnly: false })
  yield* NodeStreaming.send(checkpoint.value, { host: "127.0.0.1", port: Number(port) })
  return { sent: true }
}))

const program: Effect.Effect<object, unknown> = mode === "receive" ? receive : mode === "receive-file" ? receiveFile(port!) : mode === "receive-pieces" ? receivePieces : send
Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)), (e) => {
  console.error(e)
  process.exit(1)
})
