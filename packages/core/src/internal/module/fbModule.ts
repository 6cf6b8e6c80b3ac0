/**
 * Mobile flatbuffer modules (`PTMF`) decoded into the value model: the
 * buffer is verified first (fbVerify.ts), then read through the accessors
 * flatc generated from flatbuffers/mobile_bytecode.fbs.
 *
 * @internal
 */
import * as flatbuffers from "flatbuffers"
import type { Bytecode } from "./bytecode.js"
import { RecordBytes } from "../container/recordBytes.js"
import { OPCODES } from "./bytecode.js"
import { CheckpointError } from "../../Errors.js"
import { contiguousStrides } from "../torch/shape.js"
import { Device, type Quantization, Storage, type Tensor } from "../torch/model.js"
import { dtypes, qschemes, scalarTypes } from "../torch/dtypes.js"
import { PyComplex, PyFloat, PyGlobal, PyObject, PyTuple, type PyValue } from "../../Value.js"
import { BoolList } from "../fbs/torch/jit/mobile/serialization/bool-list.js"
import { ComplexDouble } from "../fbs/torch/jit/mobile/serialization/complex-double.js"
import { Device as FbDevice } from "../fbs/torch/jit/mobile/serialization/device.js"
import { Dict } from "../fbs/torch/jit/mobile/serialization/dict.js"
import { DoubleList } from "../fbs/torch/jit/mobile/serialization/double-list.js"
import { Double } from "../fbs/torch/jit/mobile/serialization/double.js"
import { EnumValue } from "../fbs/torch/jit/mobile/serialization/enum-value.js"
import { Function as FbFunction } from "../fbs/torch/jit/mobile/serialization/function.js"
import { IntList } from "../fbs/torch/jit/mobile/serialization/int-list.js"
import { Int } from "../fbs/torch/jit/mobile/serialization/int.js"
import { IValueUnion } from "../fbs/torch/jit/mobile/serialization/ivalue-union.js"
import { List } from "../fbs/torch/jit/mobile/serialization/list.js"
import { Module as FbModule } from "../fbs/torch/jit/mobile/serialization/module.js"
import { Object_ } from "../fbs/torch/jit/mobile/serialization/object.js"
import { String as FbString } from "../fbs/torch/jit/mobile/serialization/string.js"
import { TensorMetadata } from "../fbs/torch/jit/mobile/serialization/tensor-metadata.js"
import { Tuple } from "../fbs/torch/jit/mobile/serialization/tuple.js"
import { Bool } from "../fbs/torch/jit/mobile/serialization/bool.js"
import { TypeType } from "../fbs/torch/jit/mobile/serialization/type-type.js"
import { toIntValue } from "../pickle/opcodes.js"
import { makeTensor } from "../torch/globals.js"
import { tagScriptType } from "../torch/scriptTypes.js"
import { verifyModule } from "../container/fbVerify.js"

/** What a flatbuffer module holds. @internal */
export interface FlatbufferContents {
  readonly root: PyObject
  readonly constants: PyTuple
  readonly sources: ReadonlyMap<string, string>
  readonly extra: ReadonlyMap<string, Uint8Array>
  readonly bytecode: Bytecode
  /** `operator_version`: the archive version the operators need (a zip archive's `version` record). */
  readonly operatorVersion: number
}

/** A list's or dict's annotation noted when the file has one. */
const tagged = <A extends PyValue>(value: A, annotation: string | null): A => (annotation === null ? value : tagScriptType(value, annotation))

/** A flatbuffer string read as bytes. */
const bytesOf = (content: string | Uint8Array | null): Uint8Array => (content instanceof Uint8Array ? content : new Uint8Array(0))

const bad = (detail: string, record = "flatbuffer ivalues"): CheckpointError => new CheckpointError({ reason: "BadRecord", offset: 0, record, detail })

/**
 * Verifies and decodes a flatbuffer module. Throws `CheckpointError`.
 *
 * @internal
 */
