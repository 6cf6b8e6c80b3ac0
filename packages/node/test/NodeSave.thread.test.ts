/**
 * Past `threadAfter` bytes, `NodeSave.writeAtomically` hands its writes to
 * the process's writer thread (src/internal/writerThread.ts). The threads
 * started are recorded here (`node:worker_threads` wrapped), with the ring
 * they share, so a test can tell which writes went through the thread; one
 * test gives the thread a file it cannot write to (`node:fs/promises`
 * wrapped: the handle's `fd`, which only the thread uses). The worker's loop
 * is also run on the main thread with a fake `fs`, for the failures a real
 * disk rarely gives. Each test starts with no thread.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Worker as NodeWorker, WorkerOptions } from "node:worker_threads"
import { vi } from "vitest"
import { SourceError } from "@torchwire/core/Errors"
import * as NodeSave from "@torchwire/node/NodeSave"
import { CONTROL, retireWriterThread, writerData, type WriterLoop, writerLoopSource } from "../src/internal/writerThread.js"

/** The worker's loop, made from its source as the worker makes it, to run here. */
const writerLoop = new Function(`return ${writerLoopSource}`)() as WriterLoop

/** The writer threads started, each with its ring and a promise of its start; `fd`, when set, is what file handles say their fd is. */
const started = vi.hoisted(() => ({
  threads: [] as Array<{ readonly worker: NodeWorker; readonly control: Int32Array; readonly online: Promise<unknown> }>,
  fd: undefined as number | undefined
}))

vi.mock("node:worker_threads", async (importOriginal) => {
  const threads = await importOriginal<typeof import("node:worker_threads")>()
  class Recorded extends threads.Worker {
    constructor(source: string, options: WorkerOptions) {
      super(source, options)
      started.threads.push({ worker: this, control: new Int32Array(options.workerData.control), online: new Promise((resolve) => this.once("online", resolve)) })
    }
  }
  return { ...threads, Worker: Recorded }
})

vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>()
  const swapped = (handle: FileHandle): FileHandle =>
    new Proxy(handle, {
      get: (target, key) => {
        if (key === "fd") return started.fd ?? target.fd
        const member = Reflect.get(target, key)
        return typeof member === "function" ? member.bind(target) : member
      }
    })
  return { ...fs, open: (...args: Parameters<typeof fs.open>) => fs.open(...args).then(swapped) }
})

afterEach(async () => {
  await retireWriterThread()
  started.threads.length = 0
})

const MiB = 1 << 20

/** `size` bytes of a pseudo-random pattern. */
const pattern = (size: number) => {
  const bytes = new Uint8Array(size)
  for (let i = 0, x = 12345; i < size; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
  return bytes
}

/** `bytes` cut into chunks of uneven sizes, up to 3 MiB. */
const chunksOf = (bytes: Uint8Array) => {
  const chunks: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = [1, 70_000, 3 * MiB, MiB, 300_000, MiB + 1][i % 6]!
    chunks.push(bytes.subarray(at, at += size))
  }
  return chunks
}

/** The writes `writeAtomically` makes of `size` bytes: the first 4 KiB, then 1 MiB each. */
const writesOf = (size: number) => 1 + Math.ceil((size - 4096) / MiB)

/** Writes published to a ring so far. */
const publishedTo = (control: Int32Array) => Atomics.load(control, CONTROL.published)

/**
 * The chunks of `bytes` as a stream that, before its chunk `k`, waits until
 * the first writer thread runs (and a little more, for its start to reach the
 * writer: it goes through a few promises).
 */
const waitingForThread = (bytes: Uint8Array, k: number) => {
  const waitForThread = Effect.suspend(() => Effect.promise(() => started.threads[0]!.online)).pipe(Effect.zipRight(Effect.sleep("20 millis")))
  return Stream.fromIterable(chunksOf(bytes)).pipe(
    Stream.zipWithIndex,
    Stream.mapEffect(([chunk, i]) => i === k ? Effect.as(waitForThread, chunk) : Effect.succeed(chunk))
  )
}

/** Runs `f` in a fresh temporary directory, removed after. */
const inTempDir = <A, E>(f: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "torchwire-thread-"))),
    f,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true }))
  )

