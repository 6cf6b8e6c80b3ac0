/**
 * The streaming format over TCP, on @effect/platform's Socket and
 * SocketServer: send a checkpoint to a peer, or listen and receive them.
 *
 * Backpressure runs end to end: the receiver pauses its connection while
 * more than `highWaterMark` bytes are buffered and unconsumed (so a slow
 * consumer slows the sender through TCP), and the sender writes a chunk only
 * once the previous one was handed to the kernel.
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { bufferRing, StreamBufferRing } from "@torchwire/core/ByteSource"
import { SourceError, type TorchwireError } from "@torchwire/core/Errors"
import * as Save from "@torchwire/core/Save"
import * as Streaming from "@torchwire/core/Streaming"
import type { PyValue } from "@torchwire/core/Value"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"
import * as address from "./internal/address.js"
import * as NodeChecksum from "./NodeChecksum.js"
import * as NodeSave from "./NodeSave.js"
import type * as Net from "node:net"

/**
 * Where to connect or listen.
 *
 * @since 0.1.0
 * @category models
 */
export type Address = address.Address

/**
 * Parses `HOST:PORT` (IPv6 hosts in brackets: `[::1]:9000`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAddress: (text: string) => Address | undefined = address.parseAddress

/**
 * Options of `receiveBytes`.
 *
 * @since 0.2.0
 * @category options
 */
export interface ReceiveOptions {
  /** Pause the connection while more than this many bytes wait unread (default 4 MiB). */
  readonly highWaterMark?: number
  /** Fail when the peer sends nothing for this long while the consumer waits (default 60 s). */
  readonly idleTimeoutMillis?: number
}

/** How long a receiver waits for a silent peer, by default. */
const IDLE_TIMEOUT_MILLIS = 60_000

/**
 * The bytes a socket receives, as a Stream with backpressure: the
 * connection is paused while more than `highWaterMark` bytes wait unread.
 * The stream ends when the peer ends the connection, and fails with a
 * `SocketError` if it breaks, or if the peer sends nothing for
 * `idleTimeoutMillis` while the consumer waits (a stalled sender cannot
 * hold a receiver, and its half-written file, forever).
 *
 * @since 0.1.0
 * @category constructors
 */
export const receiveBytes = (socket: Socket.Socket, options: ReceiveOptions = {}): Stream.Stream<Uint8Array, Socket.SocketError | SourceError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const high = options.highWaterMark ?? 4 << 20
    const idle = options.idleTimeoutMillis ?? IDLE_TIMEOUT_MILLIS
    let received: Array<Uint8Array> = [] // arrived, not yet pulled
    let buffered = 0
    let total = 0 // bytes received, for the offset of an error
    let ended: Exit.Exit<void, Socket.SocketError> | undefined
    let wake: (() => void) | undefined // the pull waiting for data
    let wakeScheduled = false
    let conn: Net.Socket | undefined
    let paused = false
    const wakeNow = () => {
      wakeScheduled = false
      const w = wake
      wake = undefined
      w?.()
    }
    const accept = (chunk: Uint8Array) => {
      received.push(chunk)
      buffered += chunk.length
      total += chunk.length
      if (buffered > high && !paused && conn !== undefined) {
        paused = true
        conn.pause()
      }
      // A waiting pull is woken once per event-loop turn, with every chunk read in it: one pull
      // per batch of socket reads, not per 64 KiB read.
      if (wake !== undefined && !wakeScheduled) {
        wakeScheduled = true
        setImmediate(wakeNow)
      }
    }
    // The first chunk's handler is an Effect, to reach the raw socket (for pause/resume); later
    // ones run synchronously, so no fiber is forked per `data` event.
    const onChunk = (chunk: Uint8Array) =>
      conn !== undefined ? accept(chunk) : Effect.map(Effect.serviceOption(NodeSocket.NetSocket), (raw) => {
        conn ??= Option.getOrUndefined(raw)
        accept(chunk)
      })
    yield* Effect.forkScoped(Effect.flatMap(Effect.exit(socket.run(onChunk)), (exit) => Effect.sync(() => {
      ended = Exit.asVoid(exit)
      wakeNow()
    })))
    const pull: Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<Socket.SocketError | SourceError>> = Effect.suspend(() => {
      if (received.length > 0) {
        const batch = received
        received = []
        buffered = 0
        if (paused) {
          paused = false
          conn?.resume()
        }
        return Effect.succeed(Chunk.unsafeFromArray(batch))
      }
      if (ended !== undefined) return Exit.isSuccess(ended) ? Effect.fail(Option.none()) : Effect.failCause(Cause.map(ended.cause, Option.some))
      const arrival = Effect.async<void>((resume) => {
        wake = () => resume(Effect.void)
        return Effect.sync(() => void (wake = undefined))
      })
      return arrival.pipe(
        Effect.timeoutFail({
          duration: idle,
          onTimeout: () => Option.some(new SourceError({ reason: "TimedOut", source: "connection", offset: total, detail: `the peer sent nothing for ${idle / 1000} s` }))
        }),
        Effect.zipRight(pull)
      )
    })
    return Stream.repeatEffectChunkOption(pull)
  }))

