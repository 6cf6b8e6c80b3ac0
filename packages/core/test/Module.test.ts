/**
 * TorchScript archives as modules; the expected values are what
 * torch.jit.load reports for the same fixtures (see the generator).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as Bytecode from "@torchwire/core/Bytecode"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Module from "@torchwire/core/Module"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import { PyFloat, PyTuple } from "@torchwire/core/Value"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import { fixtureBytes } from "@torchwire/test-utils"
import { zipOf } from "@torchwire/test-utils/differentials"
import { unzipSync } from "fflate"
import { concatBytes } from "../src/internal/bytes.js"

/** A five-item storage id plus a sixth, None: `('storage', FloatStorage, '0', 'cpu', 1, None)` as data.pkl. */
const sixItemId = Uint8Array.from([
  0x80, 0x02, 0x28, 0x58, 7, 0, 0, 0, ...new TextEncoder().encode("storage"), 0x63, ...new TextEncoder().encode("torch\nFloatStorage\n"),
  0x58, 1, 0, 0, 0, 0x30, 0x58, 3, 0, 0, 0, ...new TextEncoder().encode("cpu"), 0x4b, 1, 0x4e, 0x74, 0x51, 0x2e
])

/** The records of a zip archive, in order (fflate reads them). */
const unzipped = (bytes: Uint8Array): Array<readonly [string, Uint8Array]> => Object.entries(unzipSync(bytes))

const open = (file: string) => Module.open(ByteSource.fromUint8Array(fixtureBytes(file), file))

