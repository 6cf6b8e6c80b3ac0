/**
 * One unpickling measurement in its own process.
 *
 * Usage: node unpickle_worker.mjs MODE FILE RUNS
 *   torchwire     Pickle.load (globals as opaque objects, persistent ids as None)
 *   pickleparser  the npm pickleparser package's Parser.parse
 *   floor         no parsing: builds the values of make_pickles.py's mixed list directly
 *                 (ints, PyFloat, strings, PyTuple, None, True), the least any unpickler
 *                 producing torchwire's value model must spend; mixed.pkl only
 * Runs once to warm up, then RUNS times. Prints JSON {"seconds" (median), "peakRssMiB"}, or
 * {"error"} when the parser cannot read the file.
 */
import * as Pickle from "@torchwire/core/Pickle"
import { PyFloat, PyTuple, type PyValue } from "@torchwire/core/Value"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { Parser } from "pickleparser"

const [mode, file, runs] = process.argv.slice(2) as [string, string, string]
const bytes = new Uint8Array(readFileSync(file))
const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024

/** The values of the mixed list, made without parsing. */
const mixedFloor = (): Array<PyValue> => {
  const out: Array<PyValue> = []
  for (let i = 0; i < 1_000_000 / 6; i++) out.push(i, new PyFloat(i * 0.5), String(i), new PyTuple([i, i + 1]), null, true)
  return out
}

const parse: () => unknown = mode === "torchwire"
  ? () => Effect.runSync(Pickle.load(bytes, { persistentLoad: () => null }))
  : mode === "pickleparser"
  ? () => new Parser({ persistentResolver: () => null } as never).parse(bytes)
  : mixedFloor

try {
  parse()
  const times: Array<number> = []
  for (let i = 0; i < Number(runs); i++) {
    const t0 = performance.now()
    parse()
    times.push((performance.now() - t0) / 1000)
  }
  times.sort((a, b) => a - b)
  console.log(JSON.stringify({ seconds: times[Math.floor(times.length / 2)], peakRssMiB: peakRssMiB() }))
} catch (e) {
  console.log(JSON.stringify({ error: String(e).slice(0, 200) }))
}