export const decodeFlatbuffer = (bytes: Uint8Array): FlatbufferContents => {
  verifyModule(bytes)
  const m = FbModule.getRootAsModule(new flatbuffers.ByteBuffer(bytes))
  const storages = Array.from({ length: m.storageDataLength() }, (_, i) => m.storageData(i)!.dataArray() ?? new Uint8Array(0))
  const count = m.ivaluesLength()
  const memo = new Map<number, PyValue>()
  const busy = new Set<number>()
  const u8 = dtypes.get("uint8")!
  const storageObjects = new Map<number, Storage>()

  const indices = (n: number, at: (i: number) => number | null) => Array.from({ length: n }, (_, i) => value(at(i) ?? 0))

  const tensorOf = (t: TensorMetadata): Tensor => {
    const dtype = dtypes.get(scalarTypes[t.scalarType()] ?? "")
    if (dtype === undefined) throw bad(`unknown scalar type ${t.scalarType()}`)
    const index = t.storageLocationIndex()
    const data = storages[index]
    if (data === undefined) throw bad(`tensor storage ${index} does not exist (${storages.length} storages)`)
    const shape = Array.from(t.sizesArray() ?? [])
    const stride = t.stridesLength() === shape.length ? Array.from(t.stridesArray() ?? []) : contiguousStrides(shape)
    // One Storage per storage_data entry, shared by the tensors that view it.
    const storage = storageObjects.get(index) ?? new Storage({ key: String(index), dtype: u8, record: `storage_data[${index}]`, bytes: RecordBytes.Memory({ bytes: data }) })
    storageObjects.set(index, storage)
    const q = t.quantizedSchema()
    let quantization: Quantization | undefined
    if (q !== null) {
      const scheme = qschemes[q.qscheme()] ?? "per_tensor_affine"
      const scales = q.scales()
      const zeroPoints = q.zeroPoints()
      quantization = scheme === "per_tensor_affine" || scales === null || zeroPoints === null
        ? { scheme: "per_tensor_affine", scale: q.scale(), zeroPoint: q.zeroPoint() }
        : {
          // torch writes per-channel schemes as they are (float_qparams kept, so a rewrite keeps it too).
          scheme: scheme === "per_channel_affine_float_qparams" ? scheme : "per_channel_affine",
          scales: tensorOf(scales),
          zeroPoints: tensorOf(zeroPoints),
          axis: q.axis()
        }
    }
    // The same checks as a pickled tensor: non-negative sizes, strides and offset, inside the storage.
    return makeTensor({ offset: 0, record: `storage_data[${index}]` }, storage, dtype, t.storageOffset(), shape, stride, t.requiresGrad(), quantization)

  }

  const value = (i: number): PyValue => {
    if (!Number.isInteger(i) || i < 0 || i >= count) throw bad(`ivalue index ${i} is out of range (${count} ivalues)`)
    const known = memo.get(i)
    if (known !== undefined) return known
    if (busy.has(i)) throw bad(`ivalue ${i} contains itself`)
    busy.add(i)
    const iv = m.ivalues(i)!
    let out: PyValue
    switch (iv.valType()) {
      case IValueUnion.NONE:
        out = null
        break
      case IValueUnion.Int:
        out = toIntValue(iv.val(new Int())!.intVal())
        break
      case IValueUnion.Bool:
        out = iv.val(new Bool())!.boolVal()
        break
      case IValueUnion.Double:
        out = new PyFloat(iv.val(new Double())!.doubleVal())
        break
      case IValueUnion.ComplexDouble: {
        const c = iv.val(new ComplexDouble())!
        out = new PyComplex(c.real(), c.imag())
        break
      }
      case IValueUnion.TensorMetadata:
        out = tensorOf(iv.val(new TensorMetadata())!)
        break
      case IValueUnion.String:
        out = iv.val(new FbString())!.data() ?? ""
        break
      case IValueUnion.List: {
        const l = iv.val(new List())!
        out = tagged(indices(l.itemsLength(), (j) => l.items(j)), l.annotationStr())
        break
      }
      case IValueUnion.Tuple: {
        const t = iv.val(new Tuple())!
        out = new PyTuple(indices(t.itemsLength(), (j) => t.items(j)))
        break
      }
      case IValueUnion.Dict: {
        const d = iv.val(new Dict())!
        if (d.keysLength() !== d.valuesLength()) throw bad(`dict ${i} has ${d.keysLength()} keys and ${d.valuesLength()} values`)
        out = tagged(new Map(Array.from({ length: d.keysLength() }, (_, j) => [value(d.keys(j) ?? 0), value(d.values(j) ?? 0)] as const)), d.annotationStr())
        break
      }
      case IValueUnion.IntList: {
        const l = iv.val(new IntList())!
        out = tagScriptType(Array.from({ length: l.itemsLength() }, (_, j) => toIntValue(l.items(j) ?? 0n)), "List[int]")
        break
      }
      case IValueUnion.DoubleList: {
        const l = iv.val(new DoubleList())!
        out = tagScriptType(Array.from({ length: l.itemsLength() }, (_, j) => new PyFloat(l.items(j) ?? 0)), "List[float]")
        break
      }
      case IValueUnion.BoolList: {
        const l = iv.val(new BoolList())!
        out = tagScriptType(Array.from({ length: l.itemsLength() }, (_, j) => l.items(j) ?? false), "List[bool]")
        break
      }
      case IValueUnion.Device: {
        const [type, index] = (iv.val(new FbDevice())!.str() ?? "cpu").split(":")
        out = new Device(type!, index === undefined ? null : Number(index))
        break
      }
      case IValueUnion.EnumValue: {
        const e = iv.val(new EnumValue())!
        out = new PyObject(globalOf(e.typeName() ?? "enum"), [value(e.value())], "reduce")
        break
      }
      case IValueUnion.Function:
        out = new PyObject(new PyGlobal("torch.jit", "Function"), [iv.val(new FbFunction())!.qn() ?? ""], "reduce")
        break
      case IValueUnion.Object_: {
        const o = iv.val(new Object_())!
        const type = m.objectTypes(o.typeIndex())
        if (type === null) throw bad(`object ${i} has type index ${o.typeIndex()}, beyond ${m.objectTypesLength()} types`)
        const obj = new PyObject(globalOf(type.typeName() ?? "object"), [], "newobj")
        memo.set(i, obj) // objects may be shared
        if (type.type() === TypeType.CLASS_WITH_FIELD) {
          if (o.attrsLength() !== type.attrNamesLength()) throw bad(`object ${i} has ${o.attrsLength()} attributes, its type names ${type.attrNamesLength()}`)
          obj.state = new Map(Array.from({ length: o.attrsLength() }, (_, j) => [type.attrNames(j), value(o.attrs(j) ?? 0)] as const))
        } else {
          obj.state = value(o.state())
        }
        out = obj
        break
      }
      default:
        throw bad(`ivalue ${i} has unknown type ${iv.valType()}`)
    }
    busy.delete(i)
    memo.set(i, out)
    return out
  }

  const root = value(m.stateObj())
  if (!(root instanceof PyObject)) throw bad("state_obj is not a module object", "flatbuffer Module")
  const sources = new Map(Array.from({ length: m.jitSourcesLength() }, (_, i) => m.jitSources(i)!).map((f) => [f.name() ?? "", f.content() ?? ""] as const))
  // Extra files are bytes (torch stores them as flatbuffer strings, any bytes).
  const extra = new Map(Array.from({ length: m.extraFilesLength() }, (_, i) => m.extraFiles(i)!).map((f) => [f.name() ?? "", bytesOf(f.content(flatbuffers.Encoding.UTF8_BYTES))] as const))
  return {
    root,
    constants: new PyTuple(indices(m.jitConstantsLength(), (i) => m.jitConstants(i))),
    sources,
    extra,
    operatorVersion: m.operatorVersion(),
    bytecode: {
      version: m.bytecodeVersion(),
      methods: Array.from({ length: m.methodsLength() }, (_, i) => {
        const f = value(m.methods(i) ?? 0)
        const fn = m.ivalues(m.methods(i) ?? 0)!.val(new FbFunction()) as FbFunction | null
        if (!(f instanceof PyObject) || fn === null) throw bad(`method ${i} is not a function`)
        return functionOf(fn, value)
      })
    }
  }
}

