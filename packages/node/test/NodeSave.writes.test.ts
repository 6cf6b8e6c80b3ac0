/**
 * How `NodeSave.writeAtomically` writes, through a mocked file handle. How
 * long it holds the chunks it is given: a producer that recycles buffers
 * relies on it. The file's writes here run late and one at a time, as on a
 * slow disk: each reads its buffers 10 ms after the one before it completed,
 * so a writer that lets its producer go on before a write completed writes
 * overwritten bytes. And what it does when a write comes back short, as when
 * the disk fills up. All on libuv's threads (`writerThread: "never"`): the
 * writer thread copies each write's bytes before it goes on
 * (NodeSave.thread.test.ts). And when `writerThread: "auto"` moves the
 * writes to the writer thread: when the disk keeps it waiting.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { vi } from "vitest"
import { SourceError } from "@torchwire/core/Errors"
import * as NodeSave from "@torchwire/node/NodeSave"

/** The mocked disk: a file's writes come back short past `capacity` bytes; `writes` counts them. */
const disk = vi.hoisted(() => ({ capacity: Number.POSITIVE_INFINITY, writes: 0 }))

vi.mock("node:fs/promises", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs/promises")>()
  /** The head of `buffers` that holds at most `room` bytes. */
  const fitting = (buffers: ReadonlyArray<Uint8Array>, room: number) =>
    buffers.map((buffer, i) => buffer.subarray(0, Math.max(0, room - buffers.slice(0, i).reduce((n, b) => n + b.length, 0))))
  /** A file handle whose writes run one at a time, each 10 ms after the last completed, and stop at `disk.capacity`. */
  const late = (handle: FileHandle): FileHandle => {
    let queue: Promise<unknown> = Promise.resolve()
    let size = 0
    return new Proxy(handle, {
      get: (target, key) => {
        if (key === "writev") {
          return (buffers: Array<Uint8Array>, position?: number) => {
            disk.writes += 1
            const write = queue.then(() => new Promise((resolve) => setTimeout(resolve, 10)))
              .then(() => target.writev(fitting(buffers, disk.capacity - size), position))
              .then((result) => {
                size += result.bytesWritten
                return result
              })
            queue = write.catch(() => undefined)
            return write
          }
        }
        const member = Reflect.get(target, key)
        return typeof member === "function" ? member.bind(target) : member
      }
    })
  }
  return { ...fs, open: (...args: Parameters<typeof fs.open>) => fs.open(...args).then(late) }
})

/** Writes `sizes` as chunks, those of 1 MiB or more taking turns in `ring` buffers; returns whether the file came out right. */
const writeRecycled = (sizes: ReadonlyArray<number>, ring: number) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "torchwire-write-"))
    const path = join(dir, "out.bin")
    const buffers = Array.from({ length: ring }, () => new Uint8Array(4 << 20))
    const expected: Array<Uint8Array> = []
    let large = 0
    const producer = Stream.repeatEffectOption(Effect.suspend(() => {
      const i = expected.length
      if (i === sizes.length) return Effect.fail(Option.none())
      const size = sizes[i]!
      const chunk = (size >= 1 << 20 ? buffers[large++ % ring]!.subarray(0, size) : new Uint8Array(size)).fill(i + 1)
      expected.push(chunk.slice())
      return Effect.succeed(chunk)
    }))
    const written = yield* NodeSave.writeAtomically(producer, path, { fsync: false, writerThread: "never" })
    const want = Buffer.concat(expected)
    const right = written === want.length && readFileSync(path).equals(want)
    rmSync(dir, { recursive: true })
    return right
  })

/**
 * Chunks of 1 MiB to 3 MiB with small ones between them, then a run of
 * chunks of exactly 1 MiB: each reaches one cut, so the writer holds each of
 * those longest.
 */
const sizes = [
  5, 100_000, 2 << 20, 7, 1 << 20, 200_000, 1 << 20, 1, 3 << 20, 250_000,
  ...Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 1 << 20 : 0) + (i * 48_271) % 400_000 + 1),
  ...Array.from({ length: 10 }, () => 1 << 20)
]

describe("NodeSave.writeAtomically through a mocked disk", () => {
  it.effect("is done writing each chunk of 1 MiB or more when it pulls the third after it: a producer may recycle three buffers for them", () =>
    Effect.gen(function*() {
      assert.isTrue(yield* writeRecycled(sizes, 3))
    }))

  it.effect("is not yet done with it when it pulls the second: two buffers are too few", () =>
    Effect.gen(function*() {
      assert.isFalse(yield* writeRecycled(sizes, 2))
    }))

  it.effect("fails with the offset where a write came back short (the disk full), even the last one, and leaves the destination as it was", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-write-"))
      const path = join(dir, "out.bin")
      writeFileSync(path, "previous contents")
      const total = (5 << 19) + 777
      disk.capacity = total - 1000
      const error = yield* NodeSave.writeAtomically(Stream.make(new Uint8Array(total).fill(7)), path, { fsync: false, writerThread: "never" }).pipe(
        Effect.flip,
        Effect.ensuring(Effect.sync(() => void (disk.capacity = Number.POSITIVE_INFINITY)))
      )
      assert.instanceOf(error, SourceError)
      assert.strictEqual(error.reason, "WriteFailed")
      assert.strictEqual(error.offset, total - 1000)
      assert.match(error.message, /short write/)
      assert.strictEqual(readFileSync(path, "utf8"), "previous contents")
      assert.deepStrictEqual(readdirSync(dir), ["out.bin"])
      rmSync(dir, { recursive: true })
    }))

  it.live("with writerThread auto, moves the writes to the writer thread when the disk keeps the main thread waiting", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-write-"))
      const path = join(dir, "out.bin")
      const bytes = new Uint8Array(40 << 20).map((_, i) => i * 7)
      disk.writes = 0
      // Each write takes 10 ms here: after 16 of them the writes move to the thread, which takes the rest.
      yield* NodeSave.writeAtomically(Stream.fromIterable(Array.from({ length: 40 }, (_, i) => bytes.subarray(i << 20, (i + 1) << 20))), path, { fsync: false, threadAfter: 0 })
      assert.isTrue(readFileSync(path).equals(bytes))
      assert.isAtLeast(disk.writes, 16)
      assert.isBelow(disk.writes, 30)
      rmSync(dir, { recursive: true })
    }))

  it.live("with writerThread auto, keeps the writes on libuv's threads while they are done before the next one comes", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-write-"))
      const path = join(dir, "out.bin")
      const chunks = Array.from({ length: 20 }, (_, i) => new Uint8Array(1 << 20).fill(i))
      disk.writes = 0
      // A producer slower than the disk: each chunk comes 30 ms after the last (a write takes 10 ms).
      const slow = Stream.fromIterable(chunks).pipe(Stream.tap(() => Effect.sleep("30 millis")))
      yield* NodeSave.writeAtomically(slow, path, { fsync: false, threadAfter: 0 })
      assert.isTrue(readFileSync(path).equals(Buffer.concat(chunks)))
      assert.strictEqual(disk.writes, 21)
      rmSync(dir, { recursive: true })
    }))
})
