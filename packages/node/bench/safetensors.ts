/**
 * safetensors benchmarks (issue 27), whole processes side by side, each the
 * best of TORCHWIRE_BENCH_ROUNDS (default 3), on a 1.7 GiB state_dict
 * written by torch 2.13 (generated on the fly, as run.ts does) and its
 * .safetensors (written by the real safetensors):
 *   (g) listing the keys: `torchwire inspect --limit 1` vs safetensors' safe_open(...).keys() in Python with torch;
 *   (h) converting .pt → .safetensors: `torchwire convert` vs torch.load + save_file, and a plain `cp` of the file
 *       (alone, and followed by `sync` of the copy, since the convert fsyncs what it wrote);
 *   (i) reading every tensor: torchwire (Checkpoint.arrays) vs safetensors.torch.load of the file's bytes
 *       (load_file maps the file and reads nothing until a tensor is touched).
 * Prints a Markdown table (BENCHMARKS.md). Needs `pnpm build` and .venv-torch.
 */
import { execFileSync } from "node:child_process"
import { existsSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { bundleWorker } from "./bundle.js"
import { best, bin, log, mib, python, rounds, secs, stateDict, timed, work, type Measured } from "./processes.js"



/** torch.load + save_file, tied weights written once as save_model keeps them (what torchwire's convert writes). */
const PY_CONVERT = [
  "import sys, torch",
  "from safetensors.torch import _remove_duplicate_names, save_file",
  "sd = torch.load(sys.argv[1])",
  "for names in _remove_duplicate_names(sd).values():",
  "    for name in names: del sd[name]",
  "save_file({k: v.contiguous() for k, v in sd.items()}, sys.argv[2], metadata={'format': 'pt'})"
].join("\n")

const pt = stateDict()
const st = join(work, "state_dict_1740mib.safetensors")
if (!existsSync(st)) {
  log(`writing ${st} with safetensors' save_file ...`)
  execFileSync(python, ["-c", PY_CONVERT, pt, st])
}
const bytes = statSync(st).size
const out = join(work, "out.safetensors")
const fresh = () => rmSync(out, { force: true })
const reader = await bundleWorker("read_safetensors", join(work, "bundle"))

log("(g) listing keys ...")
const keysOurs = best(() => timed(process.execPath, [bin, "inspect", "--limit", "1", st]))
const keysTheirs = best(() => timed(python, ["-c", "import sys, torch; from safetensors import safe_open; print(len(safe_open(sys.argv[1], 'pt').keys()))", st]))
log("(h) converting .pt to .safetensors ...")
const convertOurs = best(() => timed(process.execPath, [bin, "convert", pt, out]), fresh)
const convertTheirs = best(() => timed(python, ["-c", PY_CONVERT, pt, out]), fresh)
const copy = best(() => timed("cp", [pt, out]), fresh)
// torchwire's convert fsyncs what it wrote (as every save does): the same copy made durable.
const copySynced = best(() => timed("sh", ["-c", 'cp "$0" "$1" && sync "$1"', pt, out]), fresh)
log("(i) reading every tensor ...")
const readOurs = best(() => timed(process.execPath, [reader, st]))
// load_file maps the file and touches nothing: reading every tensor is safetensors' load of the file's bytes.
const readTheirs = best(() => timed(python, ["-c", "import sys, torch; from safetensors.torch import load; print(len(load(open(sys.argv[1], 'rb').read())))", st]))
fresh()

const rate = (m: Measured) => `${(statSync(pt).size / 2 ** 20 / m.seconds).toFixed(0)} MiB/s`
process.stdout.write([
  `| safetensors, ${(bytes / 2 ** 30).toFixed(2)} GiB (best of ${rounds}, whole processes) | torchwire | alternative | ratio |`,
  "| --- | --- | --- | --- |",
  `| (g) list the keys | ${secs(keysOurs)}, ${mib(keysOurs)} | safe_open + torch: ${secs(keysTheirs)}, ${mib(keysTheirs)} | ${((100 * keysOurs.seconds) / keysTheirs.seconds).toFixed(0)}% of the time |`,
  `| (h) convert .pt → .safetensors | ${secs(convertOurs)} (${rate(convertOurs)}), ${mib(convertOurs)} | torch.load + save_file: ${secs(convertTheirs)}, ${mib(convertTheirs)}; cp: ${secs(copy)} (${rate(copy)}); cp + sync: ${secs(copySynced)} (${rate(copySynced)}) | ${((100 * copy.seconds) / convertOurs.seconds).toFixed(0)}% of cp's throughput, ${((100 * copySynced.seconds) / convertOurs.seconds).toFixed(0)}% of cp + sync's |`,
  `| (i) read every tensor | ${secs(readOurs)}, ${mib(readOurs)} | safetensors.torch.load: ${secs(readTheirs)}, ${mib(readTheirs)} | ${((100 * readOurs.seconds) / readTheirs.seconds).toFixed(0)}% of the time |`
].join("\n") + "\n")
