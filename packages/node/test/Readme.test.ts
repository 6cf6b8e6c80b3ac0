/**
 * The README's API tour, verbatim apart from the path, must keep working.
 */
import { assert, describe, it } from "@effect/vitest"
import { Checkpoint, Torch } from "@torchwire/core"
import { NodeSource } from "@torchwire/node"
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
})
