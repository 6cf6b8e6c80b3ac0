/**
 * `pnpm bench:startup` (and the last step of `pnpm bench`): whole processes, timed with hyperfine, side by side in
 * one run: the built `torchwire` bin's start-up (`--version`, with and without its compile cache, against node
 * alone) and `torchwire inspect --all` of a 1.7 GiB `torch.save` state_dict against torch 2.13's `torch.load` (its
 * defaults, and `mmap=True`) printing the keys, `import torch` included. Writes its section of BENCHMARKS.md,
 * between the markers, leaving the rest of the file as the last full run wrote it.
 *
 * Needs hyperfine (Debian's package), `pnpm build`, and torch 2.13 in .venv-torch (scripts/install-oracles.sh).
 * Environment: TORCHWIRE_STARTUP_ROUNDS (default 3), TORCHWIRE_STARTUP_MIB (default 1740),
 * TORCHWIRE_PYTHON2 (default .venv-torch/bin/python).
 */
import { execFileSync } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { cpus, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { bundleCli } from "../scripts/bundle-cli.js"

const root = join(import.meta.dirname, "..", "..", "..")
const bin = join(root, "packages", "node", "dist", "torchwire.cjs")
const python = process.env["TORCHWIRE_PYTHON2"] ?? join(root, ".venv-torch", "bin", "python")
const rounds = Number(process.env["TORCHWIRE_STARTUP_ROUNDS"] ?? 3)
const sizeMiB = Number(process.env["TORCHWIRE_STARTUP_MIB"] ?? 1740)
const work = join(tmpdir(), "torchwire-bench")
const log = (s: string) => process.stderr.write(s + "\n")
const BEGIN = "<!-- startup:begin -->"
const END = "<!-- startup:end -->"

/** One command: its label, the argv hyperfine runs (no shell), and how many runs a round takes. */
interface Workload {
  readonly key: string
  readonly label: string
  readonly argv: ReadonlyArray<string>
  readonly runs: number
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`
const quote = (a: string) => (/^[\w./=:@-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)

/** Every run's seconds of each workload: `rounds` hyperfine invocations each, taken round-robin. */
const measure = (workloads: ReadonlyArray<Workload>): Map<string, Array<number>> => {
  const times = new Map(workloads.map((w) => [w.key, [] as Array<number>]))
  const out = join(mkdtempSync(join(tmpdir(), "torchwire-hyperfine-")), "run.json")
  for (let round = 1; round <= rounds; round++) {
    for (const w of workloads) {
      log(`round ${round}/${rounds}: ${w.label}`)
      execFileSync("hyperfine", ["-N", "--warmup", "2", "--runs", String(w.runs), "--export-json", out, w.argv.map(quote).join(" ")], {
        stdio: ["ignore", "ignore", "inherit"]
      })
      times.get(w.key)!.push(...JSON.parse(readFileSync(out, "utf8")).results[0].times)
    }
  }
  return times
}

const main = async () => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run pnpm build`)
  mkdirSync(work, { recursive: true })
  // The floor: a bare @effect/cli program, bundled and started by the same bin as torchwire's CLI.
  const floorDir = join(work, "startup-floor")
  mkdirSync(floorDir, { recursive: true })
  await bundleCli(join(import.meta.dirname, "startup_floor.ts"), floorDir)
  copyFileSync(bin, join(floorDir, "torchwire.cjs"))
  const floor = join(floorDir, "torchwire.cjs")
  const file = join(work, `state_dict_${sizeMiB}mib_torch2.pt`)
  if (!existsSync(file)) {
    log(`generating ${file} with torch 2.13's torch.save ...`)
    execFileSync(python, [join(import.meta.dirname, "make_checkpoint.py"), file, String(sizeMiB)], { stdio: ["ignore", "ignore", "inherit"] })
  }
  const cache = mkdtempSync(join(tmpdir(), "torchwire-startup-cache-"))
  const node = process.execPath
  const withCache = ["env", `XDG_CACHE_HOME=${cache}`, node, bin]
  const keys = execFileSync(python, [join(import.meta.dirname, "torch_load_keys.py"), file], { encoding: "utf8", maxBuffer: 64 << 20 }).trim().split("\n").length
  const torchVersion = execFileSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" }).trim()
  const workloads: ReadonlyArray<Workload> = [
    { key: "node", label: "node alone (`node -e 0`)", argv: [node, "-e", "0"], runs: 20 },
    { key: "version", label: "`torchwire --version`", argv: [...withCache, "--version"], runs: 20 },
    { key: "floor", label: "floor: `--version` of a bare @effect/cli program (one command), bundled and started the same way", argv: ["env", `XDG_CACHE_HOME=${cache}`, node, floor, "--version"], runs: 20 },
    { key: "floorImports", label: "floor: the same program's modules imported, nothing run", argv: ["env", `XDG_CACHE_HOME=${cache}`, node, floor, "--imports-only"], runs: 20 },
    { key: "versionCold", label: "`torchwire --version` without the compile cache (`NODE_DISABLE_COMPILE_CACHE=1`)", argv: ["env", "NODE_DISABLE_COMPILE_CACHE=1", node, bin, "--version"], runs: 20 },
    { key: "inspect", label: `\`torchwire inspect --all\` (${keys} keys)`, argv: [...withCache, "inspect", "--all", file], runs: 10 },
    { key: "torch", label: `torch ${torchVersion}: \`import torch\`, \`torch.load\` (defaults: weights-only), print the keys`, argv: [python, join(import.meta.dirname, "torch_load_keys.py"), file], runs: 3 },
    { key: "torchMmap", label: `the same with \`torch.load(mmap=True)\``, argv: [python, join(import.meta.dirname, "torch_load_keys.py"), file, "--mmap"], runs: 5 }
  ]
  // The compile caches are made by the first runs, as a user's first run makes them.
  execFileSync(withCache[0]!, [...withCache.slice(1), "--version"], { stdio: "ignore" })
  execFileSync("env", [`XDG_CACHE_HOME=${cache}`, node, floor, "--version"], { stdio: "ignore" })
  const times = measure(workloads)
  const med = Object.fromEntries(workloads.map((w) => [w.key, median(times.get(w.key)!)])) as Record<string, number>
  rmSync(cache, { recursive: true, force: true })
  const pct = (x: number) => `${Math.ceil(100 * x)}%`
  const section = `${BEGIN}
## (f) Start-up and whole processes

Generated by \`pnpm bench:startup\` (packages/node/bench/startup.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.
Whole processes timed by hyperfine (no shell), ${rounds} rounds round-robin, after 2 warm-up runs each; every row is
the median of all its runs. The checkpoint is a ${(statSync(file).size / 2 ** 30).toFixed(2)} GiB transformer-shaped state_dict written by torch
${torchVersion}'s \`torch.save\` (make_checkpoint.py), in the page cache for every reader. \`torchwire\` is the built
bin (\`pnpm build\`: \`dist/torchwire.cjs\` loading the bundled CLI through V8's code cache, made by its first run).

| process | median | runs |
| --- | ---: | ---: |
${workloads.map((w) => `| ${w.label} | ${ms(med[w.key]!)} | ${times.get(w.key)!.length} |`).join("\n")}

| target (issue #23) | measured | met |
| --- | --- | :---: |
| \`torchwire --version\` ≤ 150 ms median | ${ms(med.version!)}: node alone ${ms(med.node!)}, a bare @effect/cli program ${ms(med.floor!)} (its modules alone ${ms(med.floorImports!)}); torchwire adds ${ms(med.version! - med.floor!)} to that floor | ${med.version! <= 0.15 ? "yes" : "no"} |
| \`torchwire inspect\` ≤ 10% of \`torch.load\` + keys | ${pct(med.inspect! / med.torch!)} (${ms(med.inspect!)} against ${ms(med.torch!)}) | ${med.inspect! <= 0.1 * med.torch! ? "yes" : "no"} |
| \`torchwire inspect\` ≤ 20% of \`torch.load(mmap=True)\` + keys | ${pct(med.inspect! / med.torchMmap!)} (against ${ms(med.torchMmap!)}) | ${med.inspect! <= 0.2 * med.torchMmap! ? "yes" : "no"} |
${END}`
  const path = join(root, "BENCHMARKS.md")
  const current = readFileSync(path, "utf8")
  const start = current.indexOf(BEGIN)
  const end = current.indexOf(END)
  writeFileSync(path, start >= 0 && end > start ? current.slice(0, start) + section + current.slice(end + END.length) : `${current.trimEnd()}\n\n${section}\n`)
  process.stdout.write(section + "\n")
}

await main()
