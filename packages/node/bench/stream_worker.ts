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
 *   node stream_worker.mjs plain-receive    the baseline: listen, count one connection's bytes with node:net alone
 *   node stream_worker.mjs plain-send PORT FILE
 *                                           the baseline: FILE's bytes, read 4 MiB at a time into recycled buffers
 *                                           (one read ahead of the socket), written with node:net alone
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import type { SourceError } from "@torchwire/core/Errors"
import * as Streaming from "@torchwire/core/Streaming"
import * as NodeSource from "@torchwire/node/NodeSource"
import * as NodeStreaming from "@torchwire/node/NodeStreaming"
import type * as Socket from "@effect/platform/Socket"
import { Effect, Stream } from "effect"
import { closeSync, fstatSync, openSync, read, readFileSync } from "node:fs"
import { connect, createServer } from "node:net"

const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024
const [mode, port, file] = process.argv.slice(2)

/**
 * Listens, prints the port, hands the first connection's bytes to `consume`
 * and times it from the first byte. `consume` returns the bytes it counts.
 */
const receiveWith = (consume: (bytes: Stream.Stream<Uint8Array, Socket.SocketError | SourceError>) => Effect.Effect<number, unknown>) =>
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

/** The baseline receiver: node:net's `data` events, counted, timed from the first. */
const plainReceive = () =>
  new Promise<object>((resolve) => {
    const server = createServer((socket) => {
      let t0 = 0
      let bytes = 0
      socket.on("data", (chunk) => {
        t0 ||= performance.now()
        bytes += chunk.length
      })
      socket.on("end", () => {
        resolve({ seconds: (performance.now() - t0) / 1000, bytes, peakRssMiB: peakRssMiB() })
        socket.end()
        server.close()
      })
    }).listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port })))
  })

/**
 * The baseline sender: the file read into two recycled 4 MiB buffers, the next read running while the previous
 * chunk is written, each write waited for (as torchwire's sender does, with no format and no streams).
 */
const plainSend = () =>
  new Promise<object>((resolve, reject) => {
    const fd = openSync(file!, "r")
    const size = fstatSync(fd).size
    const buffers = [Buffer.allocUnsafe(4 << 20), Buffer.allocUnsafe(4 << 20)]
    const socket = connect(Number(port), "127.0.0.1")
    let position = 0
    const readChunk = (k: number) =>
      new Promise<Buffer>((done, fail) =>
        read(fd, buffers[k % 2]!, 0, Math.min(4 << 20, size - position), position, (e, n) => {
          if (e) return fail(e)
          position += n
          done(buffers[k % 2]!.subarray(0, n))
        }))
    const pump = async () => {
      let next = readChunk(0)
      for (let k = 1; ; k++) {
        const chunk = await next
        if (chunk.length === 0) break
        next = readChunk(k)
        await new Promise<void>((done, fail) => socket.write(chunk, (e) => (e ? fail(e) : done())))
      }
      closeSync(fd)
      socket.end(() => resolve({ sent: true }))
    }
    socket.on("connect", () => pump().catch(reject))
    socket.on("error", reject)
  })

const program: Effect.Effect<object, unknown> = mode === "receive" ? receive
  : mode === "receive-file" ? receiveFile(port!)
  : mode === "receive-pieces" ? receivePieces
  : mode === "plain-receive" ? Effect.promise(plainReceive)
  : mode === "plain-send" ? Effect.promise(plainSend)
  : send
Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)), (e) => {
  console.error(e)
  process.exit(1)
})
