/**
 * Distributed-checkpoint benchmarks (issue 28), whole processes side by
 * side, each the best of TORCHWIRE_BENCH_ROUNDS (default 3), on a 4-rank
 * DCP folder (~1.8 GiB) real torch 2.13 writes from the 1.7 GiB state_dict
 * of safetensors.ts (make_dcp.py: every tensor Shard(0) over 4 gloo ranks):
 *   (j) opening it: the bytes torchwire reads of each file (in process), and the keys listed by
 *       `torchwire inspect` vs torch reading the metadata (FileSystemReader.read_metadata);
 *   (k) converting it to one .pt: `torchwire convert DIR out.pt` vs torch's dcp_to_torch_save, and a
 *       plain copy of the folder (`cp -r`, alone and followed by `sync`: the convert fsyncs).
 * Prints a Markdown table (BENCHMARKS.md). Needs `pnpm build` and .venv-torch.
 */
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { bundleWorker } from "./bundle.js"
import { best, bin, log, mib, python, rounds, secs, stateDict, timed, work, type Measured } from "./processes.js"

const here = import.meta.dirname


const pt = stateDict()
const folder = join(work, "dcp_4rank")
if (!existsSync(join(folder, ".metadata"))) {
  log(`writing ${folder} with torch 2.13 on 4 ranks ...`)
  rmSync(folder, { recursive: true, force: true })
  execFileSync(python, [join(here, "make_dcp.py"), pt, folder, "4"], { stdio: ["ignore", "ignore", "inherit"] })
}
const bytes = readdirSync(folder).reduce((n, f) => n + statSync(join(folder, f)).size, 0)
const out = join(work, "dcp_out.pt")
const copyDir = join(work, "dcp_copy")
const fresh = () => {
  rmSync(out, { force: true })
  rmSync(copyDir, { recursive: true, force: true })
}
const opener = await bundleWorker("open_dcp", join(work, "bundle"))

log("(j) opening ...")
const opened = JSON.parse(execFileSync(process.execPath, [opener, folder], { encoding: "utf8" })) as { tensors: number; bytesRead: Record<string, number>; seconds: number }
const keysOurs = best(() => timed(process.execPath, [bin, "inspect", "--limit", "1", folder]))
const keysTheirs = best(() =>
  timed(python, ["-c", "import sys, torch; from torch.distributed.checkpoint import FileSystemReader; print(len(FileSystemReader(sys.argv[1]).read_metadata().state_dict_metadata))", folder]))
log("(k) converting to one .pt ...")
const convertOurs = best(() => timed(process.execPath, [bin, "convert", folder, out]), fresh)
const convertTheirs = best(() => timed(python, ["-c", "import sys; from torch.distributed.checkpoint.format_utils import dcp_to_torch_save as f; f(sys.argv[1], sys.argv[2])", folder, out]), fresh)
const copy = best(() => timed("cp", ["-r", folder, copyDir]), fresh)
const copySynced = best(() => timed("sh", ["-c", 'cp -r "$0" "$1" && sync "$1"/*', folder, copyDir]), fresh)
fresh()

const rate = (m: Measured) => `${(bytes / 2 ** 20 / m.seconds).toFixed(0)} MiB/s`
const read = Object.entries(opened.bytesRead).map(([f, n]) => `${f}: ${n.toLocaleString("en-US")} B`).join(", ")
process.stdout.write([
  `| DCP, 4 ranks, ${(bytes / 2 ** 30).toFixed(2)} GiB (best of ${rounds}, whole processes) | torchwire | alternative | ratio |`,
  "| --- | --- | --- | --- |",
  `| (j) open: bytes read | ${read} (${opened.tensors} tensors, ${opened.seconds.toFixed(2)} s in process) | | |`,
  `| (j) list the keys | ${secs(keysOurs)}, ${mib(keysOurs)} (inspect) | FileSystemReader.read_metadata: ${secs(keysTheirs)}, ${mib(keysTheirs)} | ${((100 * keysOurs.seconds) / keysTheirs.seconds).toFixed(0)}% of the time |`,
  `| (k) convert to one .pt | ${secs(convertOurs)} (${rate(convertOurs)}), ${mib(convertOurs)} | dcp_to_torch_save: ${secs(convertTheirs)}, ${mib(convertTheirs)}; cp -r: ${secs(copy)} (${rate(copy)}); cp -r + sync: ${secs(copySynced)} (${rate(copySynced)}) | ${((100 * copy.seconds) / convertOurs.seconds).toFixed(0)}% of cp's throughput, ${((100 * copySynced.seconds) / convertOurs.seconds).toFixed(0)}% of cp + sync's |`
].join("\n") + "\n")
