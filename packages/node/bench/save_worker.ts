/**
 * One save measurement in its own process, so peak RSS is this workload's.
 *
 * Usage: tsx save_worker.ts MODE OUT [IN]
 *   torchwire-new   build a state_dict like IN's (same keys, shapes; zeros) from typed arrays, save to OUT
 *   torchwire-new-nocrc  the same with `computeCrc32: false` (torch's compute_crc32=False: CRCs written as 0)
 *   torchwire-new-libuv  torchwire-new with every write on libuv's threads (`writerThread: "never"`: no writer thread)
 *   torchwire-copy  open IN and re-save it to OUT (storages streamed from IN)
 *   plain-write     write IN's size from memory to OUT in 1 MiB writes (cut where NodeSave cuts them), blocking
 *   plain-write-awaited  the same writes on libuv's threads, each awaited before the next (FileHandle.write)
 *   crc32           only compute the CRC-32 of IN's size of bytes in memory (OUT unused)
 * Prints JSON: {"seconds", "peakRssMiB", "bytes"}
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict } from "@torchwire/core/Value"
import * as NodeSave from "@torchwire/node/NodeSave"
import * as NodeSource from "@torchwire/node/NodeSource"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { open } from "node:fs/promises"

const [mode, out, input] = process.argv.slice(2) as [string, string, string]
/**
 * Touches `bytes` of fresh memory in a child process that then exits, right before a timed write. This VM hands
 * free memory back to its host (free page reporting), and a page it took back faults through the host when the
 * page cache next takes it: a write filling 1 GiB of cache then runs 2 to 4 times slower, at random. The child's
 * pages are back on the guest's free lists for the next few seconds (the reporting waits 2 s), where the write
 * finds them, as it would on a machine that keeps its memory.
 */
const warmFreeMemory = (bytes: number) => {
  execFileSync(process.execPath, ["-e", `new Uint8Array(${bytes}).fill(1)`])
}

/**
 * Saves a one-tensor state_dict (and, for the copy mode, re-saves it from its file), so that the timed save runs
 * warm code, as the other workers' timed runs follow a warm-up: a first save in a fresh process took 24 to 36 ms to
 * its first write (compiling the pickler, the archive writer and Effect's stream machinery), a later one 6 to 12 ms.
 */
const warmUp = (path: string, copy: boolean, options: NodeSave.NodeSaveOptions) =>
  Effect.gen(function*() {
    yield* NodeSave.save(new OrderedDict([["w", Torch.fromBytes(new Uint8Array(16), "float32", [4])]]), path, options)
    if (copy) yield* Effect.scoped(Effect.flatMap(Effect.flatMap(NodeSource.open(path), Checkpoint.open), (c) => NodeSave.save(c.value, `${path}.copy`, options)))
    rmSync(path, { force: true })
    rmSync(`${path}.copy`, { force: true })
  })

/**
 * The byte ranges of the writes NodeSave.writeAtomically makes of `size` bytes: 1 MiB each, cut one page past
 * every MiB boundary (aligned 1 MiB writes measured two to three times slower at times on this VM: see
 * BENCHMARKS.md, (d)).
 */
function* cutRanges(size: number): Generator<readonly [number, number]> {
  for (let start = 0, cut = 4096; start < size; start = cut, cut += 1 << 20) yield [start, Math.min(cut, size)]
}

const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024

const program = Effect.gen(function*() {
  if (mode === "crc32") {
    // What every zip writer must spend on the bytes: their CRC-32 (Node's zlib.crc32), one core.
    const size = statSync(input).size
    const data = new Uint8Array(size).fill(1)
    const t0 = performance.now()
    let crc = 0
    for (let done = 0; done < size; done += 1 << 20) crc = NodeSave.crc32!(data.subarray(done, Math.min(done + (1 << 20), size)), crc)
    return { seconds: (performance.now() - t0) / 1000, bytes: size, crc }
  }
  if (mode === "plain-write" || mode === "plain-write-awaited") {
    // The same number of bytes, from memory like the state_dict's (not one hot buffer).
    const size = statSync(input).size
    const data = new Uint8Array(size).fill(1)
    warmFreeMemory(Math.ceil(size * 1.25))
    const t0 = performance.now()
    if (mode === "plain-write") {
      // Blocking: as fast as this thread can make the writes (a library's would stall its caller's event loop).
      const fd = openSync(out, "w")
      for (const [start, end] of cutRanges(size)) writeSync(fd, data.subarray(start, end))
      closeSync(fd)
    } else {
      // On libuv's threads, each write awaited before the next starts (as NodeSave does unless the disk keeps it waiting).
      const handle = yield* Effect.promise(() => open(out, "w"))
      yield* Effect.promise(async () => {
        for (const [start, end] of cutRanges(size)) await handle.write(data.subarray(start, end))
      })
      yield* Effect.promise(() => handle.close())
    }
    return { seconds: (performance.now() - t0) / 1000, bytes: size }
  }
  return yield* Effect.scoped(Effect.gen(function*() {
    const source = yield* NodeSource.open(input)
    const loaded = yield* Checkpoint.open(source)
    let value = loaded.value
    if (mode.startsWith("torchwire-new")) {
      // Same keys and shapes, fresh typed arrays filled (touched memory, like plain-write's; tied weights stay tied),
      // taken as they are (Torch.tensor would copy them, leaving a second GiB for the GC to free while saving).
      const made = new Map<unknown, Torch.Tensor>()
      value = new OrderedDict(Checkpoint.tensors(loaded.value).map(([name, t]) => {
        const key = t.storage ?? t
        if (!made.has(key)) made.set(key, Torch.fromBytes(new Uint8Array(new Float32Array(t.numel).fill(1).buffer), "float32", t.shape))
        return [name, made.get(key)!]
      }))
    }
    const options = { fsync: false, computeCrc32: !mode.endsWith("-nocrc"), ...(mode.endsWith("-libuv") ? { writerThread: "never" as const } : {}) }
    yield* warmUp(`${out}.warm-up`, mode === "torchwire-copy", options)
    warmFreeMemory(Math.ceil(statSync(input).size * 1.25))
    const t0 = performance.now()
    const bytes = yield* NodeSave.save(value, out, options)
    return { seconds: (performance.now() - t0) / 1000, bytes }
  }))
})

Effect.runPromise(program).then((r) => console.log(JSON.stringify({ ...r, peakRssMiB: peakRssMiB() })))
