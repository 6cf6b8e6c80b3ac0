import { Checkpoint, Torch } from "@torchwire/core"
import { NodeSource } from "@torchwire/node"
import { Effect } from "effect"

const program = Effect.scoped(Effect.gen(function*() {
  const ckpt = yield* Checkpoint.open(yield* NodeSource.open("checkpoint.pt"))
  const tensors = Checkpoint.tensors(ckpt.value)
  const values = yield* Torch.toFloat32(tensors[0][1])
  return `${tensors.length} tensors; ${tensors[0][0]} has ${values.length} values`
}))
console.log(await Effect.runPromise(program))