describe("NodeSave.writeAtomically on a writer thread", () => {
  it.live("with threadAfter 0, starts the thread at the first write and makes every write after it there, the same file as on libuv's threads; the next file reuses it", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const bytes = pattern(5 * MiB + 12_345)
        const onLibuv = join(dir, "libuv.bin")
        yield* NodeSave.writeAtomically(Stream.fromIterable(chunksOf(bytes)), onLibuv, { fsync: false, writerThread: "never" })
        assert.strictEqual(started.threads.length, 0)
        // The first write (4 KiB) is made when the second chunk comes in, and the thread runs before the third.
        const onThread = join(dir, "thread.bin")
        const written = yield* NodeSave.writeAtomically(waitingForThread(bytes, 2), onThread, { threadAfter: 0, writerThread: "always" })
        assert.strictEqual(written, bytes.length)
        assert.isTrue(readFileSync(onThread).equals(bytes))
        assert.isTrue(readFileSync(onLibuv).equals(bytes))
        assert.strictEqual(started.threads.length, 1)
        const [thread] = started.threads
        assert.strictEqual(publishedTo(thread!.control), writesOf(bytes.length) - 1)
        // The thread is kept: the next file gets it at its first write (it takes over from the second).
        const again = join(dir, "again.bin")
        yield* NodeSave.writeAtomically(Stream.fromIterable(chunksOf(bytes)), again, { threadAfter: 0, writerThread: "always" })
        assert.isTrue(readFileSync(again).equals(bytes))
        assert.strictEqual(started.threads.length, 1)
        assert.strictEqual(publishedTo(thread!.control), 2 * (writesOf(bytes.length) - 1))
        assert.deepStrictEqual(readdirSync(dir).sort(), ["again.bin", "libuv.bin", "thread.bin"])
        yield* Effect.promise(retireWriterThread)
        assert.strictEqual(thread!.worker.threadId, -1) // exited
      })))

  it.live("starts the thread at the first write past threadAfter and moves the writes to it once it runs", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const bytes = pattern(12 * MiB + 777)
        // The thread starts at the third write (the first past 1 MiB); the producer waits for it at its ninth chunk
        // (past 5 MiB), and the writes up to there are made on libuv's threads.
        const path = join(dir, "out.bin")
        yield* NodeSave.writeAtomically(waitingForThread(bytes, 8), path, { fsync: false, threadAfter: MiB, writerThread: "always" })
        assert.isTrue(readFileSync(path).equals(bytes))
        assert.strictEqual(started.threads.length, 1)
        const published = publishedTo(started.threads[0]!.control)
        assert.isAbove(published, 0)
        assert.isBelow(published, writesOf(bytes.length) - 4)
      })))

  it.live("a file done before the thread runs is not held up by it: its writes all stay on libuv's threads", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const bytes = pattern(3 * MiB)
        const path = join(dir, "out.bin")
        yield* NodeSave.writeAtomically(Stream.fromIterable(chunksOf(bytes)), path, { fsync: false, threadAfter: 0, writerThread: "always" })
        assert.isTrue(readFileSync(path).equals(bytes))
        assert.strictEqual(started.threads.length, 1)
        assert.strictEqual(publishedTo(started.threads[0]!.control), 0)
        yield* Effect.promise(() => started.threads[0]!.online)
      })))

  it.live("fails with the thread's write error, naming the temporary file and the offset, leaves the destination as it was, and the thread writes the next file", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "out.bin")
        writeFileSync(path, "previous contents")
        started.fd = openSync(path, "r") // what the thread is told to write to: a file it cannot write (EBADF)
        const error = yield* NodeSave.writeAtomically(waitingForThread(pattern(3 * MiB), 2), path, { fsync: false, threadAfter: 0, writerThread: "always" }).pipe(
          Effect.flip,
          Effect.ensuring(Effect.sync(() => {
            closeSync(started.fd!)
            started.fd = undefined
          }))
        )
        assert.instanceOf(error, SourceError)
        assert.strictEqual(error.reason, "WriteFailed")
        assert.strictEqual(error.offset, 4096) // the first write on the thread
        assert.match(error.source, /\.out\.bin\.\d+\.\w+\.tmp$/)
        assert.match(error.message, /EBADF/)
        assert.strictEqual(readFileSync(path, "utf8"), "previous contents")
        assert.deepStrictEqual(readdirSync(dir), ["out.bin"])
        const bytes = pattern(4 * MiB)
        yield* NodeSave.writeAtomically(Stream.fromIterable(chunksOf(bytes)), path, { fsync: false, threadAfter: 0, writerThread: "always" })
        assert.isTrue(readFileSync(path).equals(bytes))
        assert.strictEqual(started.threads.length, 1)
        assert.isAbove(publishedTo(started.threads[0]!.control), writesOf(3 * MiB))
      })))

  it.live("a stream failing while the thread writes fails with the stream's error and removes the temporary file; the thread writes the next file", () =>
    inTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "out.bin")
        const broken = new SourceError({ reason: "ReadFailed", source: "the source", offset: 123 })
        const producer = Stream.concat(waitingForThread(pattern(4 * MiB), 2), Stream.fail(broken))
        const error = yield* Effect.flip(NodeSave.writeAtomically(producer, path, { threadAfter: 0, writerThread: "always" }))
        assert.strictEqual(error, broken)
        assert.deepStrictEqual(readdirSync(dir), [])
        const before = publishedTo(started.threads[0]!.control)
        const bytes = pattern(4 * MiB)
        yield* NodeSave.writeAtomically(Stream.fromIterable(chunksOf(bytes)), path, { fsync: false, threadAfter: 0, writerThread: "always" })
        assert.isTrue(readFileSync(path).equals(bytes))
        assert.strictEqual(started.threads.length, 1)
        assert.strictEqual(publishedTo(started.threads[0]!.control), before + writesOf(bytes.length) - 1)
      })))
})

