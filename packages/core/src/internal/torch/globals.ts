/**
 * torch's globals as torch.load resolves them: rebuild functions, storage
 * classes (by name, whatever the module, as torch does), dtypes, devices,
 * sizes, layouts, qschemes; and the weights-only allowlist.
 *
 * @internal
 */
import { SPECIALIZED_LISTS, tagScriptType } from "./scriptTypes.js"
import { CheckpointError, PickleError } from "../../Errors.js"
import { Device, Layout, Parameter, QScheme, type Quantization, Storage, StorageType, Tensor, TorchSize } from "./model.js"
import { dtypeByName, dtypes, DType, legacyStorageDtypes } from "./dtypes.js"
import { requiredBytes } from "./shape.js"
import type { PyValue } from "../../Value.js"
import { badValue, iterableItems, pythonGlobals, toNumber, translateGlobal } from "../pickle/globals.js"
import { CallableGlobal, type CallSite } from "../pickle/hooks.js"
import { describe } from "../pickle/objects.js"

const QSCHEMES = [
  "per_tensor_affine",
  "per_channel_affine",
  "per_tensor_symmetric",
  "per_channel_symmetric",
  "per_channel_affine_float_qparams"
]

const REBUILD_FUNCTIONS = [
  "_rebuild_parameter",
  "_rebuild_parameter_with_state",
  "_rebuild_qtensor",
  "_rebuild_tensor",
  "_rebuild_tensor_v2",
  "_rebuild_tensor_v3",
  "_rebuild_sparse_tensor",
  "_rebuild_meta_tensor_no_storage",
  "_rebuild_nested_tensor",
  "_rebuild_wrapper_subclass",
  "_rebuild_device_tensor_from_numpy",
  "_rebuild_device_tensor_from_cpu_tensor"
]

const TENSOR_CLASS_PREFIXES = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool", "ComplexDouble", "ComplexFloat"]

/**
 * The globals NumPy's pickles of arrays, scalars and dtypes name (NumPy 1's
 * `numpy.core`, NumPy 2's `numpy._core`; an empty array's data is
 * `builtins.bytes()`): `Numpy.GLOBALS`.
 *
 * @internal
 */
export const NUMPY_GLOBALS: ReadonlySet<string> = new Set([
  "numpy.core.multiarray._reconstruct",
  "numpy.core.multiarray.scalar",
  "numpy._core.multiarray._reconstruct",
  "numpy._core.multiarray.scalar",
  "numpy.ndarray",
  "numpy.dtype",
  "builtins.bytes"
])

/**
 * torch's default weights-only allowlist (`module.name` after Python 2→3
 * translation), as of torch 2.6+.
 *
 * @internal
 */
export const WEIGHTS_ONLY_ALLOWLIST: ReadonlySet<string> = new Set([
  "collections.OrderedDict",
  "collections.Counter",
  "torch.nn.parameter.Parameter",
  "torch.serialization._get_layout",
  "torch.Size",
  "torch.Tensor",
  "torch.device",
  "_codecs.encode",
  "builtins.bytearray",
  "builtins.set",
  "builtins.complex",
  ...[...dtypes.keys()].map((d) => `torch.${d}`),
  ...[...legacyStorageDtypes.keys()].flatMap((s) => [`torch.${s}`, `torch.cuda.${s}`]),
  "torch.storage.UntypedStorage",
  "torch.storage.TypedStorage",
  ...TENSOR_CLASS_PREFIXES.flatMap((p) => [`torch.${p}Tensor`, `torch.cuda.${p}Tensor`, `torch.sparse.${p}Tensor`, `torch.cuda.sparse.${p}Tensor`]),
  ...QSCHEMES.map((q) => `torch.${q}`),
  ...REBUILD_FUNCTIONS.map((f) => `torch._utils.${f}`),
  "torch._tensor._rebuild_from_type_v2"
])

/** Modules refused even when allowlisted, as torch does. */
const ALWAYS_BLOCKED = new Set(["sys", "os", "posix", "nt"])


const intArg = (v: PyValue | undefined, site: CallSite, what: string): number => {
  if (typeof v === "number" && Number.isInteger(v)) return v
  if (typeof v === "boolean") return v ? 1 : 0
  throw badValue(site, `${what} must be an int, got ${v === undefined ? "nothing" : describe(v)}`)
}

