/**
 * Reads every tensor of a file into typed arrays (Checkpoint.arrays), as
 * safetensors.torch.load_file does, and prints how many: a whole process
 * of benchmark (i) in safetensors.ts.
 *
 * Usage: node read_safetensors.mjs FILE
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as NodeSource from "@torchwire/node/NodeSource"
import { Effect } from "effect"

const file = process.argv[2]!
const count = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const checkpoint = yield* Checkpoint.open(yield* NodeSource.open(file))
  return (yield* Checkpoint.arrays(checkpoint.value)).length
})))
process.stdout.write(`${count}\n`)
