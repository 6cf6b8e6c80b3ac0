/**
 * Mobile-module conversion benchmark (issue 31), whole processes side by
 * side, each the best of TORCHWIRE_BENCH_ROUNDS (default 3), on a traced
 * torchvision ResNet-18 (45 MiB) that Debian's torch 1.13 saves in both
 * forms (mobile_oracle.py models):
 *   (n) .ptl → .ff: `torchwire convert` vs torch (torch.jit.load of the .ptl, then
 *       _save_for_lite_interpreter(_use_flatbuffer=True): torch has no direct conversion);
 *   (o) .ff → .ptl: `torchwire convert` vs torch (torch.jit.load of the .ff, then _save_for_lite_interpreter).
 * Prints a Markdown table (BENCHMARKS.md). Needs `pnpm build`.
 */
import { execFileSync } from "node:child_process"
import { existsSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { best, bin, log, mib, rounds, secs, timed, work, type Measured } from "./processes.js"

const models = join(work, "mobile")
const ptl = join(models, "resnet18_traced.ptl")
const ff = join(models, "resnet18_traced.ff")
if (!existsSync(ptl) || !existsSync(ff)) {
  log(`writing ${models} with torch 1.13 ...`)
  execFileSync("/usr/bin/python3", [join(import.meta.dirname, "..", "..", "test-utils", "python", "mobile_oracle.py"), "models", models], { stdio: ["ignore", "ignore", "inherit"] })
}
const outFf = join(work, "mobile_out.ff")
const outPtl = join(work, "mobile_out.ptl")
const fresh = () => [outFf, outPtl].forEach((f) => rmSync(f, { force: true }))
const torchConvert = (input: string, output: string, flatbuffer: boolean) =>
  timed("/usr/bin/python3", ["-c", `import sys, torch; torch.jit.load(sys.argv[1])._save_for_lite_interpreter(sys.argv[2]${flatbuffer ? ", _use_flatbuffer=True" : ""})`, input, output])

log("(n) .ptl → .ff ...")
const toFfOurs = best(() => timed(process.execPath, [bin, "convert", ptl, outFf]), fresh)
const toFfTheirs = best(() => torchConvert(ptl, outFf, true), fresh)
log("(o) .ff → .ptl ...")
const toPtlOurs = best(() => timed(process.execPath, [bin, "convert", ff, outPtl]), fresh)
const toPtlTheirs = best(() => torchConvert(ff, outPtl, false), fresh)
fresh()

const size = (f: string) => `${(statSync(f).size / 2 ** 20).toFixed(1)} MiB`
const row = (label: string, ours: Measured, theirs: Measured) =>
  `| ${label} | ${secs(ours)}, ${mib(ours)} | ${secs(theirs)}, ${mib(theirs)} | ${((100 * ours.seconds) / theirs.seconds).toFixed(0)}% of the time, ${((100 * ours.peakRssMiB) / theirs.peakRssMiB).toFixed(0)}% of the memory |`
process.stdout.write([
  `| traced ResNet-18 (.ptl ${size(ptl)}, .ff ${size(ff)}; best of ${rounds}, whole processes) | torchwire convert | torch 1.13 (jit.load, then save) | ratio |`,
  "| --- | --- | --- | --- |",
  row("(n) .ptl → .ff", toFfOurs, toFfTheirs),
  row("(o) .ff → .ptl", toPtlOurs, toPtlTheirs)
].join("\n") + "\n")
