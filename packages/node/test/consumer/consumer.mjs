import { Checkpoint, Container, Scan, Torch } from "@torchwire/core"
import { NodeChecksum, NodeSource } from "@torchwire/node"
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
