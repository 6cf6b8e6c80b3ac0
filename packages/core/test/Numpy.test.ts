/**
 * NumPy values, in checkpoints real torch 1.13 (NumPy 1) and 2.13 (NumPy 2)
 * saved, and in bare pickles CPython wrote (python/numpy_values.py): read
 * as arrays, scalars and dtypes, written back byte for byte, refused by the
 * weights-only load unless opted in, and allowed by scan.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Numpy from "@torchwire/core/Numpy"
import * as Pickle from "@torchwire/core/Pickle"
import * as Scan from "@torchwire/core/Scan"
import type { PyValue } from "@torchwire/core/Value"
import { fixtureBytes } from "@torchwire/test-utils"

const source = (file: string) => ByteSource.fromUint8Array(fixtureBytes(file), file)

/** The values of a fixture's top-level dict, by key. */
const valuesOf = (file: string, options: Checkpoint.OpenOptions = { weightsOnly: false }) =>
  Effect.map(Checkpoint.open(source(file), options), (c) => new Map([...(c.value as Map<PyValue, PyValue>)].map(([k, v]) => [k as string, v])))

describe("NumPy values", () => {
  for (const major of [1, 2]) {
    it.effect(`arrays, scalars and dtypes of NumPy ${major}, as NumPy loads them`, () =>
      Effect.gen(function*() {
        const v = yield* valuesOf(`numpy_values_np${major}.pt`)
        const array = (key: string) => Numpy.ndarrayOf(v.get(key)!)!
        const labels = array("labels")
        assert.deepStrictEqual([labels.dtype.str, labels.shape, labels.numpy2], ["<i8", [5], major === 2])
        assert.deepStrictEqual(Array.from(Numpy.toTypedArray(labels) as BigInt64Array), [3n, 1n, 4n, 1n, 5n])
        const fortran = array("fortran")
        assert.deepStrictEqual([fortran.shape, fortran.fortranOrder], [[2, 3], true])
        assert.deepStrictEqual(Array.from(Numpy.toTypedArray(fortran) as Float64Array), [0, 3, 1, 4, 2, 5], "column by column")
        // Pickled >f4; NumPy loads it as <f4.
        const big = array("big_endian")
        assert.deepStrictEqual([big.dtype.str, Array.from(Numpy.toTypedArray(big) as Float32Array)], ["<f4", [1, -2]])
        assert.deepStrictEqual(array("objects").items, ["x", null, 3])
        assert.deepStrictEqual([array("words").dtype.str, array("flags").dtype.str, array("empty").shape], ["<U3", "|b1", [0, 4]])
        assert.strictEqual(Numpy.ndarrayOf((v.get("numpy_rng") as { items: Array<PyValue> }).items[1]!)!.shape[0], 624)
        const scalar = (key: string) => Numpy.scalarOf(v.get(key)!)!
        assert.deepStrictEqual([scalar("best_metric").type, scalar("best_metric").value], ["float64", 0.875])
        assert.deepStrictEqual([scalar("steps").type, scalar("steps").value], ["int64", 1200])
        assert.deepStrictEqual([scalar("small").value, scalar("half").value, scalar("name").value], [0.25, 1.5, "run-7"])
        assert.deepStrictEqual([scalar("done").type, scalar("done").value], [major === 1 ? "bool_" : "bool", true])
        assert.strictEqual(Numpy.dtypeOf(v.get("dtype")!)!.str, "<i2")
        assert.isUndefined(Numpy.ndarrayOf(v.get("weight")!))
      }))

    it.effect(`NumPy ${major}: weights-only refuses them as torch does, allowNumpy lets exactly them through, scan allows them`, () =>
      Effect.gen(function*() {
        const refused = yield* Effect.flip(Checkpoint.open(source(`numpy_values_np${major}.pt`)))
        assert.strictEqual(refused._tag === "PickleError" && refused.reason, "ForbiddenGlobal")
        assert.include(refused.message, "allowNumpy: true")
        const allowed = yield* valuesOf(`numpy_values_np${major}.pt`, { allowNumpy: true })
        assert.strictEqual(Numpy.scalarOf(allowed.get("best_metric")!)!.value, 0.875)
        const report = yield* Scan.scan(source(`numpy_values_np${major}.pt`))
        assert.strictEqual(report.verdict, "safe")
        assert.isTrue(report.globals.some((g) => g.module.startsWith(major === 1 ? "numpy.core" : "numpy._core")))
      }))

    it.effect(`NumPy ${major}: Pickle.dump writes CPython's pickles of them back byte for byte`, () =>
      Effect.gen(function*() {
        for (const protocol of [2, 4]) {
          const original = fixtureBytes(`numpy_values_np${major}_p${protocol}.pkl`)
          assert.deepStrictEqual(yield* Pickle.dump(yield* Pickle.load(original), { protocol }), original, `protocol ${protocol}`)
        }
      }))
  }

  it.effect("allowNumpy allows NumPy's globals, not others", () =>
    Effect.gen(function*() {
      // The pickle of `os.system` inside a NumPy array's state is still refused.
      const evil = Uint8Array.from([0x80, 0x02, ...new TextEncoder().encode("cos\nsystem\n"), 0x4e, 0x2e])
      const e = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(evil), { allowNumpy: true }))
      assert.strictEqual(e._tag === "PickleError" && e.reason, "ForbiddenGlobal")
      assert.isTrue(Numpy.GLOBALS.has("numpy._core.multiarray._reconstruct"))
    }))
})
