import { Checkpoint, Container, Errors, Scan, Torch, Value } from "@torchwire/core"
import * as Zip from "@torchwire/core/Zip"
import { NodeSave, NodeSource } from "@torchwire/node"
import { Effect } from "effect"

const names: Effect.Effect<ReadonlyArray<string>, Errors.TorchwireError> = Effect.scoped(Effect.gen(function*() {
  const source = yield* NodeSource.open("checkpoint.pt")
  const archive = yield* Zip.open(source)
  const container: Container.Container = yield* Container.open(source)
  const report: Scan.Report = yield* Scan.scan(container)
  if (report.problems.length > 0) return []
  const ckpt = yield* Checkpoint.open(container, { weightsOnly: true })
  const first = Checkpoint.tensors(ckpt.value)[0]
  if (first === undefined) return []
  const values: Float32Array = yield* Torch.toFloat32(first[1])
  const sd = new Value.OrderedDict([["w", Torch.tensor(values, { shape: [values.length] })]])
  yield* NodeSave.save(sd, "out.pt")
  return [...archive.entries.map((e) => e.name), ...Checkpoint.tensors(ckpt.value).map(([name]) => name)]
}))

Effect.runPromise(names).then((n) => console.log(n.length))
