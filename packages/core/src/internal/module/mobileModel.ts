/**
 * A lite-interpreter module as both of its files hold it: the zip flavour
 * (`bytecode.pkl`, `data.pkl`, `constants.pkl`, `code/`, `extra/`) and the
 * flatbuffer (`PTMF`). The writers of either form take this model; what
 * one form holds and the other cannot is refused by name
 * (`CheckpointError` with reason `Unconvertible`).
 *
 * @internal
 */
import { CheckpointError } from "../../Errors.js"
import { PyComplex, PyFloat, PyObject, PyTuple, type PyValue, typeName } from "../../Value.js"
import { Device, type Storage, Tensor } from "../torch/model.js"
import { elementTypeOf, scriptTypeOf } from "../torch/scriptTypes.js"
import type { Bytecode } from "./bytecode.js"

/** A mobile module. @internal */
export interface MobileModel {
  /** The module object (`data.pkl`, a flatbuffer's `state_obj`). */
  readonly root: PyObject
  /** Bytecode version and methods (`bytecode.pkl`, a flatbuffer's functions). */
  readonly bytecode: Bytecode
  /** The version the operators need (a zip's `version` record, a flatbuffer's `operator_version`). */
  readonly operatorVersion: number
  /** The TorchScript constants table (`constants.pkl`, `jit_constants`). */
  readonly constants: ReadonlyArray<PyValue>
  /** Printed TorchScript by qualifier (`__torch__.a.b`), for torch.jit.load (`code/`, `jit_sources`). */
  readonly sources: ReadonlyMap<string, string>
  /** Extra files by name. */
  readonly extra: ReadonlyMap<string, Uint8Array>
}

/** A refusal to write what a form cannot carry exactly. @internal */
export const unconvertible = (record: string, detail: string): CheckpointError =>
  new CheckpointError({ reason: "Unconvertible", offset: 0, record, detail })

/**
 * How a class's objects are rebuilt: from fields named in order, or by the
 * class's `__setstate__` from the state its `__getstate__` returned.
 *
 * @internal
 */
export type ClassKind =
  | { readonly kind: "fields"; readonly names: ReadonlyArray<string> }
  | { readonly kind: "setstate"; readonly setstate: string }

/**
 * The kind of every class of the module's objects, checked: field classes
 * name the same attributes in every object, and a class whose objects hold
 * a `__getstate__` state has its `__setstate__` among the methods.
 *
 * @internal
 */
export const classKinds = (model: MobileModel): ReadonlyMap<string, ClassKind> => {
  const methods = new Set(model.bytecode.methods.map((m) => m.name))
  const kinds = new Map<string, ClassKind>()
  eachValue(model, (v, path) => {
    if (!(v instanceof PyObject)) return
    const type = v.cls.qualifiedName
    const kind = kindOf(v, type, path, methods)
    const known = kinds.get(type)
    if (known !== undefined && JSON.stringify(known) !== JSON.stringify(kind)) {
      throw unconvertible(path, `objects of ${type} disagree on their attributes (${describeKind(known)} and ${describeKind(kind)})`)
    }
    kinds.set(type, kind)
  })
  return kinds
}

/**
 * Calls `f` once on every value the module holds, with its path: the module
 * object, the constants table, each method's constants and schema defaults,
 * and everything inside them (items, keys, objects' states, the scales and
 * zero points of per-channel quantized tensors).
 */
