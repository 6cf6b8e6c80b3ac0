/**
 * The README's API tour, verbatim apart from the path, must keep working.
 */
import { assert, describe, it } from "@effect/vitest"
import { Checkpoint, Torch, Value } from "@torchwire/core"
import { NodeSave, NodeSource } from "@torchwire/node"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { Effect } from "effect"
import { join } from "node:path"

const examplePath = join(import.meta.dirname, "..", "..", "..", "examples", "checkpoint.pt")

describe("README", () => {
  it.effect("API tour", () =>
    Effect.gen(function*() {
      const names: Array<string> = []
      const program = Effect.scoped(Effect.gen(function*() {
        const source = yield* NodeSource.open(examplePath)
        const ckpt = yield* Checkpoint.open(source)
        for (const [name, tensor] of Checkpoint.tensors(ckpt.value)) {
          names.push(`${name} ${tensor.dtype.name} ${tensor.shape.join("x")}`)
        }
        const [, first] = Checkpoint.tensors(ckpt.value)[0]!
        const values = yield* Torch.toFloat32(first)
        return values.length
      }))
      assert.strictEqual(yield* program, 216)
      assert.strictEqual(names[0], "model.0.weight float32 8x3x3x3")
      assert.include(names, "optimizer.state.0.exp_avg float32 8x3x3x3")
    }))

  it.effect("use it in your app", () =>
    Effect.gen(function*() {
      const keys = (path: string) =>
        Effect.scoped(Effect.gen(function*() {
          const ckpt = yield* Checkpoint.open(yield* NodeSource.open(path)) // weights-only, reads kilobytes
          return Checkpoint.tensors(ckpt.value).map(([name, t]) => `${name} ${t.dtype.name} [${t.shape.join(", ")}]`)
        }))
      const lines = yield* keys(examplePath)
      assert.strictEqual(lines.length, 27)
      assert.strictEqual(lines[0], "model.0.weight float32 [8, 3, 3, 3]")
    }))

  it.effect("writing a state_dict", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-readme-"))
      const sd = new Value.OrderedDict([
        ["weight", Torch.parameter(Torch.tensor(new Float32Array(12), { shape: [3, 4] }))],
        ["bias", Torch.tensor(new Float32Array(3), { dtype: "bfloat16" })]
      ])
      yield* NodeSave.save(sd, join(dir, "linear.pt"))
      const back = yield* Effect.scoped(Effect.flatMap(NodeSource.open(join(dir, "linear.pt")), (s) => Checkpoint.open(s)))
      assert.deepStrictEqual(Checkpoint.tensors(back.value).map(([n, t]) => `${n} ${t.dtype.name}`), ["weight float32", "bias bfloat16"])
      rmSync(dir, { recursive: true })
    }))
})
