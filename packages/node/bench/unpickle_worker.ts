/**
 * One unpickling measurement in its own process.
 *
 * Usage: node unpickle_worker.mjs MODE FILE RUNS
 *   torchwire     Pickle.load (globals as opaque objects, persistent ids as None)
 *   pickleparser  the npm pickleparser package's Parser.parse
 *   floor         no parsing: builds the values make_pickles.py pickled directly, as Pickle.load
 *                 models them (mixed.pkl: ints, PyFloat, strings, PyTuple, None, True; sd100k.pkl:
 *                 an OrderedDict of opaque _rebuild_tensor_v2 calls with their argument tuples),
 *                 the least any unpickler producing torchwire's value model must spend
 * Runs once to warm up, then RUNS times. Prints JSON {"seconds" (median), "peakRssMiB"}, or
 * {"error"} when the parser cannot read the file.
 */
import * as Pickle from "@torchwire/core/Pickle"
import { OrderedDict, PyFloat, PyGlobal, PyObject, PyTuple, type PyValue } from "@torchwire/core/Value"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { Parser } from "pickleparser"

const [mode, file, runs] = process.argv.slice(2) as [string, string, string]
const bytes = new Uint8Array(readFileSync(file))
const peakRssMiB = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024

/** The values of the mixed list, made without parsing, in a list made at its final length (as Pickle.load makes it). */
const mixedFloor = (): Array<PyValue> => {
  const rows = Math.floor(1_000_000 / 6) // as make_pickles.py
  const out = new Array<PyValue>(6 * rows)
  for (let i = 0, k = 0; i < rows; i++) {
    out[k++] = i
    out[k++] = new PyFloat(i * 0.5)
    out[k++] = String(i)
    out[k++] = new PyTuple([i, i + 1])
    out[k++] = null
    out[k++] = true
  }
  return out
}

const rebuild = new PyGlobal("torch._utils", "_rebuild_tensor_v2")
const floatStorage = new PyGlobal("torch", "FloatStorage")

/**
 * The 100k-tensor state_dict's data.pkl as Pickle.load models it (persistent
 * ids loaded as None), made without parsing: for each tensor its name, the
 * persistent-id tuple, the size and stride tuples, the empty hooks dict and
 * the opaque rebuild call.
 */
const stateDictFloor = (): OrderedDict => {
  const sd = new OrderedDict()
  for (let i = 0; i < 100_000; i++) {
    void new PyTuple(["storage", floatStorage, String(i), "cpu", 2]) // the persistent id, dropped by persistent_load
    const args = [null, 0, new PyTuple([2]), new PyTuple([1]), false, new OrderedDict()]
    sd.set(`layer${i}.weight`, new PyObject(rebuild, new PyTuple(args).items, "reduce"))
  }
  return sd
}

const parse: () => unknown = mode === "torchwire"
  ? () => Effect.runSync(Pickle.load(bytes, { persistentLoad: () => null }))
  : mode === "pickleparser"
  ? () => new Parser({ persistentResolver: () => null } as never).parse(bytes)
  : file.endsWith("mixed.pkl")
  ? mixedFloor
  : stateDictFloor

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
