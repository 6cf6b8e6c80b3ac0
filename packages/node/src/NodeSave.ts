/**
 * Saving checkpoints to files, atomically: the archive is written to a
 * temporary file beside the destination and renamed over it only once
 * complete, so a failure never leaves a half-written file at the
 * destination (and removes the temporary one).
 *
 * @since 0.1.0
 */
import { bufferRing, StreamBufferRing } from "@torchwire/core/ByteSource"
import { SourceError, type TorchwireError } from "@torchwire/core/Errors"
import * as Module from "@torchwire/core/Module"
import * as Save from "@torchwire/core/Save"
import type { PyValue } from "@torchwire/core/Value"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { open as openFile, rename, rm } from "node:fs/promises"
import { randomBytes } from "node:crypto"
import { basename, dirname, join } from "node:path"
import { acquireWriterThread, WRITE_SIZE, type WriterLease } from "./internal/writerThread.js"
import * as NodeChecksum from "./NodeChecksum.js"

/**
 * CRC-32 from Node's zlib (native) where this Node has it (`NodeChecksum.crc32`).
 *
 * @since 0.1.0
 * @category utils
 */
export const crc32 = NodeChecksum.crc32

/**
 * Options of `save`.
 *
 * @since 0.1.0
 * @category options
 */
export interface NodeSaveOptions extends Omit<Save.SaveOptions, "readAhead">, WriteOptions {}

const writeError = (path: string, cause: unknown) =>
  cause instanceof SourceError ? cause : new SourceError({ reason: "WriteFailed", source: path, offset: 0, detail: String(cause), cause })

/**
 * Fails unless a write of `length` bytes at file offset `start` wrote them
 * all. A regular file's write comes back short only when the disk or a limit
 * ran out (ENOSPC, EFBIG, a quota), and the next write would fail; the last
 * one has no next.
 */
const checkWritten = (path: string, start: number, length: number, bytesWritten: number) => {
  if (bytesWritten !== length) {
    throw new SourceError({ reason: "WriteFailed", source: path, offset: start + bytesWritten, detail: `short write: ${bytesWritten} of ${length} bytes (disk full, or a file size limit)` })
  }
}

/** Where writes are cut: one page past every MiB boundary (see `writeAtomically`). */
const CUT_OFFSET = 4096

/** Bytes written before the writes may move to the writer thread (`WriteOptions.threadAfter`): 16 MiB. */
const THREAD_AFTER = 16 << 20

/** Writes over which `writerThread: "auto"` averages the main thread's waiting. */
const WAIT_WINDOW = 16

/**
 * Milliseconds the main thread may wait for each write on libuv's threads, on
 * average, before the writes move to the writer thread: about what copying a
 * 1 MiB write into the thread's ring costs it (0.1 ms and more here).
 */
const WAIT_FOR_THREAD_MS = 0.15

/**
 * Options of `writeAtomically`.
 *
 * @since 0.1.0
 * @category options
 */
export interface WriteOptions {
  /** Called with the bytes written so far (for progress reports). */
  readonly onProgress?: (bytesWritten: number) => void
  /** fsync the file before renaming it into place (default true: durable across a crash). */
  readonly fsync?: boolean
  /**
   * Whether the writes may move to the process's writer thread, a worker
   * thread that makes them from a ring of shared slots the main thread copies
   * them into. `"auto"` (the default): once the disk keeps the main thread
   * waiting for libuv's writes (0.15 ms a write or more, over 16 writes),
   * when the thread gains more than the copy costs. `"always"`, `"never"`.
   * The process has one such thread, started for the first file that moves
   * to it and kept for 10 s after its last; a file written meanwhile stays on
   * libuv's threads.
   */
  readonly writerThread?: "auto" | "always" | "never"
  /** Bytes written before the writes may move to the writer thread (default 16 MiB). */
  readonly threadAfter?: number
}

