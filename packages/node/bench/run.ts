/**
 * `pnpm bench`: workloads measured side by side in one run, written to
 * BENCHMARKS.md. Inputs are generated on the fly in a temporary folder.
 *
 * Workload (issue #2): list the keys and shapes of a generated 1 GiB
 * checkpoint: time and bytes read, torchwire beside torch.load.
 */
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Pickle from "@torchwire/core/Pickle"
import * as NodeSource from "@torchwire/node/NodeSource"
import { Effect } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { Parser } from "pickleparser"
import { cpus, tmpdir, totalmem } from "node:os"
import { join } from "node:path"

const python = process.env.TORCHWIRE_PYTHON ?? "/usr/bin/python3"
const here = import.meta.dirname
const work = join(tmpdir(), "torchwire-bench")
const sizeMiB = Number(process.env.TORCHWIRE_BENCH_MIB ?? 1024)
const runs = Number(process.env.TORCHWIRE_BENCH_RUNS ?? 5)

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ms = (s: number): string => `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms`
const kib = (b: number): string => (b < 2 ** 20 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 2 ** 20).toFixed(1)} MiB`)

const log = (s: string) => process.stderr.write(s + "\n")

const listKeys = (path: string) =>
  Effect.scoped(Effect.gen(function*() {
    const { source, bytesRead } = ByteSource.counting(yield* NodeSource.open(path))
    const t0 = performance.now()
    const checkpoint = yield* Checkpoint.open(source)
    const keys = Checkpoint.tensors(checkpoint.value).map(([k, t]) => [k, t.shape] as const)
    return { seconds: (performance.now() - t0) / 1000, bytes: bytesRead(), keys: keys.length }
  }))

const main = Effect.gen(function*() {
  mkdirSync(work, { recursive: true })
  const file = join(work, `state_dict_${sizeMiB}mib.pt`)
  if (!existsSync(file)) {
    log(`generating ${file} with torch.save ...`)
    execFileSync(python, [join(here, "make_checkpoint.py"), file, String(sizeMiB)], { stdio: ["ignore", "ignore", "inherit"] })
  }
  const size = statSync(file).size
  log(`listing keys of ${kib(size)}: torchwire x${runs} ...`)
  yield* listKeys(file) // warm-up (JIT, page cache)
  const ours = []
  for (let i = 0; i < runs; i++) ours.push(yield* listKeys(file))
  log(`torch.load x${Math.min(runs, 3)} ...`)
  const theirs = JSON.parse(execFileSync(python, [join(here, "torch_list_keys.py"), file, String(Math.min(runs, 3))], { encoding: "utf8" }))
  log("saving: torchwire (new and copy), torch.save, plain write ...")
  const tsx = join(here, "..", "..", "..", "node_modules", ".bin", "tsx")
  const worker = (mode: string) => JSON.parse(execFileSync(tsx, [join(here, "save_worker.ts"), mode, join(work, `out-${mode}.pt`), file], { encoding: "utf8" }))
  const saves = {
    torchwireNew: worker("torchwire-new"),
    torchwireCopy: worker("torchwire-copy"),
    plain: worker("plain-write"),
    torch: JSON.parse(execFileSync(python, [join(here, "torch_save.py"), file, join(work, "out-torch.pt")], { encoding: "utf8" }))
  }
  const saveRow = (name: string, r: { seconds: number; peakRssMiB: number; bytes: number }) =>
    `| ${name} | ${r.seconds.toFixed(2)} s | ${(r.bytes / 2 ** 20 / r.seconds).toFixed(0)} MiB/s | ${r.peakRssMiB.toFixed(0)} MiB |`
  log("streaming over loopback TCP, four directions ...")
  const peer = join(here, "..", "..", "test-utils", "python", "stream_peer.py")
  const streamWorker = join(here, "stream_worker.ts")
  const receivers = { torchwire: [tsx, streamWorker, "receive"], python: [python, peer, "receive-bench", "127.0.0.1", "0"] }
  const senders = { torchwire: (port: number) => [tsx, streamWorker, "send", String(port), file], python: (port: number) => [python, peer, "send", "127.0.0.1", String(port), file] }
  const transfer = (from: keyof typeof senders, to: keyof typeof receivers) =>
    new Promise<{ seconds: number; bytes: number; peakRssMiB: number }>((resolve, reject) => {
      const [cmd, ...args] = receivers[to]
      const receiver = spawn(cmd!, args, { stdio: ["ignore", "pipe", "inherit"] })
      const lines = createInterface({ input: receiver.stdout })
      lines.on("line", (line) => {
        const msg = JSON.parse(line)
        if ("port" in msg) {
          const [scmd, ...sargs] = senders[from](msg.port)
          const sender = spawn(scmd!, sargs, { stdio: ["ignore", "ignore", "inherit"] })
          sender.on("exit", (code) => code !== 0 && reject(new Error(`${from} sender exited ${code}`)))
        } else resolve(msg)
      })
      receiver.on("exit", (code) => code !== 0 && reject(new Error(`${to} receiver exited ${code}`)))
    })
  const streams = []
  for (const [from, to] of [["torchwire", "torchwire"], ["python", "torchwire"], ["torchwire", "python"], ["python", "python"]] as const) {
    streams.push({ from, to, ...(yield* Effect.promise(() => transfer(from, to))) })
  }
  log("unpickling: torchwire, CPython's C pickle, pickleparser ...")
  if (!existsSync(join(work, "sd100k.pkl"))) execFileSync(python, [join(here, "make_pickles.py"), work], { stdio: ["ignore", "ignore", "inherit"] })
  const unpickle = []
  for (const name of ["mixed.pkl", "sd100k.pkl"]) {
    const bytes = new Uint8Array(readFileSync(join(work, name)))
    const timed = (f: () => unknown) => {
      f()
      return median(Array.from({ length: runs }, () => {
        const t0 = performance.now()
        f()
        return (performance.now() - t0) / 1000
      }))
    }
    const torchwire = timed(() => Effect.runSync(Pickle.load(bytes, { persistentLoad: () => null })))
    let pickleparser: number | undefined
    try {
      pickleparser = timed(() => new Parser({ persistentResolver: () => null } as never).parse(bytes))
    } catch {
      pickleparser = undefined
    }
    const cpython = median(JSON.parse(execFileSync(python, [join(here, "pickle_load.py"), join(work, name), String(runs)], { encoding: "utf8" })).times)
    unpickle.push({ name, size: bytes.length, torchwire, cpython, pickleparser })
  }
  const tw = median(ours.map((r) => r.seconds))
  const tl = median(theirs.times)
  const rows = [
    `| torchwire \`Checkpoint.open\` + \`tensors\` | ${ms(tw)} | ${kib(ours[0]!.bytes)} | ${ours[0]!.keys} |`,
    `| torch 1.13 \`torch.load(map_location="cpu")\` | ${ms(tl)} | ${kib(theirs.bytes_read)} | ${theirs.keys} |`
  ]
  const report = `# Benchmarks

Generated by \`pnpm bench\` (packages/node/bench/run.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.
Inputs are generated on the fly with real torch (packages/node/bench/make_checkpoint.py); nothing large is committed.
Times are medians of ${runs} torchwire runs (after one warm-up) and ${Math.min(runs, 3)} torch.load runs, in one process each, file in the page cache.

## Unpickle a large pickle

Medians of ${runs} runs after a warm-up. CPython's C unpickler resolves globals to inert stand-ins (no torch objects
are built); torchwire builds its value model (opaque objects for the rebuild calls); pickleparser parses to JS objects.

| input | size | torchwire | CPython \`_pickle\` | pickleparser |
| --- | ---: | ---: | ---: | ---: |
${unpickle.map((u) => `| ${u.name === "mixed.pkl" ? "1M-item mixed list" : "data.pkl of a 100k-tensor state_dict"} | ${kib(u.size)} | ${ms(u.torchwire)} | ${ms(u.cpython)} | ${u.pickleparser === undefined ? "fails" : ms(u.pickleparser)} |`).join("\n")}

## List the keys and shapes of a ${kib(size)} checkpoint

A transformer-shaped \`state_dict\` (${ours[0]!.keys} tensors, tied embedding) written by \`torch.save\` (zip format).
"Bytes read" is what torchwire asked of the file (a counting \`ByteSource\`) and, for torch, the process's \`rchar\` delta.

| reader | time | bytes read | keys |
| --- | ---: | ---: | ---: |
${rows.join("\n")}

torchwire is **${(tl / tw).toFixed(0)}×** faster here and reads **${(theirs.bytes_read / ours[0]!.bytes).toFixed(0)}×** fewer bytes: it reads the zip's end records,
its central directory and \`data.pkl\`; tensors stay lazy until asked for. torch.load reads every storage.

## Save the same ${kib(size)} state_dict

Each writer runs in its own process; peak RSS is the process's high-water mark (\`VmHWM\` / \`ru_maxrss\`).
None of them fsyncs here (\`NodeSave.save\` does by default; the benchmark passes \`fsync: false\` to compare like with like).

| writer | time | throughput | peak RSS |
| --- | ---: | ---: | ---: |
${saveRow("torchwire `NodeSave.save`, tensors built from typed arrays (in memory)", saves.torchwireNew)}
${saveRow("torchwire `NodeSave.save` of the opened file (storages streamed from disk)", saves.torchwireCopy)}
${saveRow("torch 1.13 `torch.save` (tensors in memory)", saves.torch)}
${saveRow("plain sequential write of the same number of bytes (1 MiB buffers)", saves.plain)}

torchwire writes at **${(100 * saves.plain.seconds / saves.torchwireNew.seconds).toFixed(0)}%** of the plain write's speed, CRC-32 and zip records included.
Re-saving an opened checkpoint never holds more than a chunk of a storage: its peak RSS stays near the
plain write's while the in-memory writers hold the whole state_dict.

## The same state_dict through the streaming format over loopback TCP

\`_streaming_save\` / \`_streaming_load\` format. The Python peer is real torch 1.13 with an emulation of torch 2.x's
\`torch.distributed._serialization\` (packages/test-utils/python/stream_peer.py). Receivers time from the first byte
(Python: from \`accept\`) to the loaded value, so the sender's start-up is not counted; both receivers hold the whole
checkpoint in memory, as \`_streaming_load\` does.

| sender → receiver | time | throughput | receiver peak RSS |
| --- | ---: | ---: | ---: |
${streams.map((r) => `| ${r.from} → ${r.to} | ${r.seconds.toFixed(2)} s | ${(r.bytes / 2 ** 20 / r.seconds).toFixed(0)} MiB/s | ${r.peakRssMiB.toFixed(0)} MiB |`).join("\n")}
`
  writeFileSync(join(here, "..", "..", "..", "BENCHMARKS.md"), report)
  process.stdout.write(report)
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