const intTuple = (v: PyValue | undefined, site: CallSite, what: string): Array<number> => {
  const items = v instanceof TorchSize ? v.dims : iterableItems(v, site)
  return items.map((i) => intArg(i, site, what))
}

const boolArg = (v: PyValue | undefined): boolean => v === true || v === 1

const storageArg = (v: PyValue | undefined, site: CallSite): Storage => {
  if (v instanceof Storage) return v
  throw badValue(site, `expected a storage, got ${v === undefined ? "nothing" : describe(v)}`)
}

const metadataArg = (v: PyValue | undefined): ReadonlyMap<string, boolean> | undefined => {
  if (!(v instanceof Map) || v.size === 0) return undefined
  return new Map([...v].filter((e): e is [string, boolean] => typeof e[0] === "string" && typeof e[1] === "boolean"))
}

/**
 * Builds a tensor view, checking that shape and strides are sane and that
 * the view fits in its storage.
 *
 * @internal
 */
export const makeTensor = (
  site: CallSite,
  storage: Storage | undefined,
  dtype: DType,
  offset: number,
  shape: ReadonlyArray<number>,
  stride: ReadonlyArray<number>,
  requiresGrad: boolean,
  quantization?: Quantization,
  metadata?: ReadonlyMap<string, boolean>
): Tensor => {
  const record = storage?.record ?? site.record
  const badTensor = (detail: string) =>
    new CheckpointError({ reason: "BadTensor", offset: site.offset, detail, ...(record === undefined ? {} : { record }) })
  if (shape.length !== stride.length) throw badTensor(`size has ${shape.length} dims but stride has ${stride.length}`)
  if (shape.some((s) => s < 0) || stride.some((s) => s < 0) || offset < 0) throw badTensor("negative size, stride or offset")
  if (storage !== undefined) {
    const need = requiredBytes(dtype, shape, stride, offset)
    if (!Number.isSafeInteger(need) || need > storage.nbytes) {
      throw new CheckpointError({
        reason: "StorageTooShort",
        offset: site.offset,
        record: storage.record,
        detail: `tensor [${shape.join(", ")}] with stride [${stride.join(", ")}] at offset ${offset} needs ${need} bytes of storage ${JSON.stringify(storage.key)}, which has ${storage.nbytes}`
      })
    }
  }
  return new Tensor(dtype, shape, stride, offset, storage, requiresGrad, quantization, metadata)
}

const quantizationArg = (v: PyValue | undefined, site: CallSite): Quantization => {
  const items = iterableItems(v, site)
  const scheme = items[0]
  if (!(scheme instanceof QScheme)) throw badValue(site, "quantizer params must start with a qscheme")
  if (scheme.name === "per_tensor_affine") {
    return { scheme: "per_tensor_affine", scale: toNumber(items[1], site, "scale"), zeroPoint: intArg(items[2], site, "zero_point") }
  }
  if (scheme.name === "per_channel_affine" || scheme.name === "per_channel_affine_float_qparams") {
    const vec = (x: PyValue | undefined, what: string): Tensor | ReadonlyArray<number> =>
      x instanceof Tensor ? x : iterableItems(x, site).map((i) => toNumber(i, site, what))
    return { scheme: scheme.name, scales: vec(items[1], "scales"), zeroPoints: vec(items[2], "zero_points"), axis: intArg(items[3], site, "axis") }
  }
  throw badValue(site, `Can't deserialize quantized tensor with qscheme ${scheme.name}`)
}

const rebuildV2 = (args: ReadonlyArray<PyValue>, site: CallSite): Tensor => {
  const storage = storageArg(args[0], site)
  return makeTensor(site, storage, storage.dtype, intArg(args[1], site, "storage_offset"), intTuple(args[2], site, "size"), intTuple(args[3], site, "stride"), boolArg(args[4]), undefined, metadataArg(args[6]))
}

const rebuildV3 = (args: ReadonlyArray<PyValue>, site: CallSite): Tensor => {
  const storage = storageArg(args[0], site)
  const dtype = args[6]
  if (!(dtype instanceof DType)) throw badValue(site, "_rebuild_tensor_v3 needs a dtype")
  return makeTensor(site, storage, dtype, intArg(args[1], site, "storage_offset"), intTuple(args[2], site, "size"), intTuple(args[3], site, "stride"), boolArg(args[4]), undefined, metadataArg(args[7]))
}

