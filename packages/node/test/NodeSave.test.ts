/**
 * Saving to files is atomic: the destination changes only when the whole
 * archive was written, and no temporary file is left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import { SourceError } from "@torchwire/core/Errors"
import * as Save from "@torchwire/core/Save"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict } from "@torchwire/core/Value"
import * as NodeSave from "@torchwire/node/NodeSave"
import * as NodeSource from "@torchwire/node/NodeSource"

describe("NodeSave", () => {
  it.effect("writes an archive that reads back, named after the file", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-save-"))
      const path = join(dir, "weights.pth")
      let progress = 0
      const written = yield* NodeSave.save(new OrderedDict([["w", Torch.tensor(new Float32Array(1000))]]), path, { onProgress: (n) => void (progress = n) })
      assert.strictEqual(written, readFileSync(path).length)
      assert.strictEqual(progress, written)
      const checkpoint = yield* Effect.scoped(Effect.flatMap(NodeSource.open(path), (s) => Checkpoint.open(s)))
      assert.strictEqual(checkpoint.prefix, "weights")
      assert.deepStrictEqual(readdirSync(dir), ["weights.pth"])
      rmSync(dir, { recursive: true })
    }))

  it.effect("re-saving an opened file through recycled read buffers writes the bytes an in-memory save writes", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-save-"))
      // Large storages span several 4 MiB chunks (read into recycled buffers), small ones come between them:
      // if the writer held a recycled buffer too long, a later read would overwrite it.
      let seed = 7
      const random = (n: number) => Float32Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
      const sizes = [9 << 18, 3, 70_000, 9 << 18, ...Array.from({ length: 40 }, (_, i) => (i * 7919) % 100_000 + 1), 9 << 18]
      const value = new OrderedDict(sizes.map((n, i) => [`t${i}`, Torch.tensor(random(n))]))
      mkdirSync(join(dir, "a"))
      mkdirSync(join(dir, "b"))
      const first = join(dir, "a", "model.pt")
      yield* NodeSave.save(value, first, { fsync: false })
      const second = join(dir, "b", "model.pt")
      yield* Effect.scoped(Effect.flatMap(NodeSource.open(first), (s) =>
        Effect.flatMap(Checkpoint.open(s), (c) => NodeSave.save(c.value, second, { fsync: false }))))
      assert.isTrue(readFileSync(first).equals(readFileSync(second)))
      rmSync(dir, { recursive: true })
    }))

  it.effect("the archive stream of an opened file holds at most one recycled read buffer per chunk, as NodeSave.save's ring of 8 needs", () =>
    Effect.gen(function*() {
      // writeAtomically holds a ring buffer's chunk until it took in two more of them (NodeSave.writes.test.ts), and
      // NodeSave.save reads two chunks ahead into a ring of 8: a stream that put several ring buffers in one chunk
      // would overwrite ones still being written.
      const dir = mkdtempSync(join(tmpdir(), "torchwire-save-"))
      const path = join(dir, "model.pt")
      const sizes = [9 << 18, 5, 3 << 18, ...Array.from({ length: 20 }, (_, i) => (i * 7919) % 50_000 + 1), 5 << 18]
      yield* NodeSave.save(new OrderedDict(sizes.map((n, i) => [`t${i}`, Torch.tensor(new Float32Array(n).fill(i))])), path, { fsync: false })
      const handedOut = new Set<ArrayBufferLike>()
      const ring = ByteSource.bufferRing(8)
      const counting: ByteSource.BufferRing = { take: (n) => {
        const b = ring.take(n)
        handedOut.add(b.buffer)
        return b
      } }
      const perChunk = yield* Effect.scoped(Effect.gen(function*() {
        const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(path))
        const chunks = yield* Stream.runCollect(Stream.chunks(Save.toStream(checkpoint.value, { computeCrc32: false })))
        return Array.from(chunks, (chunk) => Chunk.toReadonlyArray(chunk).filter((piece) => handedOut.has(piece.buffer)).length)
      }).pipe(Effect.locally(ByteSource.StreamBufferRing, counting)))
      assert.isAbove(handedOut.size, 1)
      assert.isAtMost(Math.max(...perChunk), 1)
      assert.isAbove(perChunk.filter((n) => n === 1).length, 5)
      rmSync(dir, { recursive: true })
    }))

  it.effect("a failure mid-stream leaves the destination as it was and no temporary file", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-save-"))
      const path = join(dir, "model.pt")
      writeFileSync(path, "previous contents")
      const f32 = Torch.dtypes.get("float32")!
      const failing = new Torch.Storage({ key: "0", dtype: f32, record: "broken", bytes: Torch.RecordBytes.Computed({ read: Effect.fail(new SourceError({ reason: "ReadFailed", source: "disk", offset: 0 })), size: 4096 }) })
      const value = new OrderedDict([
        ["ok", Torch.tensor(new Float32Array(4))],
        ["bad", new Torch.Tensor(f32, [1024], [1], 0, failing, false)]
      ])
      const error = yield* Effect.flip(NodeSave.save(value, path))
      assert.strictEqual(error._tag, "SourceError")
      assert.strictEqual(readFileSync(path, "utf8"), "previous contents")
      assert.deepStrictEqual(readdirSync(dir), ["model.pt"])
      rmSync(dir, { recursive: true })
    }))

  it.effect("re-saving a checkpoint over itself works (read from the old file, renamed over it)", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-save-"))
      const path = join(dir, "self.pt")
      yield* NodeSave.save(new OrderedDict([["x", Torch.tensor(new Float64Array([1, 2, 3]))]]), path)
      yield* Effect.scoped(Effect.gen(function*() {
        const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(path))
        yield* NodeSave.save(checkpoint.value, path, { layout: "1.13" })
      }))
      const again = yield* Checkpoint.open(ByteSource.fromUint8Array(new Uint8Array(readFileSync(path))))
      const [[, x]] = Checkpoint.tensors(again.value) as [[string, Torch.Tensor]]
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(x)) as Float64Array), [1, 2, 3])
      assert.notInclude(again.records, ".format_version")
      rmSync(dir, { recursive: true })
    }))
})
