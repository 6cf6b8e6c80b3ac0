/**
 * The value model for unpickled Python objects.
 *
 * It keeps Python's distinctions that JavaScript would lose: `int` is a
 * `number` when exactly representable and a `bigint` beyond 2^53, `float` is
 * a `PyFloat`, `tuple` is a `PyTuple` (a `list` is a JS array), `bytes` is a
 * `Uint8Array` and `bytearray` a `PyByteArray`, `dict` is a `Map` (insertion
 * order, non-string keys) and `collections.OrderedDict` an `OrderedDict`
 * carrying its instance attributes. Anything torchwire does not model is an
 * opaque `PyObject` (module, name, args, state): nothing is ever executed.
 *
 * @since 0.1.0
 */
/**
 * Any value an unpickler can produce.
 *
 * @since 0.1.0
 * @category models
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyComplex
  | PyByteArray
  | Array<PyValue>
  | PyTuple
  | PySet
  | PyFrozenSet
  | Map<PyValue, PyValue>
  | OrderedDict
  | PyGlobal
  | PyObject
  | PyExtension

/**
 * A value of a model built on top of the pickle layer: torch's tensors,
 * storages, dtypes, devices, sizes, layouts and qschemes (module `Torch`).
 * The pickle layer knows it only by its Python type's name; the layer that
 * defines it gives it meaning (it resolves torch's globals and storages when
 * reading, and reduces its values when writing).
 *
 * @since 0.1.0
 * @category models
 */
export interface PyExtension {
  /** The Python type's qualified name (`torch.dtype`, `torch.nn.Parameter`, ...). */
  readonly pyType: string
}

/**
 * A Python `float` (kept apart from `int`, which is a plain number).
 *
 * @since 0.1.0
 * @category models
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/**
 * A Python `complex`.
 *
 * @since 0.1.0
 * @category models
 */
export class PyComplex {
  constructor(readonly re: number, readonly im: number) {}
}

/**
 * A Python `bytearray` (a `bytes` value is a plain `Uint8Array`).
 *
 * @since 0.1.0
 * @category models
 */
export class PyByteArray {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * A Python `tuple`.
 *
 * @since 0.1.0
 * @category models
 */
export class PyTuple {
  constructor(readonly items: ReadonlyArray<PyValue>) {}
}

/**
 * A Python `set`, items in pickle order.
 *
 * @since 0.1.0
 * @category models
 */
export class PySet {
  constructor(readonly items: Array<PyValue>) {}
}

/**
 * A Python `frozenset`, items in pickle order.
 *
 * @since 0.1.0
 * @category models
 */
export class PyFrozenSet {
  constructor(readonly items: ReadonlyArray<PyValue>) {}
}

/**
 * `collections.OrderedDict`, with the instance attributes a pickle may set
 * on it (a `state_dict()` carries `_metadata`).
 *
 * @since 0.1.0
 * @category models
 */
export class OrderedDict extends Map<PyValue, PyValue> {
  #attrs: Map<string, PyValue> | undefined
  /** Instance attributes (`__dict__`), set by BUILD (made on first use: most have none). */
  get attrs(): Map<string, PyValue> {
    return (this.#attrs ??= new Map())
  }
}

/**
 * A reference to a Python global (class or function) that was not resolved
 * to anything torchwire models.
 *
 * @since 0.1.0
 * @category models
 */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name` */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`
  }
}

/**
 * An opaque object: what a pickle would construct by calling or
 * instantiating a global torchwire does not model. The call is recorded, not
 * made.
 *
 * @since 0.1.0
 * @category models
 */
export class PyObject {
  /** State passed by BUILD (usually the instance `__dict__`). */
  state: PyValue | undefined = undefined
  #listItems: Array<PyValue> | undefined
  #dictItems: Map<PyValue, PyValue> | undefined
  /** Items added by APPEND/APPENDS (list subclasses; made on first use). */
  get listItems(): Array<PyValue> {
    return (this.#listItems ??= [])
  }
  /** Items added by SETITEM/SETITEMS (dict subclasses; made on first use). */
  get dictItems(): Map<PyValue, PyValue> {
    return (this.#dictItems ??= new Map())
  }
  constructor(
    readonly cls: PyGlobal,
    readonly args: ReadonlyArray<PyValue>,
    readonly how: "reduce" | "newobj" | "newobj_ex" | "inst",
    readonly kwargs?: PyValue
  ) {}
}

/**
 * A `dict` as Python would build it: a `Map` in insertion order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const dict = (entries: Iterable<readonly [PyValue, PyValue]> = []): Map<PyValue, PyValue> => new Map(entries)

/**
 * Looks a string key up in a `dict` or `OrderedDict` value.
 *
 * @since 0.1.0
 * @category utils
 */
export const getKey = (value: PyValue | undefined, key: string): PyValue | undefined =>
  value instanceof Map ? value.get(key) : undefined

/**
 * The Python type name of a value, for messages and displays.
 *
 * @since 0.1.0
 * @category utils
 */
export const typeName = (v: PyValue): string => {
  if (v === null) return "NoneType"
  switch (typeof v) {
    case "boolean":
      return "bool"
    case "number":
    case "bigint":
      return "int"
    case "string":
      return "str"
  }
  if (v instanceof Uint8Array) return "bytes"
  if (Array.isArray(v)) return "list"
  if (v instanceof OrderedDict) return "collections.OrderedDict"
  if (v instanceof Map) return "dict"
  if (v instanceof PyObject) return v.cls.qualifiedName
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`
  const names: Array<[Function, string]> = [
    [PyFloat, "float"],
    [PyComplex, "complex"],
    [PyByteArray, "bytearray"],
    [PyTuple, "tuple"],
    [PySet, "set"],
    [PyFrozenSet, "frozenset"]
  ]
  for (const [cls, name] of names) if (v instanceof cls) return name
  return "pyType" in v ? v.pyType : "object"
}