/**
 * Writes a byte stream to `path` atomically, in writes of 1 MiB cut at the
 * file offsets k MiB + 4 KiB. At first the writes go to libuv's threads, one
 * in flight while the stream produces the bytes of the next, so CRC-32 and
 * reading overlap the disk. (Not two: the second, on another of libuv's
 * threads, waits for the file's lock, and made saves slower when measured.)
 *
 * Past `threadAfter` bytes (16 MiB), once the disk keeps the main thread
 * waiting (`writerThread`), the writes move to a worker thread that makes
 * them one after another from a ring of 8 shared slots, into which the main
 * thread copies each write's bytes: no write then waits for the main thread
 * to wake up and start it, as each does on libuv's threads (measured on
 * 2026-12-04, a 1 GiB save into fresh pages: 0.59 to 0.72 s instead of 0.83
 * to 1.09 s; BENCHMARKS.md, (d)). When the writes are fast (pages the page
 * cache recycles) the copy costs the main thread more than the round trips,
 * so the writes stay where they are. The thread starts while the writes go
 * on; if it cannot start, they stay on libuv's threads.
 *
 * Why the cuts: Linux's page cache (ext4 with large folios) gives a write
 * that covers an aligned MiB a folio of 1 MiB; one that starts a page past it
 * gets folios that grow from one page to at most 512 KiB. On a VM that hands
 * its free memory back to its host, as the one torchwire is benchmarked on
 * does, those large allocations made the same writes two to three times slower
 * (BENCHMARKS.md, (d)).
 *
 * A chunk's tail stays pending until the next cut. A chunk of 1 MiB or more
 * reaches a cut, so such a chunk is written (or copied) by the time the two
 * such chunks after it were taken in: a producer that recycles buffers for
 * them needs three. `save` reads two chunks of a source ahead
 * (`Save.SaveOptions.readAhead`), so its `StreamBufferRing` of 8 leaves room
 * for the six alive at most.
 *
 * @since 0.1.0
 * @category constructors
 */