describe("Module", () => {
  it.effect("attributes keep their TorchScript values; state_dict follows torch's order", () =>
    Effect.gen(function*() {
      const { module: m } = yield* open("script_custom.pt")
      const a = m.attributes
      assert.strictEqual(a.get("name"), "custom")
      assert.strictEqual(a.get("k"), 3)
      assert.strictEqual((a.get("ratio") as PyFloat).value, 0.5)
      assert.strictEqual(a.get("flag"), true)
      assert.deepStrictEqual(a.get("ids"), [1, 2, 3])
      assert.deepStrictEqual(a.get("names"), ["a", "b"])
      assert.deepStrictEqual([...(a.get("counts") as Map<string, number>)], [["a", 1], ["b", 2]])
      assert.deepStrictEqual((a.get("pair") as PyTuple).items, [1, "x"])
      assert.strictEqual(a.get("maybe"), null)
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(a.get("table") as Torch.Tensor)) as Float32Array), [0, 1, 2, 3])
      // torch: list(m.state_dict().keys())
      assert.deepStrictEqual([...Module.stateDict(m).keys()], ["scale", "inner.running", "inner.lin.weight", "inner.lin.bias", "seq.0.weight", "seq.0.bias"])
      assert.deepStrictEqual(m.submodules.map(([n, s]) => [n, s.type]), [["inner", "__torch__.fixture_classes.Inner"], ["seq", "__torch__.torch.nn.modules.container.Sequential"]])
      assert.include(m.source!, "def helper(self: __torch__.fixture_classes.Custom")
    }))

  it.effect("__getstate__ tuples map to attributes through __setstate__'s assignments", () =>
    Effect.gen(function*() {
      const { module: m } = yield* open("script_stateful.pt")
      assert.strictEqual(m.attributes.get("note"), "saved")
      assert.deepStrictEqual([...Module.stateDict(m).keys()], ["weight"])
    }))

  it.effect("constants, code and the mobile flavour", () =>
    Effect.gen(function*() {
      const traced = yield* open("trace_constant.pt")
      const [constant] = (traced.constants as PyTuple).items as [Torch.Tensor]
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(constant)) as Float32Array), [1, 2, 3, 4])
      assert.isAbove(traced.code.size, 0)
      const mobile = yield* open("mobile_custom.ptl")
      assert.strictEqual(mobile.format, "mobile")
      assert.deepStrictEqual(mobile.module.methods, ["forward", "helper"])
    }))

  it.effect("an archive of version 1 (torch ~1.3): storage ids of six items load as torch's TorchScript reader loads them", () =>
    Effect.gen(function*() {
      // old_torchscript.py: script_sequential.pt with a sixth item (None) in every storage id, version 1.
      const old = yield* open("script_version1.pt")
      const modern = yield* open("script_sequential.pt")
      assert.strictEqual(old.version, 1)
      assert.deepStrictEqual(yield* Summary.ofModule(old), yield* Summary.ofModule(modern))
      // torch.load's reader (Python's persistent_load) takes exactly five: the checkpoint path stays strict.
      const data = zipOf([["archive/data.pkl", sixItemId], ["archive/version", new TextEncoder().encode("3\n")], ["archive/data/0", new Uint8Array(4)]])
      const e = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(data), { weightsOnly: false }))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "BadPersistentId")
    }))

  it.effect("openCode reads code/ alone: the sources of an archive whose data.pkl does not load", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("script_sequential.pt")
      const modern = yield* Module.openCode(ByteSource.fromUint8Array(bytes))
      assert.isAbove(modern.classes.size, 3)
      const broken = zipOf(unzipped(bytes).map(([name, data]) => [name, name.endsWith("/data.pkl") ? Uint8Array.of(0x80, 0x02, 0x51) : data] as const))
      assert.strictEqual((yield* Effect.flip(Module.open(ByteSource.fromUint8Array(broken))))._tag, "PickleError")
      const code = yield* Module.openCode(ByteSource.fromUint8Array(broken))
      assert.deepStrictEqual([...code.code], [...modern.code])
    }))

  it.effect("a torch.save checkpoint is not a module", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(open("linear.pt"))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "UnsupportedFormat")
    }))

  it.effect("save without replacements reloads the same module: code, constants, attributes", () =>
    Effect.gen(function*() {
      for (const file of ["script_custom.pt", "trace_constant.pt", "mobile_custom.ptl"]) {
        const a = yield* open(file)
        const bytes = concatBytes(Chunk.toReadonlyArray(yield* Stream.runCollect(Module.save(a))))
        const b = yield* Module.open(ByteSource.fromUint8Array(bytes))
        assert.deepStrictEqual([...b.code], [...a.code], file)
        assert.deepStrictEqual(yield* Summary.summarize(b.constants), yield* Summary.summarize(a.constants), file)
        assert.deepStrictEqual(yield* Summary.summarize(b.module.object), yield* Summary.summarize(a.module.object), file)
        assert.deepStrictEqual(yield* Summary.ofModule(b), yield* Summary.ofModule(a), file)
      }
    }))

  it.effect("replacements must match dtype and shape, and own their storage", () =>
    Effect.gen(function*() {
      const a = yield* open("script_custom.pt")
      const fail = (name: string, t: Torch.Tensor) => Effect.flip(Stream.runDrain(Module.save(a, { replace: new Map([[name, t]]) })))
      assert.include((yield* fail("inner.lin.weight", Torch.tensor(new Float32Array(4), { shape: [2, 2] }))).message, "replacement is float32 [2,2]")
      assert.include((yield* fail("inner.lin.weight", Torch.tensor(new Float64Array(6), { shape: [2, 3] }))).message, "float64")
      assert.strictEqual((yield* fail("nope", Torch.tensor(new Float32Array(1)))).message.includes("no parameter or buffer"), true)
    }))

  it("bytecode with a wrong table name or an unknown opcode is a typed error", () => {
    const method = (op: string, table = "instructions") =>
      new PyTuple(["m", new PyTuple([
        new PyTuple([table, new PyTuple([new PyTuple([op, 0, 0])])]),
        new PyTuple(["operators", new PyTuple([])]),
        new PyTuple(["constants", new PyTuple([])]),
        new PyTuple(["types", new PyTuple([])]),
        new PyTuple(["register_size", 1])
      ])])
    assert.strictEqual(Bytecode.decode(new PyTuple([8, method("RET")])).methods[0]!.instructions[0]!.op, "RET")
    assert.throws(() => Bytecode.decode(new PyTuple([8, method("RET", "instrs")])), /expected instructions, found instrs/)
    assert.throws(() => Bytecode.decode(new PyTuple([8, method("JUMP_AROUND")])), /JUMP_AROUND/)
    assert.throws(() => Bytecode.decode(new PyTuple([3, method("RET")])), /between 4 and 9|4/)
  })
})
