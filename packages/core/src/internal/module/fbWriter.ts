/**
 * Writes a mobile module as a flatbuffer (`PTMF`), laid out as torch's
 * FlatbufferSerializer lays it out (format-facts §11.3): ivalue 0 is None;
 * each method's constants, schema defaults and class come before its
 * Function; then the module object, children before parents; the extra
 * files, the TorchScript sources, the constants table (after
 * `mobile_ivalue_size`); storages last, each 32-byte aligned. Equal
 * scalars and strings, and the same tensor or object, are stored once.
 * Pure and synchronous: storage bytes come from the caller.
 *
 * @internal
 */
import * as flatbuffers from "flatbuffers"
import { PyComplex, PyFloat, PyObject, PyTuple, type PyValue } from "../../Value.js"
import { Device, type Storage, Tensor } from "../torch/model.js"
import { scalarTypes, qschemes } from "../torch/dtypes.js"
import { FLATBUFFER_IDENTIFIER, verifyModule } from "../container/fbVerify.js"
import { type Argument, type Bytecode, OPCODES } from "./bytecode.js"
import { type ClassKind, classKinds, type MobileModel, notScript, requireScriptType, storageId, unconvertible } from "./mobileModel.js"
import { Arg } from "../fbs/torch/jit/mobile/serialization/arg.js"
import { BoolList } from "../fbs/torch/jit/mobile/serialization/bool-list.js"
import { Bool } from "../fbs/torch/jit/mobile/serialization/bool.js"
import { ComplexDouble } from "../fbs/torch/jit/mobile/serialization/complex-double.js"
import { DebugInfo } from "../fbs/torch/jit/mobile/serialization/debug-info.js"
import { Device as FbDevice } from "../fbs/torch/jit/mobile/serialization/device.js"
import { Dict } from "../fbs/torch/jit/mobile/serialization/dict.js"
import { DoubleList } from "../fbs/torch/jit/mobile/serialization/double-list.js"
import { Double } from "../fbs/torch/jit/mobile/serialization/double.js"
import { ExtraFile } from "../fbs/torch/jit/mobile/serialization/extra-file.js"
import { Function as FbFunction } from "../fbs/torch/jit/mobile/serialization/function.js"
import { Instruction } from "../fbs/torch/jit/mobile/serialization/instruction.js"
import { IntList } from "../fbs/torch/jit/mobile/serialization/int-list.js"
import { Int } from "../fbs/torch/jit/mobile/serialization/int.js"
import { IValueUnion } from "../fbs/torch/jit/mobile/serialization/ivalue-union.js"
import { IValue } from "../fbs/torch/jit/mobile/serialization/ivalue.js"
import { List } from "../fbs/torch/jit/mobile/serialization/list.js"
import { Module as FbModule } from "../fbs/torch/jit/mobile/serialization/module.js"
import { ObjectType } from "../fbs/torch/jit/mobile/serialization/object-type.js"
import { Object_ } from "../fbs/torch/jit/mobile/serialization/object.js"
import { Operator } from "../fbs/torch/jit/mobile/serialization/operator.js"
import { QuantizedSchema } from "../fbs/torch/jit/mobile/serialization/quantized-schema.js"
import { Schema } from "../fbs/torch/jit/mobile/serialization/schema.js"
import { StorageData } from "../fbs/torch/jit/mobile/serialization/storage-data.js"
import { String as FbString } from "../fbs/torch/jit/mobile/serialization/string.js"
import { TensorMetadata } from "../fbs/torch/jit/mobile/serialization/tensor-metadata.js"
import { Tuple } from "../fbs/torch/jit/mobile/serialization/tuple.js"
import { TypeType } from "../fbs/torch/jit/mobile/serialization/type-type.js"

/** The lowest bytecode version a flatbuffer module carries (torch raises older ones to it). @internal */
export const FLATBUFFER_MIN_BYTECODE_VERSION = 9

/** Storage data alignment (FLATBUFFERS_MAX_ALIGNMENT). */
const STORAGE_ALIGNMENT = 32

const INT32_MAX = 2 ** 31 - 1

/** The builder's write position and buffer, to copy storage bytes in one go rather than byte by byte. */
interface BuilderInternals {
  space: number
  bb: flatbuffers.ByteBuffer
}

/**
 * Encodes a mobile module as a flatbuffer and verifies the result. Throws
 * `CheckpointError` (`Unconvertible` naming what cannot be written).
 * `sizeHint` (the storages' bytes) sizes the buffer once, where growing it
 * would copy the storages each time it doubles.
 *
 * @internal
 */
