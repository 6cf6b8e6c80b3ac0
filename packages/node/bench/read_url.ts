/**
 * Benchmark worker for http.ts: opens a checkpoint at a URL (HttpSource over
 * Node's HTTP client) and
 *   keys:   lists its tensors' names and shapes;
 *   read:   reads every storage whole (what `Checkpoint.arrays` does), four at a time, keeping none;
 *   stream: streams every record of the archive in 4 MiB chunks into a ring of 8 recycled buffers
 *           (`Zip.stream` with a `StreamBufferRing`, as a convert or a send reads), two records at a time;
 * and prints the tensors, the requests made and the bytes received, as JSON. `file` instead of a URL
 * reads a file the same way (NodeSource), for comparison.
 *
 * Usage: node read_url.mjs keys|read|stream URL|FILE
 */
import { bufferRing, StreamBufferRing } from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as HttpSource from "@torchwire/core/HttpSource"
import * as Zip from "@torchwire/core/Zip"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeSource from "@torchwire/node/NodeSource"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Effect, Layer, Stream } from "effect"

const [mode, where] = process.argv.slice(2) as [string, string]
// TORCHWIRE_HTTP_CLIENT: node (node:http with a keep-alive agent, what the CLI uses; the default), fetch or undici.
const clientLayer = {
  fetch: FetchHttpClient.layer,
  node: NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: true }))),
  undici: NodeHttpClient.layerUndici
}[process.env.TORCHWIRE_HTTP_CLIENT ?? "node"]!
const started = performance.now()
const remote = /^https?:/.test(where)
const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const source = remote ? yield* HttpSource.fromUrl(where) : yield* NodeSource.open(where)
  const checkpoint = yield* Checkpoint.open(source)
  const tensors = Checkpoint.tensors(checkpoint.value)
  const shapes = tensors.map(([name, t]) => `${name} [${t.shape.join(", ")}]`)
  let bytes = 0
  if (mode === "read") {
    const storages = [...new Set(tensors.flatMap(([, t]) => (t.storage === undefined ? [] : [t.storage])))]
    yield* Effect.forEach(storages, (s) => Effect.map(s.read, (b) => void (bytes += b.length)), { concurrency: 4, discard: true })
  } else if (mode === "stream") {
    const archive = yield* Zip.open(source)
    yield* Effect.forEach(archive.entries, (entry) => Stream.runForEach(archive.stream(entry), (c) => Effect.sync(() => void (bytes += c.length))), { concurrency: 2, discard: true }).pipe(
      Effect.locally(StreamBufferRing, bufferRing(8))
    )
  }
  return { tensors: shapes.length, dataBytes: bytes, ...("stats" in source ? (source as HttpSource.HttpByteSource).stats() : {}) }
}).pipe(Effect.provide(clientLayer))))
process.stdout.write(JSON.stringify({ ...result, seconds: (performance.now() - started) / 1000 }) + "\n")