const tensorArg = (v: PyValue | undefined, site: CallSite): Tensor => {
  if (v instanceof Tensor) return v
  throw badValue(site, `expected a tensor, got ${v === undefined ? "nothing" : describe(v)}`)
}

const withState = (t: Tensor, state: PyValue | undefined): Tensor => {
  if (state !== undefined && state !== null && !(state instanceof Map && state.size === 0)) t.state = state
  return t
}

const torchCallables: ReadonlyArray<CallableGlobal> = [
  new CallableGlobal("torch._utils", "_rebuild_tensor", (args, site) => {
    const storage = storageArg(args[0], site)
    return makeTensor(site, storage, storage.dtype, intArg(args[1], site, "storage_offset"), intTuple(args[2], site, "size"), intTuple(args[3], site, "stride"), false)
  }),
  new CallableGlobal("torch._utils", "_rebuild_tensor_v2", rebuildV2),
  new CallableGlobal("torch._utils", "_rebuild_tensor_v3", rebuildV3),
  new CallableGlobal("torch._utils", "_rebuild_parameter", (args, site) => Parameter.of(tensorArg(args[0], site), boolArg(args[1]))),
  new CallableGlobal("torch._utils", "_rebuild_parameter_with_state", (args, site) =>
    withState(Parameter.of(tensorArg(args[0], site), boolArg(args[1])), args[3])),
  new CallableGlobal("torch._utils", "_rebuild_qtensor", (args, site) => {
    const storage = storageArg(args[0], site)
    return makeTensor(site, storage, storage.dtype, intArg(args[1], site, "storage_offset"), intTuple(args[2], site, "size"), intTuple(args[3], site, "stride"), boolArg(args[5]), quantizationArg(args[4], site))
  }),
  new CallableGlobal("torch._utils", "_rebuild_meta_tensor_no_storage", (args, site) => {
    const dtype = args[0]
    if (!(dtype instanceof DType)) throw badValue(site, "_rebuild_meta_tensor_no_storage needs a dtype")
    return makeTensor(site, undefined, dtype, 0, intTuple(args[1], site, "size"), intTuple(args[2], site, "stride"), boolArg(args[3]))
  }),
  new CallableGlobal("torch._utils", "_rebuild_device_tensor_from_cpu_tensor", (args, site) => tensorArg(args[0], site)),
  new CallableGlobal("torch._tensor", "_rebuild_from_type_v2", (args, site) => {
    const [fn, , fnArgs, state] = args
    if (!(fn instanceof CallableGlobal)) {
      throw badValue(site, `_rebuild_from_type_v2 with unsupported function ${fn === undefined ? "nothing" : describe(fn)}`)
    }
    const result = fn.call(iterableItems(fnArgs, site), site)
    return result instanceof Tensor ? withState(result, state) : result
  }),
  new CallableGlobal("torch.nn.parameter", "Parameter", (args, site) =>
    Parameter.of(tensorArg(args[0], site), args[1] === undefined ? true : boolArg(args[1]))),
  new CallableGlobal("torch", "Size", (args, site) => new TorchSize(intTuple(args[0], site, "torch.Size dims"))),
  new CallableGlobal("torch", "device", (args, site) => {
    const [type, index] = args
    if (typeof type !== "string") throw badValue(site, "torch.device needs a string")
    const m = /^([^:]+)(?::(\d+))?$/.exec(type)
    if (m === null) throw badValue(site, `invalid device string ${JSON.stringify(type)}`)
    return new Device(m[1]!, index === undefined || index === null ? (m[2] === undefined ? null : Number(m[2])) : intArg(index, site, "device index"))
  }),
  new CallableGlobal("torch.serialization", "_get_layout", (args, site) => {
    if (typeof args[0] !== "string") throw badValue(site, "_get_layout needs a string")
    return new Layout(args[0].replace(/^torch\./, ""))
  })
]
/**
 * The C++ pickler's helpers (torch/jit/_pickle.py): each returns its first
 * argument, noting the TorchScript type of a list or dict they tag.
 */
