/**
 * Opens a distributed checkpoint's folder (Checkpoint.open on NodeDirectory)
 * through a counting Directory and prints, as JSON, the tensors found and
 * the bytes read from each file: the measurement of benchmark (j) in
 * dcp.ts (opening reads only .metadata).
 *
 * Usage: node open_dcp.mjs DIR
 */
import { counting } from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import type { Directory } from "@torchwire/core/Directory"
import * as NodeDirectory from "@torchwire/node/NodeDirectory"
import { Effect } from "effect"

const path = process.argv[2]!
const started = performance.now()
const result = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const dir = yield* NodeDirectory.open(path)
  const counters = new Map<string, () => number>()
  const watched: Directory = {
    ...dir,
    file: (name) =>
      Effect.map(dir.file(name), (source) => {
        const c = counting(source)
        counters.set(name, c.bytesRead)
        return c.source
      })
  }
  const checkpoint = yield* Checkpoint.open(watched)
  return {
    tensors: Checkpoint.tensors(checkpoint.value).length,
    bytesRead: Object.fromEntries([...counters].map(([name, read]) => [name, read()]))
  }
})))
process.stdout.write(JSON.stringify({ ...result, seconds: (performance.now() - started) / 1000 }) + "\n")
