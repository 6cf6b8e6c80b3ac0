/**
 * Whole processes measured for the benchmarks: wall time and peak memory
 * under /usr/bin/time, the best of TORCHWIRE_BENCH_ROUNDS (default 3) runs.
 */
import { spawnSync } from "node:child_process"

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
