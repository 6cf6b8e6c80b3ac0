/**
 * The streaming format over loopback TCP between torchwire peers:
 * transfers, cut connections, and backpressure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Queue, Schedule, Stream } from "effect"
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "node:net"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Streaming from "@torchwire/core/Streaming"
import * as Summary from "@torchwire/core/Summary"
import { SourceError } from "@torchwire/core/Errors"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict } from "@torchwire/core/Value"
import * as NodeSave from "@torchwire/node/NodeSave"
import * as NodeSource from "@torchwire/node/NodeSource"
import * as NodeStreaming from "@torchwire/node/NodeStreaming"
import { NodeSocket } from "@effect/platform-node"
import { firstDifference, fixtureBytes, truthOf } from "@torchwire/test-utils"

/** Whether two typed arrays hold the same bytes. */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
const fixtureValue = (file: string) => Effect.map(Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(file)), { weightsOnly: false }), (c) => c.value)
const loopback = { host: "127.0.0.1", port: 0 }

describe("NodeStreaming", () => {
  it.live("send reports the bytes it has handed to the socket; a received file's header tells the total to come", () =>
    Effect.scoped(Effect.gen(function*() {
      const value = yield* fixtureValue("training_checkpoint.pt")
      const streamBytes = yield* Stream.runFold(Streaming.encode(value), 0, (n, chunk) => n + chunk.length)
      const dir = mkdtempSync(join(tmpdir(), "torchwire-progress-"))
      const listener = yield* NodeStreaming.listen(loopback)
      for (const out of ["received.pt", "received.stream"]) {
        const sent: Array<number> = []
        const headers: Array<ReadonlyArray<Streaming.Entry>> = []
        yield* Effect.all([
          listener.receiveFile(join(dir, out), { onHeader: (entries) => headers.push(entries) }),
          NodeStreaming.send(value, listener.address, { onProgress: (n) => sent.push(n) })
        ], { concurrency: 2 })
        assert.strictEqual(sent[sent.length - 1], streamBytes, out)
        assert.isTrue(sent.every((n, i) => i === 0 || n > sent[i - 1]!), "counts only grow")
        assert.strictEqual(headers.length, 1, out)
        assert.include(headers[0]!.map((e) => e.key), "data.pkl")
        const records = headers[0]!.reduce((n, e) => n + e.length, 0)
        assert.isTrue(records > 0.9 * streamBytes && records < streamBytes, `${out}: the records are all but the framing`)
      }
      rmSync(dir, { recursive: true })
    })))

  it.live("sends and receives checkpoints over loopback TCP", () =>
    Effect.scoped(Effect.gen(function*() {
      const listener = yield* NodeStreaming.listen(loopback)
      for (const file of ["training_checkpoint.pt", "mobilenet_v2_w025.pt"]) {
        const [received] = yield* Effect.all([listener.receive(), NodeStreaming.send(yield* fixtureValue(file), listener.address)], { concurrency: 2 })
        const summary = yield* Summary.summarize(received.value)
        assert.strictEqual(firstDifference({ format: "zip", value: summary }, truthOf(file)), undefined, file)
      }
    })))

  it.live("serve hands every received checkpoint to an Effect handler", () =>
    Effect.scoped(Effect.gen(function*() {
      const listener = yield* NodeStreaming.listen(loopback)
      const received = yield* Queue.unbounded<string>()
      yield* Effect.forkScoped(listener.serve((value) => Queue.offer(received, Checkpoint.tensors(value).map(([k]) => k).join(",")), { weightsOnly: false }))
      yield* NodeStreaming.send(yield* fixtureValue("linear.pt"), listener.address)
      yield* NodeStreaming.send(yield* fixtureValue("parameters.pt"), listener.address)
      assert.strictEqual(yield* Queue.take(received), "weight,bias")
      assert.strictEqual(yield* Queue.take(received), "trainable,frozen,leaf_requires_grad,plain")
    })))

  it.live("a connection cut mid-stream is a typed error and yields no checkpoint", () =>
    Effect.scoped(Effect.gen(function*() {
      const listener = yield* NodeStreaming.listen(loopback)
      const all = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(Streaming.encode(yield* fixtureValue("linear.pt")))))
      const cut = (destroy: boolean) =>
        Effect.sync(() => {
          const client = connect(listener.address.port, listener.address.host, () => {
            client.write(all.subarray(0, all.length - 20), () => (destroy ? client.resetAndDestroy() : client.end()))
          })
          client.on("error", () => {})
        })
      const fds = () => readdirSync("/proc/self/fd").length
      const before = fds()
      for (const destroy of [false, true]) {
        const [result] = yield* Effect.all([Effect.either(listener.receive()), cut(destroy)], { concurrency: 2 })
        assert.strictEqual(result._tag, "Left")
        if (result._tag === "Left") {
          assert.include(["CheckpointError", "SocketError"], result.left._tag)
          if (!destroy) assert.include(result.left.message, "Truncated")
        }
      }
      yield* Effect.sleep("50 millis")
      assert.isAtMost(fds(), before, "the failed connections' sockets were released")
    })))

  it.live("fifty clients' bad streams, while a transfer runs, end only themselves; a stalled client times out and leaves no file", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-hostile-"))
      const listener = yield* NodeStreaming.listen(loopback)
      const all = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(Streaming.encode(yield* fixtureValue("linear.pt")))))
      /** A client that sends `bytes` in two halves, `pause` apart, then ends (or stalls, never ending). */
      const client = (bytes: Buffer, pause: number, stall = false) =>
        Effect.sync(() => {
          const socket = connect(listener.address.port, listener.address.host, () => {
            socket.write(bytes.subarray(0, bytes.length >> 1))
            setTimeout(() => {
              if (stall) return
              socket.write(bytes.subarray(bytes.length >> 1), () => socket.end())
            }, pause)
          })
          socket.on("error", () => {})
          return socket
        })
      // The good transfer starts first and takes 300 ms; fifty clients sending garbage arrive meanwhile.
      const good = yield* Effect.fork(listener.receiveFile(join(dir, "good.pt")))
      yield* Effect.sleep("50 millis")
      yield* client(all, 300)
      yield* Effect.sleep("50 millis")
      for (let i = 0; i < 50; i++) yield* client(Buffer.from("garbage, not a stream at all"), 0)
      const written = yield* good.await.pipe(Effect.flatten)
      assert.strictEqual(written, statSync(join(dir, "good.pt")).size)
      // A client that sends half a stream and then nothing: the receive fails once it has been idle, no .tmp is left.
      const stalled = yield* Effect.fork(Effect.either(listener.receiveFile(join(dir, "stalled.pt"), { idleTimeoutMillis: 200 })))
      yield* Effect.sleep("50 millis")
      const socket = yield* client(all, 0, true)
      const result = yield* stalled.await.pipe(Effect.flatten)
      socket.destroy()
      assert.strictEqual(result._tag === "Left" && result.left._tag, "SourceError")
      assert.include(result._tag === "Left" ? result.left.message : "", "TimedOut): the peer sent nothing for 0.2 s")
      assert.deepStrictEqual(readdirSync(dir), ["good.pt"])
    })))

  it.live("a slow consumer slows the sender: the receiver buffers a bounded amount", () =>
    Effect.scoped(Effect.gen(function*() {
      const listener = yield* NodeStreaming.listen(loopback)
      const total = 64 << 20
      let sent = 0
      let consumed = 0
      let maxLead = 0
      // One 64 KiB buffer per stream element, so `sent` counts what was handed to the socket.
      const chunks = Stream.range(1, total / (64 << 10)).pipe(
        Stream.rechunk(1),
        Stream.map(() => new Uint8Array(64 << 10)),
        Stream.tap((c) => Effect.sync(() => void (sent += c.length)))
      )
      const sender = Effect.flatMap(NodeSocket.makeNet({ host: listener.address.host, port: listener.address.port }), (s) => NodeStreaming.sendBytes(s, chunks))
      const slowConsumer = listener.accept((bytes) =>
        Stream.runForEach(bytes, (c) =>
          Effect.sync(() => {
            consumed += c.length
            maxLead = Math.max(maxLead, sent - consumed)
          }).pipe(Effect.zipRight(Effect.sleep("1 millis")))), { highWaterMark: 1 << 20 })
      yield* Effect.all([slowConsumer, sender], { concurrency: 2 })
      assert.strictEqual(consumed, total)
      // Without backpressure the sender runs the whole 64 MiB ahead (measured: 65 MB, done in
      // 0.2 s); with it, the receiver's 1 MiB high-water mark plus the kernel's socket buffers.
      assert.isBelow(maxLead, 24 << 20, `sender ran ${maxLead} bytes ahead`)
    })))

  it.live("a 24 MiB checkpoint sent from a file arrives intact, straight to a .pt and to a .stream file", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-recv-"))
      // Storages of several 4 MiB read chunks each, so sending cycles through the buffer ring.
      const filled = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * seed))
      const original = new OrderedDict([["a", Torch.tensor(filled(3 << 20, 1))], ["b", Torch.tensor(filled(5 << 18, 2))], ["c", Torch.tensor(filled(7 << 18, 3))]])
      const source = join(dir, "source.pt")
      yield* NodeSave.save(original, source, { fsync: false })
      const sent = yield* Checkpoint.open(yield* NodeSource.open(source))
      const listener = yield* NodeStreaming.listen(loopback)
      const expected = yield* Checkpoint.arrays(original)
      for (const name of ["received.pt", "received.stream"]) {
        const out = join(dir, name)
        const [written] = yield* Effect.all([listener.receiveFile(out, { fsync: false }), NodeStreaming.send(sent.value, listener.address)], { concurrency: 2 })
        assert.strictEqual(written, statSync(out).size)
        const received = yield* Checkpoint.open(yield* NodeSource.open(out))
        assert.strictEqual(received.format, name.endsWith(".pt") ? "zip" : "stream")
        // Compared as bytes: a deep-equality diff of millions of floats takes minutes to render.
        const arrays = yield* Checkpoint.arrays(received.value)
        assert.deepStrictEqual(arrays.map(([key]) => key), expected.map(([key]) => key))
        for (const [i, [key, array]] of arrays.entries()) assert.isTrue(sameBytes(array, expected[i]![1]), `${name}: ${key} differs`)
      }
      // A stream cut short leaves no file behind, temporary or not.
      const all = Buffer.concat(Chunk.toReadonlyArray(yield* Stream.runCollect(Streaming.encode(yield* fixtureValue("linear.pt")))))
      const cut = Effect.sync(() => {
        const client = connect(listener.address.port, listener.address.host, () => void client.end(all.subarray(0, all.length - 9)))
      })
      const [failed] = yield* Effect.all([Effect.flip(listener.receiveFile(join(dir, "cut.pt"))), cut], { concurrency: 2 })
      assert.strictEqual(failed._tag === "CheckpointError" && failed.reason, "Truncated")
      assert.deepStrictEqual(readdirSync(dir).sort(), ["received.pt", "received.stream", "source.pt"])
      rmSync(dir, { recursive: true })
    })))

  it.live("serves a checkpoint over HTTP and fetches it", () =>
    Effect.scoped(Effect.gen(function*() {
      const address = yield* NodeStreaming.serveHttp(yield* fixtureValue("training_checkpoint.pt"), loopback)
      const { value } = yield* NodeStreaming.fetchHttp(`http://127.0.0.1:${address.port}/checkpoint`, { weightsOnly: false })
      const summary = yield* Summary.summarize(value)
      assert.strictEqual(firstDifference({ format: "zip", value: summary }, truthOf("training_checkpoint.pt")), undefined)
    })))

  it.live("HTTP serving caps the transfers at once (a stalled reader holds its place, the next is answered 503); fetching caps what it holds in memory", () =>
    Effect.scoped(Effect.gen(function*() {
      // 64 MiB: more than the socket buffers hold, so a reader that stops reading keeps its transfer open.
      const value = new OrderedDict([["w", Torch.tensor(new Float32Array(16 << 20))]])
      const address = yield* NodeStreaming.serveHttp(value, loopback, { maxConnections: 1, idleTimeoutMillis: 500 })
      const url = `http://127.0.0.1:${address.port}/`
      // A reader that takes the headers and then reads nothing.
      const abort = new AbortController()
      const stalled = yield* Effect.promise(() => fetch(url, { signal: abort.signal }))
      assert.strictEqual(stalled.status, 200)
      const busy = yield* Effect.promise(() => fetch(url))
      assert.strictEqual(busy.status, 503)
      // Once it hangs up, or has been idle for the timeout, its place is free again.
      abort.abort()
      const refused = yield* Effect.flip(NodeStreaming.fetchHttp(url, { weightsOnly: false, maxLoadBytes: 1000 }).pipe(
        Effect.retry({ while: (e) => e._tag === "ResponseError", schedule: Schedule.spaced("100 millis"), times: 30 })
      ))
      assert.strictEqual(refused._tag === "CheckpointError" && refused.reason, "LimitExceeded")
      assert.include(refused.message, "raise maxLoadBytes")
      const { value: fetched } = yield* NodeStreaming.fetchHttp(url).pipe(
        Effect.retry({ while: (e) => e._tag === "ResponseError", schedule: Schedule.spaced("100 millis"), times: 30 })
      )
      assert.isTrue(fetched instanceof Map)
    })))

  it.live("an HTTP body cut short, or an error status, is a typed failure", () =>
    Effect.scoped(Effect.gen(function*() {
      const f32 = Torch.dtypes.get("float32")!
      const failing = new Torch.Storage({ key: "0", dtype: f32, record: "broken", bytes: Torch.RecordBytes.Computed({ read: Effect.fail(new SourceError({ reason: "ReadFailed", source: "disk", offset: 0 })), size: 1 << 20 }) })
      const value = new OrderedDict([["ok", Torch.tensor(new Float32Array(1 << 16))], ["bad", new Torch.Tensor(f32, [1 << 18], [1], 0, failing, false)]])
      const address = yield* NodeStreaming.serveHttp(value, loopback)
      const cut = yield* Effect.flip(NodeStreaming.fetchHttp(`http://127.0.0.1:${address.port}/`))
      assert.include(["CheckpointError", "ResponseError", "RequestError"], cut._tag)
      const missing = yield* Effect.flip(NodeStreaming.fetchHttp(`http://127.0.0.1:1/`))
      assert.strictEqual(missing._tag, "RequestError")
    })))
})
