/**
 * TorchScript's container types, which the value model does not carry: a
 * list is a JS array and a dict a `Map` whatever their element types, but
 * TorchScript needs them to rebuild a module (`List[str]`, `Dict[str, int]`,
 * the specialized `List[int]`). Readers note the annotation they find (the
 * pickler's `restore_type_tag` / `build_intlist` helpers, a flatbuffer
 * List's or Dict's `annotation_str`); writers ask for it and otherwise infer
 * it from the elements, or refuse.
 *
 * @internal
 */
import { PyFloat, PyTuple, type PyValue } from "../../Value.js"
import { Device, Tensor } from "./model.js"

const annotations = new WeakMap<object, string>()

/** Notes a list's or dict's TorchScript annotation (`List[str]`); returns the value. @internal */
export const tagScriptType = <A extends PyValue>(value: A, annotation: string): A => {
  if (typeof value === "object" && value !== null) annotations.set(value, annotation)
  return value
}

/** The annotations of the pickler's specialized-list helpers (`torch.jit._pickle`). @internal */
export const SPECIALIZED_LISTS: Readonly<Record<string, string>> = {
  build_intlist: "List[int]",
  build_doublelist: "List[float]",
  build_boollist: "List[bool]",
  build_tensorlist: "List[Tensor]"
}

/**
 * The TorchScript type of one value (`int`, `float`, `Tensor`,
 * `Tuple[int, str]`, ...), when it has a single obvious one.
 *
 * @internal
 */
export const elementTypeOf = (v: PyValue): string | undefined => {
  if (typeof v === "boolean") return "bool"
  if (typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v))) return "int"
  if (typeof v === "string") return "str"
  if (v instanceof PyFloat) return "float"
  if (v instanceof Tensor) return "Tensor"
  if (v instanceof Device) return "Device"
  if (v instanceof PyTuple) {
    const items = v.items.map(elementTypeOf)
    return items.every((t) => t !== undefined) ? `Tuple[${items.join(", ")}]` : undefined
  }
  if (Array.isArray(v) || v instanceof Map) return scriptTypeOf(v)
  return undefined
}

/** The one type every element has, or undefined (none, or several). */
const common = (values: Iterable<PyValue>): string | undefined => {
  let type: string | undefined
  for (const v of values) {
    const t = elementTypeOf(v)
    if (t === undefined || (type !== undefined && t !== type)) return undefined
    type = t
  }
  return type
}

/**
 * A list's or dict's TorchScript annotation: the one a reader noted, else
 * one inferred from non-empty, uniform elements; undefined when neither.
 *
 * @internal
 */
export const scriptTypeOf = (value: ReadonlyArray<PyValue> | ReadonlyMap<PyValue, PyValue>): string | undefined => {
  const noted = annotations.get(value)
  if (noted !== undefined) return noted
  if (Array.isArray(value)) {
    const item = common(value)
    return item === undefined ? undefined : `List[${item}]`
  }
  const map = value as ReadonlyMap<PyValue, PyValue>
  const key = common(map.keys())
  const item = common(map.values())
  return key === undefined || item === undefined ? undefined : `Dict[${key}, ${item}]`
}