/** A ring of 4 slots of 8 bytes with `writes` published ([bytes, fd, position] each) and closing set. */
const publishedRing = (writes: ReadonlyArray<readonly [ReadonlyArray<number>, number, number]>) => {
  const data = writerData(8, 4)
  const slots = new Uint8Array(data.slots)
  writes.forEach(([bytes, fd, position], i) => {
    slots.set(bytes, i * 8)
    new Int32Array(data.fds)[i] = fd
    new Float64Array(data.positions)[i] = position
    new Int32Array(data.lengths)[i] = bytes.length
  })
  new Int32Array(data.control)[CONTROL.closing] = 1
  return data
}

/** Runs the worker's loop on `data` with a fake `writeSync`; returns the writes it made and what the ring says after. */
const runLoop = (data: ReturnType<typeof writerData>, writeSync: (bytes: Uint8Array, position: number) => number) => {
  const writes: Array<[Array<number>, number, number]> = []
  writerLoop(data, {
    writeSync: (fd, buffer, offset, length, position) => {
      const bytes = buffer.subarray(offset, offset + length)
      writes.push([Array.from(bytes), fd, position])
      return writeSync(bytes, position)
    }
  })
  const control = new Int32Array(data.control)
  return {
    writes,
    failed: control[CONTROL.failed],
    failure: { offset: new Float64Array(data.failureOffset)[0], text: new TextDecoder().decode(new Uint8Array(data.failureText).slice(0, control[CONTROL.failureLength])) },
    freed: control[CONTROL.freed],
    lengths: Array.from(new Int32Array(data.lengths))
  }
}

describe("the writer thread's loop", () => {
  it("writes the published slots in turn, each to its file at its position, frees them and ends once closing", () => {
    const ring = publishedRing([[[1, 2, 3], 7, 0], [[4, 5, 6, 7, 8, 9, 10, 11], 7, 3], [[12], 9, 4_294_967_296 + 11]])
    const run = runLoop(ring, (bytes) => bytes.length)
    assert.deepStrictEqual(run.writes, [[[1, 2, 3], 7, 0], [[4, 5, 6, 7, 8, 9, 10, 11], 7, 3], [[12], 9, 4_294_967_296 + 11]])
    assert.strictEqual(run.failed, 0)
    assert.strictEqual(run.freed, 3)
    assert.deepStrictEqual(run.lengths, [0, 0, 0, 0])
  })

  it("records a failed write with its position, and frees the slots after it without writing them", () => {
    const ring = publishedRing([[[1, 2], 7, 100], [[3, 4], 7, 102], [[5], 7, 104]])
    const run = runLoop(ring, (bytes, position) => {
      if (position === 102) throw new Error("EIO: i/o error, write")
      return bytes.length
    })
    assert.strictEqual(run.writes.length, 2)
    assert.strictEqual(run.failed, 1)
    assert.deepStrictEqual(run.failure, { offset: 102, text: "Error: EIO: i/o error, write" })
    assert.strictEqual(run.freed, 3)
    assert.deepStrictEqual(run.lengths, [0, 0, 0, 0])
  })

  it("records a short write (the disk full) with the offset of the first byte not written", () => {
    const ring = publishedRing([[[1, 2, 3, 4, 5, 6], 7, 5_000_000_000]])
    const run = runLoop(ring, () => 4)
    assert.strictEqual(run.failed, 1)
    assert.deepStrictEqual(run.failure, { offset: 5_000_000_004, text: "short write: 4 of 6 bytes (disk full, or a file size limit)" })
  })
})