export const writeAtomically = <E>(
  bytes: Stream.Stream<Uint8Array, E>,
  path: string,
  options: WriteOptions = {}
): Effect.Effect<number, E | SourceError> =>
  Effect.gen(function*() {
    // Unique per write, not per process and millisecond: two writes to one path at once each get their own.
    const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(8).toString("hex")}.tmp`)
    const handle = yield* Effect.tryPromise({ try: () => openFile(temp, "wx"), catch: (e) => writeError(temp, e) })
    const threadAfter = options.threadAfter ?? THREAD_AFTER
    const writerThread = options.writerThread ?? "auto"
    /** Milliseconds the main thread waited for libuv's writes, and the writes counted, since the last look. */
    let waited = 0
    let counted = 0
    /** Bytes queued so far: the file offset of the next byte. */
    let written = 0
    /** The file offset the pending write starts at. */
    let flushed = 0
    /** The file offset the pending write ends at. */
    let nextCut = CUT_OFFSET
    let pending: Array<Uint8Array> = []
    /** The write in flight on libuv's threads. */
    let inflight: Promise<unknown> = Promise.resolve()
    /** The writer thread: asked for, once leased, and once the writes moved to it. */
    let starting: Promise<WriterLease | undefined> | undefined
    let ready: WriterLease | undefined
    let thread: WriterLease | undefined
    const fromPromise = (promise: () => Promise<unknown>) => Effect.tryPromise({ try: promise, catch: (e) => writeError(temp, e) })
    /** Waits for the write in flight on libuv's threads; fails with its error. */
    const settle = fromPromise(() => inflight)
    /** Starts a write on libuv's threads once the one in flight is done. */
    const writeOnLibuv = (parts: Array<Uint8Array>, start: number, length: number) => {
      const asked = performance.now()
      return Effect.zipRight(settle, Effect.sync(() => {
        waited += performance.now() - asked
        counted += 1
        inflight = handle.writev(parts, start).then(({ bytesWritten }) => checkWritten(temp, start, length, bytesWritten))
        inflight.catch(() => undefined) // observed by the next settle
      }))
    }
    /** Whether the writes should move to the writer thread now (see `WriteOptions.writerThread`). */
    const wantsThread = () => {
      if (writerThread !== "auto") return writerThread === "always"
      if (counted < WAIT_WINDOW) return false
      const slow = waited / counted >= WAIT_FOR_THREAD_MS
      waited = 0
      counted = 0
      return slow
    }
    /** Hands a write to the writer thread (waiting only when its slots are full). */
    const writeOnThread = (to: WriterLease, parts: Array<Uint8Array>, start: number, length: number) =>
      Effect.suspend(() => {
        const copied = to.write(parts, length, start)
        return copied === undefined ? Effect.void : fromPromise(() => copied)
      })
    /** Writes what is pending: on the writer thread once it runs (after the last write on libuv's), else on libuv's. */
    const flush = Effect.suspend(() => {
      if (pending.length === 0) return Effect.void
      const parts = pending
      pending = []
      const start = flushed
      flushed = written
      const length = written - start
      if (thread !== undefined) return writeOnThread(thread, parts, start, length)
      const to = ready
      if (to !== undefined) return Effect.zipRight(settle, Effect.suspend(() => writeOnThread(thread = to, parts, start, length)))
      if (starting === undefined && start >= threadAfter && wantsThread()) {
        starting = acquireWriterThread(handle.fd, temp).then((lease) => (ready = lease))
      }
      return writeOnLibuv(parts, start, length)
    })
    /** Waits until every write is done. */
    const drain = Effect.suspend(() => thread === undefined ? settle : fromPromise(thread.finish))
    /** Queues a chunk's pieces, flushing at every cut they reach. */
    const writeChunk = (chunk: Chunk.Chunk<Uint8Array>) => {
      const pieces = Chunk.toReadonlyArray(chunk)
      let i = 0
      let rest: Uint8Array | undefined
      const loop: Effect.Effect<void, SourceError> = Effect.suspend(() => {
        for (;;) {
          const piece = rest ?? pieces[i++]
          rest = undefined
          if (piece === undefined) break
          const room = nextCut - written
          if (piece.length < room) {
            if (piece.length > 0) pending.push(piece)
            written += piece.length
            continue
          }
          pending.push(piece.subarray(0, room))
          if (room < piece.length) rest = piece.subarray(room)
          written = nextCut
          nextCut += WRITE_SIZE
          return Effect.zipRight(flush, loop)
        }
        options.onProgress?.(written)
        return Effect.void
      })
      return loop
    }
    const body = Stream.runForEachChunk(bytes, writeChunk).pipe(
        Effect.zipRight(flush),
        Effect.zipRight(drain),
        Effect.zipRight(options.fsync === false ? Effect.void : fromPromise(() => handle.sync()))
      )
    // The thread, if it took writes, is done with the file before it is closed; a lease still to come is given
    // back when it comes, without holding up the close (nothing of this file's is written through it).
    const cleanup = Effect.promise(() =>
      inflight.catch(() => undefined)
        .then(() => thread?.release() ?? void starting?.then((lease) => lease?.release()))
        .then(() => handle.close())
        .catch(() => undefined)
    )
    yield* body.pipe(
      Effect.ensuring(cleanup),
      Effect.zipRight(Effect.tryPromise({ try: () => rename(temp, path), catch: (e) => writeError(path, e) })),
      Effect.onError(() => Effect.promise(() => rm(temp, { force: true })))
    )
    return written
  })

/**
 * Saves a value to a torch.save zip archive at `path`, atomically. The
 * archive folder defaults to the file name's stem, as torch.save names it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const save = (value: PyValue, path: string, options: NodeSaveOptions = {}): Effect.Effect<number, TorchwireError> =>
  writeAtomically(
    // Storages read from files are read two chunks ahead of the disk writes, into recycled buffers (no more: see
    // the ring's size); storages in memory are not read ahead (Save.SaveOptions.readAhead).
    Save.toStream(value, { prefix: Save.prefixFor(path), ...options, readAhead: 2 }),
    path,
    options
  ).pipe(Effect.locally(StreamBufferRing, bufferRing(8)), Effect.provide(NodeChecksum.layer))

/**
 * Writes an opened module to `path`, atomically, in the form
 * `options.format` names (default: its own; a mobile `.ptl` and a
 * flatbuffer `.ff` convert to each other, see `Module.save`). A zip's
 * folder defaults to the file name's stem, as torch names it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const saveModule = (archive: Module.ScriptArchive, path: string, options: Module.SaveOptions & WriteOptions = {}): Effect.Effect<number, TorchwireError> =>
  writeAtomically(Module.save(archive, { prefix: Save.prefixFor(path), ...options }), path, options).pipe(Effect.provide(NodeChecksum.layer))
