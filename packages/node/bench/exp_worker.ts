import * as NodeStreaming from "@torchwire/node/NodeStreaming"
import { Effect, Stream } from "effect"
const program = Effect.scoped(Effect.gen(function*() {
  const listener = yield* NodeStreaming.listen({ host: "127.0.0.1", port: 0 })
  console.log(JSON.stringify({ port: listener.address.port }))
  let t0 = 0, bytes = 0, pulls = 0
  yield* listener.accept((input) =>
    Stream.runForEachChunk(input, (c) => Effect.sync(() => { t0 ||= performance.now(); pulls++; for (const b of c) bytes += b.length })), { highWaterMark: Number(process.env.HWM ?? 4 << 20) })
  return { seconds: (performance.now() - t0) / 1000, bytes, pulls }
}))
Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)))
