/**
 * Saving to files is atomic: the destination changes only when the whole
 * archive was written, and no temporary file is left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import { SourceError } from "@torchwire/core/Errors"
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

  it.effect("a failure mid-stream leaves the destination as it was and no temporary file", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-save-"))
      const path = join(dir, "model.pt")
      writeFileSync(path, "previous contents")
      const f32 = Torch.dtypes.get("float32")!
      const failing = new Torch.Storage("0", f32, "cpu", 4096, "broken", Effect.fail(new SourceError({ reason: "ReadFailed", source: "disk", offset: 0 })))
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