const jitPickleHelpers = ["build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "build_tensor_from_id", "restore_type_tag"]
  .map((name) =>
    new CallableGlobal("torch.jit._pickle", name, ([value = null, tag]) => {
      const annotation = name === "restore_type_tag" ? tag : SPECIALIZED_LISTS[name]
      return typeof annotation === "string" ? tagScriptType(value, annotation) : value
    })
  )

const callablesByName = new Map([...torchCallables, ...jitPickleHelpers].map((c) => [c.qualifiedName, c]))

/** c10::ScalarType names the C++ pickler uses for storages (`torch UInt16Storage`). */
const scalarTypeDtypes: Record<string, string> = {
  Byte: "uint8", Char: "int8", Short: "int16", Int: "int32", Long: "int64", Half: "float16", Float: "float32",
  Double: "float64", ComplexHalf: "complex32", ComplexFloat: "complex64", ComplexDouble: "complex128", Bool: "bool",
  QInt8: "qint8", QUInt8: "quint8", QInt32: "qint32", BFloat16: "bfloat16", QUInt4x2: "quint4x2", QUInt2x4: "quint2x4",
  Bits1x8: "bits1x8", Bits2x4: "bits2x4", Bits4x2: "bits4x2", Bits8: "bits8", Bits16: "bits16",
  Float8_e5m2: "float8_e5m2", Float8_e4m3fn: "float8_e4m3fn", Float8_e5m2fnuz: "float8_e5m2fnuz",
  Float8_e4m3fnuz: "float8_e4m3fnuz", UInt16: "uint16", UInt32: "uint32", UInt64: "uint64",
  Float8_e8m0fnu: "float8_e8m0fnu", Float4_e2m1fn_x2: "float4_e2m1fn_x2"
}

/** The untyped storage class, counted in bytes. */
const UNTYPED = new StorageType("UntypedStorage", dtypes.get("uint8")!, true)

/**
 * Resolves a torch global (or returns undefined for non-torch globals).
 *
 * @internal
 */
export const torchGlobal = (module: string, name: string): PyValue | undefined => {
  const qualified = `${module}.${name}`
  const callable = callablesByName.get(qualified)
  if (callable !== undefined) return callable
  const legacy = legacyStorageDtypes.get(name) ?? (name.endsWith("Storage") ? scalarTypeDtypes[name.slice(0, -7)] : undefined)
  if (legacy !== undefined) return new StorageType(name, dtypes.get(legacy)!, false)
  if (name === "UntypedStorage" && module.startsWith("torch")) return UNTYPED
  if (module === "torch") {
    const dtype = dtypeByName(name)
    if (dtype !== undefined) return dtype
    if (QSCHEMES.includes(name)) return new QScheme(name)
  }
  return undefined
}

/**
 * How globals are policed.
 *
 * @internal
 */
export interface GlobalPolicy {
  /** Refuse globals outside the allowlist (torch ≥ 2.6's default). */
  readonly weightsOnly: boolean
  /** Extra `module.name` entries to accept in weights-only mode. */
  readonly allowGlobals?: ReadonlySet<string>
}

/**
 * BUILD as torch.load applies it to torch's values: a tensor (a subclass's
 * pickle) takes Python state; nothing else of torch's does.
 *
 * @internal
 */
export const buildTorchValue = (obj: PyValue, state: PyValue): boolean => {
  if (!(obj instanceof Tensor)) return false
  obj.state = state
  return true
}

/**
 * The `findClass` hook torch.load semantics need: translation, the
 * `torch.tensor` → `torch._tensor` remap, the weights-only check, then
 * torch values, Python builtins, or an opaque `PyGlobal`.
 *
 * @internal
 */
export const makeTorchFindClass = (policy: GlobalPolicy) => (module: string, name: string, site: CallSite): PyValue => {
  const [m0, n] = translateGlobal(module, name)
  const m = m0 === "torch.tensor" ? "torch._tensor" : m0
  const qualified = `${m}.${n}`
  if (policy.weightsOnly && (ALWAYS_BLOCKED.has(m.split(".")[0]!) || !(WEIGHTS_ONLY_ALLOWLIST.has(qualified) || policy.allowGlobals?.has(qualified)))) {
    throw new PickleError({
      reason: "ForbiddenGlobal",
      offset: site.offset,
      detail: `global ${qualified} is not in the weights-only allowlist (allow it with ${
        NUMPY_GLOBALS.has(qualified) ? "allowNumpy: true, NumPy's arrays, scalars and dtypes" : `allowGlobals: ["${qualified}"]`
      }, or open with weightsOnly: false to get opaque objects)`,
      ...(site.record === undefined ? {} : { record: site.record })
    })
  }
  return torchGlobal(m, n) ?? pythonGlobals(m, n)
}
