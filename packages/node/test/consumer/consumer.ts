import { Checkpoint, Errors, Torch, Value } from "@torchwire/core"
import * as Zip from "@torchwire/core/Zip"
import { NodeSave, NodeSource } from "@torchwire/node"
import { Effect } from "effect"

const names: Effect.Effect<ReadonlyArray<string>, Errors.TorchwireError> = Effect.scoped(Effect.gen(function*() {
  const source = yield* NodeSource.open("checkpoint.pt")
  const archive = yield* Zip.open(source)
  const ckpt = yield* Checkpoint.open(source, { weightsOnly: true })
  const first = Checkpoint.tensors(ckpt.value)[0]
  if (first === undefined) return []
  const values: Float32Array = yield* Torch.toFloat32(first[1])
  const sd = new Value.OrderedDict([["w", Torch.tensor(values, { shape: [values.length] })]])
  yield* NodeSave.save(sd, "out.pt")
  return [...archive.entries.map((e) => e.name), ...Checkpoint.tensors(ckpt.value).map(([name]) => name)]
}))

Effect.runPromise(names).then((n) => console.log(n.length))
