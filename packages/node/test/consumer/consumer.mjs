import { Checkpoint, Container, Module, Scan, Torch } from "@torchwire/core"
import { NodeChecksum, NodeSave, NodeSource } from "@torchwire/node"
import { Effect } from "effect"

const program = Effect.scoped(Effect.gen(function*() {
  // Recognized once; the container serves the scan and the open.
  const container = yield* Container.open(yield* NodeSource.open("checkpoint.pt"), { checkCrc: true })
  const report = yield* Scan.scan(container)
  const ckpt = yield* Checkpoint.open(container)
  const tensors = Checkpoint.tensors(ckpt.value)
  const values = yield* Torch.toFloat32(tensors[0][1])
  return `${container.format} ${report.verdict}; ${tensors.length} tensors; ${tensors[0][0]} has ${values.length} values`
}))
console.log(await Effect.runPromise(program.pipe(Effect.provide(NodeChecksum.layer))))

// A mobile module moved to its flatbuffer form, and opened again.
const converted = Effect.scoped(Effect.gen(function*() {
  const archive = yield* Module.open(yield* NodeSource.open("model.ptl"))
  yield* NodeSave.saveModule(archive, "model.ff", { format: "flatbuffer" })
  const reopened = yield* Module.open(yield* NodeSource.open("model.ff"))
  return `${archive.format} → ${reopened.format}; ${Module.namedParameters(reopened.module).map(([n]) => n).join(", ")}`
}))
console.log(await Effect.runPromise(converted))
