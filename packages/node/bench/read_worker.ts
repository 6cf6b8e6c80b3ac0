/**
 * One read measurement in its own process, so peak RSS is this workload's.
 *
 * Usage: tsx read_worker.ts MODE FILE RUNS
 *   keys        Checkpoint.open, then every tensor's name and shape (lazy: nothing materialized)
 *   tensors     Checkpoint.open, then Checkpoint.arrays: every tensor into a typed array
 *   plain-read  FILE read sequentially into one buffer of its size, in 4 MiB reads
 * Each mode runs once to warm up, then RUNS times. Prints JSON:
 * {"seconds" (median), "bytesRead" (asked of the file, one run), "tensorBytes", "keys", "peakRssMiB"}
 */
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as NodeSource from "@torchwire/node/NodeSource"
import { Effect } from "effect"
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs"

const [mode, file, runsArg] = process.argv.slice(2) as [string, string, string]
const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024
const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Run {
  readonly seconds: number
  readonly bytesRead: number
  readonly tensorBytes: number
  readonly keys: number
}

/** Opens FILE through a counting source; `materialize` decides whether tensors are read. */
const openAndList = (materialize: boolean): Effect.Effect<Run, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const { source, bytesRead } = ByteSource.counting(yield* NodeSource.open(file))
    const t0 = performance.now()
    const checkpoint = yield* Checkpoint.open(source)
    const tensors = Checkpoint.tensors(checkpoint.value).map(([name, t]) => [name, t.shape] as const)
    const arrays = materialize ? yield* Checkpoint.arrays(checkpoint.value) : []
    const tensorBytes = arrays.reduce((n, [, a]) => n + a.byteLength, 0)
    return { seconds: (performance.now() - t0) / 1000, bytesRead: bytesRead(), tensorBytes, keys: tensors.length }
  }))

/** The baseline: the whole file into memory with plain sequential reads. */
const plainRead = Effect.sync((): Run => {
  const size = statSync(file).size
  const t0 = performance.now()
  const out = new Uint8Array(size)
  const fd = openSync(file, "r")
  for (let done = 0; done < size;) done += readSync(fd, out, done, Math.min(4 << 20, size - done), done)
  closeSync(fd)
  return { seconds: (performance.now() - t0) / 1000, bytesRead: size, tensorBytes: size, keys: 0 }
})

const once: Effect.Effect<Run, unknown> = mode === "plain-read" ? plainRead : openAndList(mode === "tensors")

const program = Effect.gen(function*() {
  yield* once
  const runs: Array<Run> = []
  for (let i = 0; i < Number(runsArg); i++) runs.push(yield* once)
  return { ...runs[0]!, seconds: median(runs.map((r) => r.seconds)), peakRssMiB: peakRssMiB() }
})

Effect.runPromise(program).then((r) => console.log(JSON.stringify(r)), (e) => {
  console.error(e)
  process.exit(1)
})