/**
 * Writes a byte stream to a socket, one chunk at a time, then ends the
 * connection and waits for the peer to close it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sendBytes = <E>(socket: Socket.Socket, bytes: Stream.Stream<Uint8Array, E>): Effect.Effect<void, E | Socket.SocketError> =>
  Effect.gen(function*() {
    const closed = yield* Deferred.make<void, Socket.SocketError>()
    yield* Effect.forkScoped(Effect.flatMap(Effect.exit(socket.run(() => Effect.void)), (exit) => Deferred.done(closed, exit)))
    const writing = Effect.scoped(Effect.flatMap(socket.writer, (write) => Stream.runForEach(bytes, write)))
    // If the connection fails to open or ends first, the writer would wait for it forever.
    const endedFirst = Effect.flatMap(Effect.exit(Deferred.await(closed)), (exit) =>
      Exit.isFailure(exit)
        ? Effect.failCause(exit.cause)
        : Effect.fail(new Socket.SocketGenericError({ reason: "Write", cause: new Error("the peer closed the connection before the stream was sent") })))
    yield* Effect.raceFirst(writing, endedFirst)
    yield* Deferred.await(closed).pipe(Effect.catchTag("SocketError", (e) => (e.reason === "Close" ? Effect.void : Effect.fail(e))))
  }).pipe(Effect.scoped)

/**
 * Options of `send`.
 *
 * @since 0.1.0
 * @category options
 */
export interface SendOptions {
  /** The header pickle's protocol (default 2, as torch). */
  readonly protocol?: number
  /** Called with the bytes handed to the socket so far, once per chunk. */
  readonly onProgress?: (bytesSent: number) => void
}

/** The stream, reporting the bytes that have passed (counted afresh each run). */
const counted = <E>(bytes: Stream.Stream<Uint8Array, E>, onProgress: ((bytes: number) => void) | undefined): Stream.Stream<Uint8Array, E> =>
  onProgress === undefined ? bytes : Stream.suspend(() => {
    let sent = 0
    return Stream.map(bytes, (chunk) => (onProgress((sent += chunk.length)), chunk))
  })

/**
 * Sends a value to `host:port` in the streaming format.
 *
 * @since 0.1.0
 * @category constructors
 */
export const send = (value: PyValue, to: Address, options: SendOptions = {}): Effect.Effect<void, TorchwireError | Socket.SocketError> =>
  Effect.flatMap(NodeSocket.makeNet({ host: to.host, port: to.port }), (socket) =>
    sendBytes(socket, counted(Streaming.encode(value, options), options.onProgress)).pipe(
      // The socket writer is done with a chunk before it pulls the next, so one chunk is alive at a time and
      // file chunks can cycle through two buffers (a fresh ring per send). No read-ahead: a 4 MiB read from the
      // page cache is a fraction of its write, and a read-ahead buffer (Stream.buffer) cost the sender about 30%
      // more CPU (its own fiber and queue, and six more buffers of fresh memory) for no faster transfer
      // (BENCHMARKS.md, (e)).
      Effect.locally(StreamBufferRing, bufferRing(2))
    ))

