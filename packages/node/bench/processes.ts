/**
 * Whole processes measured for the benchmarks: wall time and peak memory
 * under /usr/bin/time, the best of TORCHWIRE_BENCH_ROUNDS (default 3) runs.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Runs per measurement. */
export const rounds = Number(process.env.TORCHWIRE_BENCH_ROUNDS ?? 3)

/** One process's wall seconds and peak resident memory. */
export interface Measured {
  readonly seconds: number
  readonly peakRssMiB: number
}

/** One whole process under /usr/bin/time: wall seconds and peak resident memory. */
export const timed = (cmd: string, args: ReadonlyArray<string>): Measured => {
  const run = spawnSync("/usr/bin/time", ["-f", "%e %M", cmd, ...args], { encoding: "utf8", maxBuffer: 64 << 20 })
  if (run.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${run.stderr.slice(-2000)}`)
  const [seconds, kib] = run.stderr.trim().split("\n").at(-1)!.split(" ").map(Number)
  return { seconds: seconds!, peakRssMiB: kib! / 1024 }
}

/** The best of `rounds` runs (peak memory the highest seen), `before` run ahead of each. */
export const best = (measure: () => Measured, before?: () => void): Measured => {
  const all = Array.from({ length: rounds }, () => (before?.(), measure()))
  return { seconds: Math.min(...all.map((m) => m.seconds)), peakRssMiB: Math.max(...all.map((m) => m.peakRssMiB)) }
}

/** "1.23 s" */
export const secs = (m: Measured) => `${m.seconds.toFixed(2)} s`

/** "123 MiB" of peak memory. */
export const mib = (m: Measured) => `${m.peakRssMiB.toFixed(0)} MiB`

/** Where the benchmarks keep their inputs and outputs: $TMPDIR/torchwire-bench. */
export const work = join(tmpdir(), "torchwire-bench")

/** The built CLI. */
export const bin = join(import.meta.dirname, "..", "dist", "torchwire.cjs")

/** torch 2.13's Python (.venv-torch, or TORCHWIRE_PYTHON2). */
export const python = process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")

/** A line of progress on stderr. */
export const log = (s: string) => process.stderr.write(s + "\n")

/** The 1.67 GiB transformer-shaped state_dict torch 2.13 saves (make_checkpoint.py), made once in `work`. */
export const stateDict = (): string => {
  mkdirSync(work, { recursive: true })
  const pt = join(work, "state_dict_1740mib_torch2.pt")
  if (!existsSync(pt)) {
    log(`generating ${pt} with torch 2.13 ...`)
    execFileSync(python, [join(import.meta.dirname, "make_checkpoint.py"), pt, "1740"], { stdio: ["ignore", "ignore", "inherit"] })
  }
  return pt
}
