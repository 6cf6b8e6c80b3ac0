/**
 * Mobile modules written by torchwire in the other form (Module.save with
 * `format`), checked against what torch itself wrote for the same modules:
 * every .ptl fixture written as a flatbuffer has the layout of torch's own
 * .ff of that module (ivalues in torch's order, functions, object types,
 * storages byte for byte); flatbuffers written back as .ptl and again as
 * .ff come out the same; values TorchScript cannot hold are refused by name.
 * Running the results in torch is MobileInterop.test.ts (packages/node).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ByteSource from "@torchwire/core/ByteSource"
import type { CheckpointError } from "@torchwire/core/Errors"
import * as Module from "@torchwire/core/Module"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import { PyFloat, PyObject, PyGlobal, PySet, PyTuple, type PyValue } from "@torchwire/core/Value"
import { fixtureBytes } from "@torchwire/test-utils"
import { Chunk, Effect, Either, Stream } from "effect"
import * as fc from "fast-check"
import * as flatbuffers from "flatbuffers"
import { IValueUnion } from "../src/internal/fbs/torch/jit/mobile/serialization/ivalue-union.js"
import { Function as FbFunction } from "../src/internal/fbs/torch/jit/mobile/serialization/function.js"
import { Module as FbModule } from "../src/internal/fbs/torch/jit/mobile/serialization/module.js"
import { Object_ } from "../src/internal/fbs/torch/jit/mobile/serialization/object.js"
import { TensorMetadata } from "../src/internal/fbs/torch/jit/mobile/serialization/tensor-metadata.js"
import { tagScriptType } from "../src/internal/torch/scriptTypes.js"

const STEMS = ["custom", "stateful", "sequential", "trace_resblocks", "trace_constant", "mobilenet_v2_small"]

const open = (bytes: Uint8Array, name: string) => Module.open(ByteSource.fromUint8Array(bytes, name))

/** The bytes Module.save writes. */
const saved = (archive: Module.ScriptArchive, options: Module.SaveOptions) =>
  Effect.map(Stream.runCollect(Module.save(archive, options)), (chunks) => {
    const parts = Chunk.toArray(chunks)
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) out.set(p, (at += p.length) - p.length)
    return out
  })

/**
 * A flatbuffer module's layout, field by field: each ivalue's kind (a
 * function's qualified name, instructions, operators, constants, types,
 * register size, schema and class; an object's type, attributes, state and
 * __setstate__; a tensor's metadata), the object types, the methods, the
 * state object, the sources, the constants and every storage's bytes.
 * Debug handles only when asked (a .ptl carries none).
 */
const outline = (bytes: Uint8Array, withDebugHandles: boolean): unknown => {
  const m = FbModule.getRootAsModule(new flatbuffers.ByteBuffer(bytes))
  const list = <A>(n: number, at: (i: number) => A) => Array.from({ length: n }, (_, i) => at(i))
  const ivalue = (i: number) => {
    const iv = m.ivalues(i)!
    const kind = IValueUnion[iv.valType()]
    if (iv.valType() === IValueUnion.Function) {
      const f = iv.val(new FbFunction()) as FbFunction
      const s = f.schema()
      const args = (n: number, at: (j: number) => { name(): string | null; type(): string | null; defaultValue(): number } | null) =>
        list(n, (j) => [at(j)!.name(), at(j)!.type(), at(j)!.defaultValue()])
      return {
        kind,
        qn: f.qn(),
        instructions: list(f.instructionsLength(), (j) => [f.instructions(j)!.op(), f.instructions(j)!.x(), f.instructions(j)!.n()]),
        operators: list(f.operatorsLength(), (j) => [f.operators(j)!.name(), f.operators(j)!.overloadName(), f.operators(j)!.numArgsSerialized()]),
        constants: list(f.constantsLength(), (j) => f.constants(j)),
        types: list(f.typeAnnotationsLength(), (j) => f.typeAnnotations(j)),
        registerSize: f.registerSize(),
        schema: s === null ? null : [args(s.argumentsLength(), (j) => s.arguments_(j)), args(s.returnsLength(), (j) => s.returns(j))],
        classType: f.classType(),
        ...(withDebugHandles ? { debug: list(f.debugInfo()?.debugHandleLength() ?? 0, (j) => String(f.debugInfo()!.debugHandle(j))) } : {})
      }
    }
    if (iv.valType() === IValueUnion.Object_) {
      const o = iv.val(new Object_()) as Object_
      return { kind, type: o.typeIndex(), attrs: Array.from(o.attrsArray() ?? []), state: o.state(), setstate: o.setstateFunc() }
    }
    if (iv.valType() === IValueUnion.TensorMetadata) {
      const t = iv.val(new TensorMetadata()) as TensorMetadata
      return { kind, storage: t.storageLocationIndex(), dtype: t.scalarType(), offset: t.storageOffset(), sizes: Array.from(t.sizesArray() ?? []), strides: Array.from(t.stridesArray() ?? []), grad: t.requiresGrad() }
    }
    return { kind }
  }
  return {
    bytecodeVersion: m.bytecodeVersion(),
    ivalues: list(m.ivaluesLength(), ivalue),
    methods: list(m.methodsLength(), (i) => m.methods(i)),
    stateObj: m.stateObj(),
    mobileIvalueSize: m.mobileIvalueSize(),
    types: list(m.objectTypesLength(), (i) => [m.objectTypes(i)!.typeName(), m.objectTypes(i)!.type(), list(m.objectTypes(i)!.attrNamesLength(), (j) => m.objectTypes(i)!.attrNames(j))]),
    // torch prints the sources again (functions in another order); torchwire carries the archive's as they are.
    sources: list(m.jitSourcesLength(), (i) => m.jitSources(i)!.name()).sort(),
    constants: list(m.jitConstantsLength(), (i) => m.jitConstants(i)),
    // Digests, not byte arrays: a failing comparison of megabytes would take the diff minutes to print.
    storages: list(m.storageDataLength(), (i) => digest(m.storageData(i)!.dataArray() ?? new Uint8Array(0))),
    storagesAligned: list(m.storageDataLength(), (i) => m.storageData(i)!.dataArray()!.byteOffset % 32 === 0)
  }
}