/**
 * A listening TCP server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Listener {
  /** The address it is bound to (port 0 resolved). */
  readonly address: Address
  /**
   * Hands the next connection's bytes (backpressured) to `handle`, and
   * returns its result. One connection is taken; others that arrive while
   * it runs are closed at once, so they cannot end or slow it.
   */
  readonly accept: <A, E>(
    handle: (bytes: Stream.Stream<Uint8Array, Socket.SocketError | SourceError>) => Effect.Effect<A, E>,
    options?: ReceiveOptions
  ) => Effect.Effect<A, E | Socket.SocketError>
  /**
   * Receives one checkpoint: loads the next connection's stream (held in
   * memory) and returns its value. A connection cut mid-stream fails with
   * a typed error and yields no value.
   */
  readonly receive: (options?: Streaming.LoadOptions & ReceiveOptions) => Effect.Effect<Streaming.Loaded, TorchwireError | Socket.SocketError>
  /**
   * Receives one checkpoint straight to a file, atomically, in constant
   * memory: as a torch.save zip archive (records written through as they
   * arrive), or verbatim for a `.stream` path (checked as it passes; open it
   * lazily with `Checkpoint.open`). Returns the bytes written. A connection
   * cut mid-stream or a malformed stream is a typed failure and leaves no
   * file.
   */
  readonly receiveFile: (path: string, options?: ReceiveFileOptions) => Effect.Effect<number, TorchwireError | Socket.SocketError>
  /**
   * Hands every received checkpoint to `handler`: up to `maxConnections`
   * (default 4) at once, each held in memory; a connection beyond them is
   * closed at once, and a failing one ends only itself.
   */
  readonly serve: <E, R>(
    handler: (value: PyValue) => Effect.Effect<void, E, R>,
    options?: Streaming.LoadOptions & ReceiveOptions & { readonly maxConnections?: number }
  ) => Effect.Effect<never, SocketServer.SocketServerError, R>
}

/**
 * Options of `Listener.receiveFile`.
 *
 * @since 0.1.0
 * @category options
 */
export interface ReceiveFileOptions extends ReceiveOptions {
  /** "zip" (a torch.save archive) or "stream" (verbatim); default by extension: `.stream` is "stream". */
  readonly format?: "zip" | "stream"
  /** Called with the bytes written so far. */
  readonly onProgress?: (bytesWritten: number) => void
  /** fsync before renaming into place (default true). */
  readonly fsync?: boolean
  /** For "zip": compute CRC-32s (default true); false writes 0s, as `Save.SaveOptions.computeCrc32`. */
  readonly computeCrc32?: boolean
  readonly limits?: Partial<Streaming.Limits>
  /** Called once the stream's header has arrived, with its entries (their lengths add up to the bytes to come). */
  readonly onHeader?: (entries: ReadonlyArray<Streaming.Entry>) => void
}

/**
 * The file a received byte stream becomes: a torch.save archive converted
 * as it arrives, or the stream verbatim (validated on the way).
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeReceived = <E>(bytes: Stream.Stream<Uint8Array, E>, path: string, options: ReceiveFileOptions = {}): Effect.Effect<number, E | TorchwireError> => {
  const format = options.format ?? (/\.stream$/i.test(path) ? "stream" : "zip")
  const file = format === "stream"
    ? bytes.pipe(Streaming.validate(options.limits, options.onHeader ? { onHeader: options.onHeader } : {}))
    : bytes.pipe(Streaming.toArchive({
      ...(options.onHeader ? { onHeader: options.onHeader } : {}),
      prefix: Save.prefixFor(path),
      ...(options.computeCrc32 === undefined ? {} : { computeCrc32: options.computeCrc32 }),
      ...(options.limits ? { limits: options.limits } : {})
    }))
  return NodeSave.writeAtomically(file, path, options).pipe(Effect.provide(NodeChecksum.layer))
}

/** Closes a connection at once (destroyed: a half-open one would otherwise keep the server from closing). */
const refuse = (socket: Socket.Socket): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    const write = yield* socket.writer
    yield* Effect.forkScoped(socket.run(() => Effect.void))
    yield* write(new Socket.CloseEvent(1000))
  })).pipe(Effect.ignore)