const eachValue = (model: MobileModel, f: (v: PyValue, path: string) => void): void => {
  const seen = new Set<unknown>()
  const visit = (v: PyValue | undefined, path: string): void => {
    if (v === undefined || (typeof v === "object" && v !== null && seen.has(v))) return
    if (typeof v === "object" && v !== null) seen.add(v)
    f(v, path)
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${path}[${i}]`))
    else if (v instanceof Map) v.forEach((x, k) => (visit(k, `${path} key`), visit(x, `${path}[${String(k)}]`)))
    else if (v instanceof PyTuple) v.items.forEach((x, i) => visit(x, `${path}[${i}]`))
    else if (v instanceof PyObject) visit(v.state, path)
    else if (v instanceof Tensor && v.quantization !== undefined && v.quantization.scheme !== "per_tensor_affine") {
      for (const x of [v.quantization.scales, v.quantization.zeroPoints]) if (x instanceof Tensor) visit(x, path)
    }
  }
  visit(model.root, "data.pkl")
  model.constants.forEach((c, i) => visit(c, `constants[${i}]`))
  for (const m of model.bytecode.methods) {
    m.constants.forEach((c, i) => visit(c, `${m.name} constants[${i}]`))
    for (const a of [...(m.schema?.arguments ?? []), ...(m.schema?.returns ?? [])]) visit(a.defaultValue, `${m.name} ${a.name}`)
  }
}

const describeKind = (k: ClassKind): string => (k.kind === "fields" ? `fields ${k.names.join(", ")}` : "__setstate__")

/** One object's class kind. */
const kindOf = (o: PyObject, type: string, path: string, methods: ReadonlySet<string>): ClassKind => {
  if (o.how !== "newobj" || o.args.length > 0) {
    throw unconvertible(path, `${type} is not a TorchScript object (built by ${o.how} with ${o.args.length} arguments): enums and custom C++ classes are not carried over`)
  }
  if (o.state instanceof Map && !methods.has(`${type}.__setstate__`)) {
    const names = [...o.state.keys()]
    if (!names.every((n): n is string => typeof n === "string")) throw unconvertible(path, `${type} has attribute names that are not strings`)
    return { kind: "fields", names }
  }
  const setstate = `${type}.__setstate__`
  if (!methods.has(setstate) || !methods.has(`${type}.__getstate__`)) {
    throw unconvertible(path, `${type}'s state is what __getstate__ returned, and the bytecode has no ${methods.has(setstate) ? "__getstate__" : "__setstate__"} to pair with it`)
  }
  return { kind: "setstate", setstate }
}

/**
 * Every storage the module's tensors view (quantization parameters
 * included), each once by record.
 *
 * @internal
 */
export const storagesOf = (model: MobileModel): Array<Storage> => {
  const found = new Map<unknown, Storage>()
  eachValue(model, (v) => {
    if (v instanceof Tensor && v.storage !== undefined && !found.has(storageId(v.storage))) found.set(storageId(v.storage), v.storage)
  })
  return [...found.values()]
}

/** What identifies a storage: its record (the tensors of two pickles share it), or itself when in memory. @internal */
export const storageId = (s: Storage): unknown => (s.record === "memory" ? s : s.record)

/** Lists of one plain element type, whose every element is checked against it (a flatbuffer's IntList, ...). */
const PLAIN_LIST = /^List\[(int|float|bool|str|Tensor)\]$/

/**
 * A list's or dict's TorchScript annotation (`scriptTypeOf`); refused by
 * name when there is none to write.
 *
 * @internal
 */
export const requireScriptType = (value: ReadonlyArray<PyValue> | ReadonlyMap<PyValue, PyValue>, where: string): string => {
  const annotation = scriptTypeOf(value)
  if (annotation !== undefined) {
    const item = PLAIN_LIST.exec(annotation)?.[1]
    const bad = item === undefined || !Array.isArray(value) ? -1 : value.findIndex((x) => elementTypeOf(x) !== item)
    if (bad >= 0) throw unconvertible(`${where}[${bad}]`, `${annotation} element ${bad} is of type ${typeName((value as ReadonlyArray<PyValue>)[bad]!)}`)
    return annotation
  }
  const [kind, size] = Array.isArray(value) ? ["list", value.length] : ["dict", (value as ReadonlyMap<PyValue, PyValue>).size]
  throw unconvertible(where, `a ${kind} whose element type is unknown (${size === 0 ? "empty" : "mixed"}, and no TorchScript type noted)`)
}

/**
 * Whether a value is a TorchScript value that is not a container or an
 * object: None, bool, int, float, complex, str, Tensor or Device.
 *
 * @internal
 */
export const isScriptScalar = (v: PyValue): boolean =>
  v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "bigint" || typeof v === "string" ||
  v instanceof PyFloat || v instanceof PyComplex || v instanceof Tensor || v instanceof Device

/** The refusal of a value TorchScript does not have. @internal */
export const notScript = (v: PyValue, where: string): CheckpointError => unconvertible(where, `a ${typeName(v)} value, which TorchScript does not have`)

/** `__torch__.a.b` → `code/__torch__/a/b.py`. @internal */
export const sourcePath = (qualifier: string): string => `code/${qualifier.split(".").join("/")}.py`