/** Length and 32-bit FNV-1a of some bytes. */
const digest = (bytes: Uint8Array): string => {
  let h = 0x811c9dc5
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return `${bytes.length} bytes, fnv ${h.toString(16)}`
}

/** torch's flatbuffer of a fixture module (written by torch 1.13, see generate_fixtures.py). */
const torchFlatbuffer = (stem: string) => fixtureBytes(`flatbuffer_${stem}.ff`)

describe("Module.save between mobile forms", () => {
  for (const stem of STEMS) {
    it.effect(`mobile_${stem}.ptl written as a flatbuffer has the layout of torch's own flatbuffer_${stem}.ff`, () =>
      Effect.gen(function*() {
        const archive = yield* open(fixtureBytes(`mobile_${stem}.ptl`), stem)
        const ff = yield* saved(archive, { format: "flatbuffer" })
        assert.deepStrictEqual(outline(ff, false), outline(torchFlatbuffer(stem), false))
        // It opens as torch's does: the same module tree and bytecode.
        const ours = yield* open(ff, "ours.ff")
        const theirs = yield* open(torchFlatbuffer(stem), "theirs.ff")
        assert.deepStrictEqual([...ours.code.values()].sort(), [...archive.code.values()].sort())
        assert.deepStrictEqual([...Module.stateDict(ours.module).keys()], [...Module.stateDict(theirs.module).keys()])
        assert.deepStrictEqual(ours.bytecode!.methods.map((m) => m.instructions), theirs.bytecode!.methods.map((m) => m.instructions))
        // And summarizes as torch's does (what `inspect --json` prints: the tree, every tensor's data hashed).
        assert.deepStrictEqual(yield* Summary.ofModule(ours), yield* Summary.ofModule(theirs))
      }))

    it.effect(`flatbuffer_${stem}.ff written as .ptl and back is torch's flatbuffer again; as itself, debug handles included`, () =>
      Effect.gen(function*() {
        const archive = yield* open(torchFlatbuffer(stem), stem)
        const ptl = yield* saved(archive, { format: "mobile" })
        const again = yield* saved(yield* open(ptl, `${stem}.ptl`), { format: "flatbuffer" })
        assert.deepStrictEqual(outline(again, false), outline(torchFlatbuffer(stem), false))
        const itself = yield* saved(archive, {})
        assert.deepStrictEqual(outline(itself, true), outline(torchFlatbuffer(stem), true))
      }))
  }

  it.effect("a replaced parameter is written into the flatbuffer's storage, the others unchanged", () =>
    Effect.gen(function*() {
      const archive = yield* open(torchFlatbuffer("stateful"), "stateful.ff")
      const [name, weight] = Module.namedParameters(archive.module)[0]!
      const replacement = Torch.tensor(Float32Array.from([1, 2, 3, 4]), { shape: weight.shape })
      const ff = yield* saved(archive, { replace: new Map([[name, replacement]]) })
      const reopened = yield* open(ff, "replaced.ff")
      const [, written] = Module.namedParameters(reopened.module)[0]!
      assert.deepStrictEqual(Array.from(yield* Torch.toFloat32(written)), [1, 2, 3, 4])
    }))

  it.effect("a TorchScript archive has no bytecode to write as a mobile module: Unconvertible, saying so", () =>
    Effect.gen(function*() {
      const archive = yield* open(fixtureBytes("script_custom.pt"), "script_custom.pt")
      for (const format of ["flatbuffer", "mobile"] as const) {
        const error = yield* Effect.flip(saved(archive, { format }))
        assert.strictEqual(error._tag, "CheckpointError")
        assert.strictEqual((error as CheckpointError).reason, "Unconvertible")
        assert.include(error.message, "no bytecode")
      }
    }))

  it.effect("values TorchScript cannot hold are refused by name, in both forms", () =>
    Effect.gen(function*() {
      const refusals: ReadonlyArray<readonly [PyValue, string]> = [
        [[], "list whose element type is unknown"],
        [[1, "a"], "list whose element type is unknown"],
        [new PySet([1]), "a set value"],
        [new PyObject(new PyGlobal("__torch__", "Color"), [1], "reduce"), "enums and custom C++ classes"],
        [new Map<PyValue, PyValue>(), "a dict whose element type is unknown (empty"],
        [tagScriptType<PyValue>([1, "two"], "List[int]"), "List[int] element 1 is of type str"],
        [tagScriptType<PyValue>([new PyFloat(1), 2], "List[float]"), "List[float] element 1 is of type int"]
      ]
      for (const [value, words] of refusals) {
        for (const format of ["flatbuffer", "mobile"] as const) {
          const archive = yield* open(fixtureBytes(format === "flatbuffer" ? "mobile_custom.ptl" : "flatbuffer_custom.ff"), "custom")
          ;(archive.module.object.state as Map<PyValue, PyValue>).set("name", value)
          const error = yield* Effect.flip(saved(archive, { format }))
          assert.strictEqual((error as CheckpointError).reason, "Unconvertible", `${format}: ${error.message}`)
          assert.include(error.message, words)
          assert.include(error.message, "name")
        }
      }
    }))

  it.effect("a state without its __setstate__ is refused, not written as fields", () =>
    Effect.gen(function*() {
      const archive = yield* open(fixtureBytes("mobile_custom.ptl"), "custom")
      const root = archive.module.object
      root.state = new PyTuple([1])
      const error = yield* Effect.flip(saved(archive, { format: "flatbuffer" }))
      assert.include(error.message, "__setstate__")
    }))

  it.effect("attribute values survive .ptl → .ff → .ptl (property)", () =>
    Effect.gen(function*() {
      const scalar = fc.oneof(
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((b) => b < -(2n ** 53n) || b > 2n ** 53n),
        fc.double().map((d) => new PyFloat(d)),
        fc.string(),
        fc.boolean()
      )
      const typed = fc.oneof(
        scalar,
        fc.array(fc.integer(), { minLength: 0, maxLength: 5 }).map((xs) => tagScriptType(xs, "List[int]")),
        fc.array(fc.string(), { maxLength: 4 }).map((xs) => tagScriptType(xs, "List[str]")),
        fc.array(fc.double().map((d) => new PyFloat(d)), { maxLength: 4 }).map((xs) => tagScriptType(xs, "List[float]")),
        fc.tuple(fc.integer(), fc.string()).map(([a, b]) => new PyTuple([a, b])),
        fc.dictionary(fc.string(), fc.integer(), { maxKeys: 3 }).map((d) => tagScriptType(new Map<PyValue, PyValue>(Object.entries(d)), "Dict[str, int]"))
      )
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(typed, async (value) => {
          const result = await Effect.runPromise(Effect.either(Effect.gen(function*() {
            const archive = yield* open(fixtureBytes("mobile_custom.ptl"), "custom")
            ;(archive.module.object.state as Map<PyValue, PyValue>).set("name", value)
            const ff = yield* open(yield* saved(archive, { format: "flatbuffer" }), "x.ff")
            const ptl = yield* open(yield* saved(ff, { format: "mobile" }), "x.ptl")
            return [ff.module.attributes.get("name"), ptl.module.attributes.get("name")]
          })))
          assert.isTrue(Either.isRight(result), Either.isLeft(result) ? String(result.left) : "")
          const [viaFlatbuffer, viaZip] = (result as Either.Right<never, [PyValue, PyValue]>).right
          assert.deepStrictEqual(normal(viaFlatbuffer), normal(value))
          assert.deepStrictEqual(normal(viaZip), normal(value))
        })
        , { numRuns: 60 })
      )
    }), 60_000)
})

/** A value compared as data: ints as strings (a bigint within 2^53 reads back as a number), floats by their bits. */
const normal = (v: PyValue | undefined): unknown => {
  if (typeof v === "bigint" || typeof v === "number") return `int ${v}`
  if (v instanceof PyFloat) return `float ${Object.is(v.value, -0) ? "-0" : String(v.value)}`
  if (Array.isArray(v)) return v.map(normal)
  if (v instanceof PyTuple) return { tuple: v.items.map(normal) }
  if (v instanceof Map) return [...v].map(([k, x]) => [normal(k), normal(x)])
  return v
}