/**
 * Listens on `host:port` (port 0 picks a free one). Closed with the Scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (at: Address): Effect.Effect<Listener, SocketServer.SocketServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* NodeSocketServer.make({ host: at.host, port: at.port })
    const bound = server.address
    const address = bound._tag === "TcpAddress" ? { host: bound.hostname, port: bound.port } : at
    const accept: Listener["accept"] = <A, E>(
      handle: (bytes: Stream.Stream<Uint8Array, Socket.SocketError | SourceError>) => Effect.Effect<A, E>,
      options: ReceiveOptions = {}
    ) =>
      Effect.gen(function*() {
        const result = yield* Deferred.make<A, E | Socket.SocketError>()
        let taken = false
        const running = yield* Effect.fork(server.run((socket) => {
          // One connection only: one that arrives while it runs, or after, is closed at once.
          if (taken) return refuse(socket)
          taken = true
          return Effect.flatMap(Effect.exit(handle(receiveBytes(socket, options))), (exit) => Deferred.done(result, exit))
        }))
        return yield* Deferred.await(result).pipe(Effect.ensuring(running.interruptAsFork(running.id())))
      })
    const serve: Listener["serve"] = (handler, options = {}) => {
      let open = 0
      const most = options.maxConnections ?? 4
      return server.run((socket) => {
        if (open >= most) return refuse(socket)
        open++
        return Streaming.load(receiveBytes(socket, options), options).pipe(
          Effect.flatMap((r) => handler(r.value)),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => void open--))
        )
      })
    }
    return {
      address,
      accept,
      receive: (options) => accept((bytes) => Streaming.load(bytes, options), options),
      receiveFile: (path, options) => accept((bytes) => writeReceived(bytes, path, options), options),
      serve
    }
  })

/**
 * Serves a value in the streaming format over HTTP: every GET receives the
 * stream as an `application/octet-stream` body, encoded as it is sent
 * (storages read from their sources chunk by chunk), up to
 * `maxConnections` (default 16) at once; more are answered 503, and a
 * connection idle for `idleTimeoutMillis` (default 60 s: a reader that
 * stopped reading) is closed. Runs until the Scope closes; returns the
 * bound address (port 0 picks a free one).
 *
 * @since 0.1.0
 * @category constructors
 */
export const serveHttp = (
  value: PyValue,
  at: Address,
  options: { readonly protocol?: number; readonly maxConnections?: number; readonly idleTimeoutMillis?: number } = {}
): Effect.Effect<Address, HttpServerError.ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    // Loaded on first use: the HTTP server stack is large, and nothing else here needs it.
    const NodeHttpServer = yield* Effect.promise(() => import("@effect/platform-node/NodeHttpServer"))
    // A connection idle that long (a reader that stopped reading) is destroyed, and gives its place back.
    const idle = options.idleTimeoutMillis ?? 60_000
    const server = yield* NodeHttpServer.make(() => createServer().setTimeout(idle), { host: at.host, port: at.port })
    // Each response holds at most a chunk of the stream in flight; a cap on responses bounds what stalled readers hold.
    const most = options.maxConnections ?? 16
    let open = 0
    yield* server.serve(Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      // Only a GET streams (and counts): a HEAD has no body to end, so it could never give its place back.
      if (request.method === "HEAD") return HttpServerResponse.empty({ status: 200, headers: { "content-type": "application/octet-stream" } })
      if (request.method !== "GET") return HttpServerResponse.text("only GET\n", { status: 405, headers: { allow: "GET, HEAD" } })
      if (open >= most) return HttpServerResponse.text("busy: too many transfers at once\n", { status: 503 })
      open++
      const body = Streaming.encode(value, options).pipe(Stream.ensuring(Effect.sync(() => void open--)))
      return HttpServerResponse.stream(body, { contentType: "application/octet-stream" })
    }))
    const bound = server.address
    return bound._tag === "TcpAddress" ? { host: bound.hostname, port: bound.port } : at
  })

/**
 * Fetches a checkpoint in the streaming format from a URL and loads it
 * (the body is decoded as it arrives; the request is Node's global `fetch`). A non-2xx status, a connection cut
 * mid-body, or a malformed stream is a typed failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fetchHttp = (url: string, options: Streaming.LoadOptions = {}): Effect.Effect<Streaming.Loaded, TorchwireError | HttpClientError.HttpClientError> =>
  Effect.gen(function*() {
    const client = (yield* HttpClient.HttpClient).pipe(HttpClient.filterStatusOk)
    const response = yield* client.get(url)
    return yield* Streaming.load(response.stream, options)
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