export const encodeFlatbuffer = (model: MobileModel, storageBytes: (storage: Storage) => Uint8Array, sizeHint = 0): Uint8Array => {
  const kinds = classKinds(model)
  const storages: Array<Storage> = []
  const b = new flatbuffers.Builder(Math.min(sizeHint + (1 << 20), 2 ** 31 - 1))
  const ivalues: Array<flatbuffers.Offset> = [IValue.createIValue(b, IValueUnion.NONE, 0)]
  const cached = new Map<unknown, number>()
  const functions = new Map<string, number>()
  const types = new Map<string, number>()
  const typeOffsets: Array<flatbuffers.Offset> = []
  const storageIndex = new Map<unknown, number>()
  const busy = new Set<unknown>()
  // Each distinct string once. (The builder's createSharedString leaves "" out, where torch needs it present.)
  const strings = new Map<string, flatbuffers.Offset>()
  const str = (s: string): flatbuffers.Offset => {
    let offset = strings.get(s)
    if (offset === undefined) strings.set(s, (offset = b.createString(s)))
    return offset
  }
  const u32s = (xs: ReadonlyArray<number>) => {
    b.startVector(4, xs.length, 4)
    for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!)
    return b.endVector()
  }
  const offsets = (xs: ReadonlyArray<flatbuffers.Offset>) => {
    b.startVector(4, xs.length, 4)
    for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!)
    return b.endVector()
  }
  const insert = (type: IValueUnion, offset: flatbuffers.Offset): number => ivalues.push(IValue.createIValue(b, type, offset)) - 1

  const classType = (type: string, where: string): number => {
    const known = types.get(type)
    if (known !== undefined) return known
    const kind: ClassKind | undefined = kinds.get(type)
    if (kind === undefined) throw unconvertible(where, `no object of ${type} is in the module, so its attributes are unknown`)
    const names = kind.kind === "fields" ? offsets(kind.names.map(str)) : 0
    const name = b.createString(type)
    typeOffsets.push(ObjectType.createObjectType(b, name, kind.kind === "fields" ? TypeType.CLASS_WITH_FIELD : TypeType.CLASS_WITH_SETSTATE, names))
    types.set(type, typeOffsets.length - 1)
    return typeOffsets.length - 1
  }

  const storageOf = (s: Storage): number => {
    // Tensors of one zip record (data.pkl's and bytecode.pkl's) share one storage.
    const key = storageId(s)
    let index = storageIndex.get(key)
    if (index === undefined) {
      index = storages.push(s) - 1
      storageIndex.set(key, index)
    }
    return index
  }

  const int32s = (xs: ReadonlyArray<number>, what: string, where: string): Array<number> => {
    if (xs.some((x) => x > INT32_MAX)) throw unconvertible(where, `a tensor's ${what} (${xs.join(", ")}) does not fit the flatbuffer's 32-bit fields`)
    return [...xs]
  }

  const tensor = (t: Tensor, where: string): flatbuffers.Offset => {
    if (t.storage === undefined) throw unconvertible(where, "a tensor without storage (meta) has no data to write")
    if (t.storage.byteOrder === "big") throw unconvertible(where, "a big-endian storage (flatbuffer modules are little-endian)")
    const q = t.quantization
    let schema = 0
    if (q !== undefined) {
      if (q.scheme !== "per_tensor_affine" && !(q.scales instanceof Tensor && q.zeroPoints instanceof Tensor)) {
        throw unconvertible(where, "per-channel quantization parameters that are not tensors")
      }
      const scales = q.scheme === "per_tensor_affine" ? 0 : tensor(q.scales as Tensor, `${where}.scales`)
      const zeroPoints = q.scheme === "per_tensor_affine" ? 0 : tensor(q.zeroPoints as Tensor, `${where}.zero_points`)
      QuantizedSchema.startQuantizedSchema(b)
      QuantizedSchema.addQscheme(b, qschemes.indexOf(q.scheme))
      if (q.scheme === "per_tensor_affine") {
        QuantizedSchema.addScale(b, q.scale)
        QuantizedSchema.addZeroPoint(b, q.zeroPoint)
      } else {
        QuantizedSchema.addScales(b, scales)
        QuantizedSchema.addZeroPoints(b, zeroPoints)
        QuantizedSchema.addAxis(b, q.axis)
      }
      schema = QuantizedSchema.endQuantizedSchema(b)
    }
    const scalarType = scalarTypes.indexOf(t.dtype.name)
    if (scalarType < 0) throw unconvertible(where, `dtype ${t.dtype.name} has no ScalarType number`)
    const sizes = TensorMetadata.createSizesVector(b, int32s(t.shape, "sizes", where))
    const strides = TensorMetadata.createStridesVector(b, int32s(t.stride, "strides", where))
    int32s([t.storageOffset], "storage offset", where)
    TensorMetadata.startTensorMetadata(b)
    TensorMetadata.addStorageLocationIndex(b, storageOf(t.storage))
    TensorMetadata.addScalarType(b, scalarType)
    TensorMetadata.addStorageOffset(b, t.storageOffset)
    TensorMetadata.addSizes(b, sizes)
    TensorMetadata.addStrides(b, strides)
    TensorMetadata.addRequiresGrad(b, t.requiresGrad)
    if (schema !== 0) TensorMetadata.addQuantizedSchema(b, schema)
    return TensorMetadata.endTensorMetadata(b)
  }

  const object = (o: PyObject, where: string): flatbuffers.Offset => {
    const type = o.cls.qualifiedName
    const kind = kinds.get(type)
    if (kind === undefined) throw unconvertible(where, `an object of ${type} outside the module's values`)
    if (kind.kind === "fields") {
      const state = o.state as ReadonlyMap<PyValue, PyValue>
      const attrs = Object_.createAttrsVector(b, kind.names.map((n) => store(state.get(n) ?? null, `${where}.${n}`)))
      return Object_.createObject(b, classType(type, where), 0, attrs, 0)
    }
    const state = store(o.state ?? null, `${where}.__getstate__()`)
    const setstate = functions.get(kind.setstate)
    if (setstate === undefined) throw unconvertible(where, `${kind.setstate} is not among the methods`)
    return Object_.createObject(b, classType(type, where), state, 0, setstate)
  }

  const list = (v: ReadonlyArray<PyValue>, where: string): number => {
    const annotation = requireScriptType(v, where)
    switch (annotation) {
      case "List[int]":
        return insert(IValueUnion.IntList, IntList.createIntList(b, IntList.createItemsVector(b, v.map((x) => BigInt(x as number | bigint)))))
      case "List[float]":
        return insert(IValueUnion.DoubleList, DoubleList.createDoubleList(b, DoubleList.createItemsVector(b, v.map((x) => (x as PyFloat).value))))
      case "List[bool]":
        return insert(IValueUnion.BoolList, BoolList.createBoolList(b, BoolList.createItemsVector(b, v as Array<boolean>)))
      default: {
        const items = u32s(v.map((x, i) => store(x, `${where}[${i}]`)))
        return insert(IValueUnion.List, List.createList(b, items, str(annotation)))
      }
    }
  }

  const dict = (v: ReadonlyMap<PyValue, PyValue>, where: string): number => {
    const annotation = requireScriptType(v, where)
    const keys: Array<number> = []
    const values: Array<number> = []
    for (const [k, x] of v) {
      keys.push(store(k, `${where} key`))
      values.push(store(x, `${where}[${String(k)}]`))
    }
    return insert(IValueUnion.Dict, Dict.createDict(b, u32s(keys), u32s(values), str(annotation)))
  }

  /** The cache key of a value stored once: scalars and strings by value, tensors and objects by identity. */
  const keyOf = (v: PyValue): unknown => {
    switch (typeof v) {
      case "boolean":
        return `b${v}`
      case "number":
      case "bigint":
        return `i${v}`
      case "string":
        return `s${v}`
    }
    if (v instanceof PyFloat) return `f${Object.is(v.value, -0) ? "-0" : v.value}`
    return v instanceof Tensor || v instanceof PyObject ? v : undefined
  }

  /** Stores one value (its children first); its ivalue index. */
  const store = (v: PyValue, where: string): number => {
    if (v === null) return 0
    const key = keyOf(v)
    const known = key === undefined ? undefined : cached.get(key)
    if (known !== undefined) return known
    if (busy.has(v)) throw unconvertible(where, "a value that contains itself")
    busy.add(v)
    const index = storeNew(v, where)
    busy.delete(v)
    if (key !== undefined) cached.set(key, index)
    return index
  }

  const storeNew = (v: PyValue, where: string): number => {
    if (typeof v === "boolean") return insert(IValueUnion.Bool, Bool.createBool(b, v))
    if (typeof v === "number" || typeof v === "bigint") return insert(IValueUnion.Int, Int.createInt(b, BigInt(v)))
    if (typeof v === "string") return insert(IValueUnion.String, FbString.createString(b, str(v)))
    if (v instanceof PyFloat) return insert(IValueUnion.Double, Double.createDouble(b, v.value))
    if (v instanceof PyComplex) return insert(IValueUnion.ComplexDouble, ComplexDouble.createComplexDouble(b, v.re, v.im))
    if (v instanceof Tensor) return insert(IValueUnion.TensorMetadata, tensor(v, where))
    if (v instanceof Device) return insert(IValueUnion.Device, FbDevice.createDevice(b, str(v.toString())))
    if (v instanceof PyTuple) return insert(IValueUnion.Tuple, Tuple.createTuple(b, u32s(v.items.map((x, i) => store(x, `${where}[${i}]`)))))
    if (Array.isArray(v)) return list(v, where)
    if (v instanceof Map) return dict(v, where)
    if (v instanceof PyObject) return insert(IValueUnion.Object_, object(v, where))
    throw notScript(v, where)
  }

  const args = (list: ReadonlyArray<typeof Argument.Type>, where: string) =>
    offsets(list.map((a) => {
      const value = store(a.defaultValue, `${where} ${a.name}`)
      return Arg.createArg(b, str(a.name), str(a.type), value)
    }))

  const method = (m: Bytecode["methods"][number]): number => {
    const where = m.name
    const constants = m.constants.map((c, i) => store(c, `${where} constants[${i}]`))
    let schema = 0
    let classIndex = 0
    if (m.schema !== undefined) {
      const argsOffset = args(m.schema.arguments, where)
      const returnsOffset = args(m.schema.returns, where)
      schema = Schema.createSchema(b, argsOffset, returnsOffset)
      const self = m.schema.arguments[0]?.type
      if (self === undefined) throw unconvertible(where, "a method without self")
      classIndex = classType(self, where)
    }
    const handles = m.debugHandles ?? m.instructions.map(() => -1)
    const debugInfo = DebugInfo.createDebugInfo(b, DebugInfo.createDebugHandleVector(b, handles.map(BigInt)))
    const qn = b.createString(m.name)
    FbFunction.startInstructionsVector(b, m.instructions.length)
    for (let i = m.instructions.length - 1; i >= 0; i--) {
      const ins = m.instructions[i]!
      Instruction.createInstruction(b, OPCODES.indexOf(ins.op), ins.n, ins.x)
    }
    const instructions = b.endVector()
    const operators = offsets(m.operators.map((o) => Operator.createOperator(b, str(o.name), str(o.overloadName), o.numArgs ?? -1)))
    const constantsOffset = u32s(constants)
    const typesOffset = offsets(m.types.map(str))
    FbFunction.startFunction(b)
    FbFunction.addQn(b, qn)
    FbFunction.addInstructions(b, instructions)
    FbFunction.addOperators(b, operators)
    FbFunction.addConstants(b, constantsOffset)
    FbFunction.addTypeAnnotations(b, typesOffset)
    FbFunction.addRegisterSize(b, m.registerSize)
    if (schema !== 0) FbFunction.addSchema(b, schema)
    FbFunction.addDebugInfo(b, debugInfo)
    FbFunction.addClassType(b, classIndex)
    const index = insert(IValueUnion.Function, FbFunction.endFunction(b))
    functions.set(m.name, index)
    return index
  }

  const files = (entries: Iterable<readonly [string, string | Uint8Array]>) =>
    offsets([...entries].map(([name, content]) => ExtraFile.createExtraFile(b, str(name), b.createString(content))))

  const storageData = (s: Storage, index: number): flatbuffers.Offset => {
    const bytes = storageBytes(s)
    if (bytes.length !== s.nbytes) throw unconvertible(`storage_data[${index}]`, `storage of ${s.nbytes} bytes read as ${bytes.length}`)
    b.startVector(1, bytes.length, STORAGE_ALIGNMENT)
    const internals = b as unknown as BuilderInternals
    internals.space -= bytes.length
    internals.bb.bytes().set(bytes, internals.space)
    return StorageData.createStorageData(b, b.endVector())
  }

  const methods = model.bytecode.methods.map(method)
  const methodsOffset = FbModule.createMethodsVector(b, methods)
  const stateObj = store(model.root, "data.pkl")
  const extra = files(model.extra)
  const sources = files(model.sources)
  const mobileIvalueSize = ivalues.length
  const constants = u32s(model.constants.map((c, i) => store(c, `constants.pkl[${i}]`)))
  const storageOffsets = storages.map(storageData)
  const storageVector = offsets(storageOffsets)
  const typesVector = offsets(typeOffsets)
  const ivaluesVector = offsets(ivalues)
  const module = FbModule.createModule(
    b,
    Math.max(model.bytecode.version, FLATBUFFER_MIN_BYTECODE_VERSION),
    extra,
    methodsOffset,
    stateObj,
    ivaluesVector,
    storages.length,
    storageVector,
    typesVector,
    sources,
    constants,
    model.operatorVersion,
    mobileIvalueSize
  )
  b.finish(module, FLATBUFFER_IDENTIFIER)
  const out = b.asUint8Array()
  verifyModule(out)
  return out
}
