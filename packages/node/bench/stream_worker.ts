/**
 * One side of the streaming benchmark, in its own process.
 *
 *   tsx stream_worker.ts receive        listen on a free loopback port (printed as {"port"}), receive one
 *                                       checkpoint, print {"seconds" (from the first byte), "bytes", "peakRssMiB"}
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

const program: Effect.Effect<object, unknown> = mode === "receive" ? receive : send
Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)), (e) => {
  console.error(e)
  process.exit(1)
})