const functionOf = (fn: FbFunction, value: (i: number) => PyValue): Bytecode["methods"][number] => {
  const schema = fn.schema()
  const args = (n: number, at: (i: number) => { name(): string | null; type(): string | null; defaultValue(): number } | null) =>
    Array.from({ length: n }, (_, i) => {
      const a = at(i)!
      return { name: a.name() ?? "", type: a.type() ?? "", defaultValue: value(a.defaultValue()) }
    })
  return {
    name: fn.qn() ?? "",
    instructions: Array.from({ length: fn.instructionsLength() }, (_, i) => {
      const ins = fn.instructions(i)!
      const op = OPCODES[ins.op()]
      if (op === undefined) throw bad(`${fn.qn()}: unknown opcode ${ins.op()}`, "flatbuffer Function")
      return { op, x: ins.x(), n: ins.n() }
    }),
    operators: Array.from({ length: fn.operatorsLength() }, (_, i) => {
      const o = fn.operators(i)!
      const numArgs = o.numArgsSerialized()
      return numArgs < 0 ? { name: o.name() ?? "", overloadName: o.overloadName() ?? "" } : { name: o.name() ?? "", overloadName: o.overloadName() ?? "", numArgs }
    }),
    constants: Array.from({ length: fn.constantsLength() }, (_, i) => value(fn.constants(i) ?? 0)),
    types: Array.from({ length: fn.typeAnnotationsLength() }, (_, i) => fn.typeAnnotations(i) ?? ""),
    registerSize: fn.registerSize(),
    ...debugHandlesOf(fn),
    ...(schema === null ? {} : {
      schema: {
        arguments: args(schema.argumentsLength(), (i) => schema.arguments_(i)),
        returns: args(schema.returnsLength(), (i) => schema.returns(i))
      }
    })
  }
}

/** A function's debug handles, one per instruction, when it has them. */
const debugHandlesOf = (fn: FbFunction): { readonly debugHandles?: ReadonlyArray<number> } => {
  const info = fn.debugInfo()
  if (info === null) return {}
  return { debugHandles: Array.from({ length: info.debugHandleLength() }, (_, i) => Number(info.debugHandle(i) ?? -1n)) }
}

/** `__torch__.a.B` → global (`__torch__.a`, `B`). */
const globalOf = (qualified: string): PyGlobal => {
  const dot = qualified.lastIndexOf(".")
  return dot < 0 ? new PyGlobal("", qualified) : new PyGlobal(qualified.slice(0, dot), qualified.slice(dot + 1))
}
