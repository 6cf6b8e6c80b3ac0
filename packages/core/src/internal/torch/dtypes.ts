/**
 * torch's dtypes: every `torch.dtype` with its element size and kind, the
 * names torch.load accepts for them, the legacy storage classes, and the
 * c10 numbering flatbuffer modules use.
 *
 * @internal
 */
/**
 * A `torch.dtype`.
 *
 * @since 0.1.0
 * @category models
 */
export class DType {
  readonly pyType = "torch.dtype"
  constructor(
    /** torch's name without `torch.`: `float32`, `bfloat16`, ... */
    readonly name: string,
    /** Bytes per element. */
    readonly itemSize: number,
    /** The element kind, which decides the typed array a tensor materializes as. */
    readonly kind: "float" | "int" | "uint" | "bool" | "complex" | "quantized" | "bits",
    /** Elements packed in one storage byte (2 for quint4x2, 4 for quint2x4). */
    readonly perByte: number = 1
  ) {}
}

const dtypeList: ReadonlyArray<DType> = [
  new DType("float64", 8, "float"),
  new DType("float32", 4, "float"),
  new DType("float16", 2, "float"),
  new DType("bfloat16", 2, "float"),
  new DType("int64", 8, "int"),
  new DType("int32", 4, "int"),
  new DType("int16", 2, "int"),
  new DType("int8", 1, "int"),
  new DType("uint8", 1, "uint"),
  new DType("uint16", 2, "uint"),
  new DType("uint32", 4, "uint"),
  new DType("uint64", 8, "uint"),
  new DType("bool", 1, "bool"),
  new DType("complex128", 16, "complex"),
  new DType("complex64", 8, "complex"),
  new DType("complex32", 4, "complex"),
  new DType("qint8", 1, "quantized"),
  new DType("quint8", 1, "quantized"),
  new DType("qint32", 4, "quantized"),
  new DType("quint4x2", 1, "quantized", 2),
  new DType("quint2x4", 1, "quantized", 4),
  new DType("float8_e5m2", 1, "float"),
  new DType("float8_e4m3fn", 1, "float"),
  new DType("float8_e5m2fnuz", 1, "float"),
  new DType("float8_e4m3fnuz", 1, "float"),
  new DType("float8_e8m0fnu", 1, "float"),
  new DType("float4_e2m1fn_x2", 1, "float"),
  new DType("bits8", 1, "bits"),
  new DType("bits16", 2, "bits"),
  new DType("bits1x8", 1, "bits"),
  new DType("bits2x4", 1, "bits"),
  new DType("bits4x2", 1, "bits"),
  ...[1, 2, 3, 4, 5, 6, 7].flatMap((n) => [new DType(`uint${n}`, 1, "uint"), new DType(`int${n}`, 1, "int")])
]

/**
 * Every dtype torchwire knows, by name (`float32`, ...).
 *
 * @since 0.1.0
 * @category constants
 */
export const dtypes: ReadonlyMap<string, DType> = new Map(dtypeList.map((d) => [d.name, d]))

/** Python aliases that also name dtypes as attributes of `torch`. */
const dtypeAliases: Record<string, string> = {
  float: "float32",
  double: "float64",
  half: "float16",
  long: "int64",
  int: "int32",
  short: "int16",
  cfloat: "complex64",
  cdouble: "complex128",
  chalf: "complex32"
}

/**
 * Looks a dtype up by its name or torch alias (`float`, `long`, ...).
 *
 * @since 0.1.0
 * @category utils
 */
export const dtypeByName = (name: string): DType | undefined => dtypes.get(dtypeAliases[name] ?? name)

/**
 * The legacy storage classes (`torch.FloatStorage`, ...) and their dtypes.
 *
 * @since 0.1.0
 * @category constants
 */
export const legacyStorageDtypes: ReadonlyMap<string, string> = new Map([
  ["DoubleStorage", "float64"],
  ["FloatStorage", "float32"],
  ["HalfStorage", "float16"],
  ["BFloat16Storage", "bfloat16"],
  ["LongStorage", "int64"],
  ["IntStorage", "int32"],
  ["ShortStorage", "int16"],
  ["CharStorage", "int8"],
  ["ByteStorage", "uint8"],
  ["BoolStorage", "bool"],
  ["ComplexDoubleStorage", "complex128"],
  ["ComplexFloatStorage", "complex64"],
  ["QInt8Storage", "qint8"],
  ["QUInt8Storage", "quint8"],
  ["QInt32Storage", "qint32"],
  ["QUInt4x2Storage", "quint4x2"],
  ["QUInt2x4Storage", "quint2x4"]
])

/**
 * dtype names by c10::ScalarType number (the flatbuffer `scalar_type` byte,
 * format-facts §7.3).
 *
 * @since 0.1.0
 * @category constants
 */
export const scalarTypes: ReadonlyArray<string> = [
  "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64", "complex32", "complex64", "complex128",
  "bool", "qint8", "quint8", "qint32", "bfloat16", "quint4x2", "quint2x4", "bits1x8", "bits2x4", "bits4x2", "bits8",
  "bits16", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz", "float8_e4m3fnuz", "uint16", "uint32", "uint64",
  "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4", "int5", "int6", "int7",
  "float8_e8m0fnu", "float4_e2m1fn_x2"
]

/**
 * c10::QScheme names by number.
 *
 * @since 0.1.0
 * @category constants
 */
export const qschemes: ReadonlyArray<string> = ["per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric", "per_channel_affine_float_qparams"]
