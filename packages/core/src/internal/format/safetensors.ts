/**
 * The safetensors format: an 8-byte little-endian header length N, N bytes
 * of JSON (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {str: str}}`, padded with spaces to a multiple of 8 by the
 * writer), then the tensors' bytes, `data_offsets` counted from the end of
 * the header. Read as the reference implementation (safetensors 0.8)
 * validates it: a header of at most 100,000,000 bytes that starts with `{`,
 * offsets that cover the whole buffer in order without gaps or overlaps,
 * each tensor's byte length its shape's elements times its dtype's size.
 * Written as its `save_file` writes it: tensors in descending dtype order
 * (its `Dtype` enum's), then by name; compact JSON.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { ByteSource } from "../../ByteSource.js"
import { attempt, CheckpointError, type TorchwireError } from "../../Errors.js"

/** The longest header the reference implementation reads. @internal */
export const MAX_HEADER_BYTES = 100_000_000

/**
 * safetensors' dtypes in its `Dtype` enum's order (save_file writes the
 * last first), each with the torch dtype it holds (undefined: none
 * torchwire reads) and its size in bits.
 */
const DTYPES: ReadonlyArray<readonly [string, string | undefined, number]> = [
  ["BOOL", "bool", 8], ["F4", "float4_e2m1fn_x2", 4], ["F6_E2M3", undefined, 6], ["F6_E3M2", undefined, 6],
  ["U8", "uint8", 8], ["I8", "int8", 8], ["F8_E5M2", "float8_e5m2", 8], ["F8_E4M3", "float8_e4m3fn", 8],
  ["F8_E8M0", "float8_e8m0fnu", 8], ["F8_E4M3FNUZ", "float8_e4m3fnuz", 8], ["F8_E5M2FNUZ", "float8_e5m2fnuz", 8],
  ["I16", "int16", 16], ["U16", "uint16", 16], ["F16", "float16", 16], ["BF16", "bfloat16", 16], ["I32", "int32", 32],
  ["U32", "uint32", 32], ["F32", "float32", 32], ["C64", "complex64", 64], ["F64", "float64", 64], ["I64", "int64", 64],
  ["U64", "uint64", 64]
]

/** A safetensors dtype's rank (save_file's order), torch dtype and size in bits. @internal */
export const dtypeInfo: ReadonlyMap<string, { readonly rank: number; readonly torch: string | undefined; readonly bits: number }> = new Map(
  DTYPES.map(([name, torch, bits], rank) => [name, { rank, torch, bits }])
)

/** The safetensors dtype of a torch dtype, when the format has one. @internal */
export const safetensorsDtypeOf: ReadonlyMap<string, string> = new Map(
  DTYPES.flatMap(([name, torch]) => (torch === undefined ? [] : [[torch, name] as const]))
)

const Count = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** One tensor's header entry. @internal */
export const TensorInfo = Schema.Struct({
  dtype: Schema.String,
  shape: Schema.Array(Count),
  data_offsets: Schema.Tuple(Count, Count)
})

/** A tensor of a header, in file order. @internal */
export interface HeaderTensor {
  readonly name: string
  readonly dtype: string
  /** The shape as the header says it (for F4, in 4-bit elements). */
  readonly shape: ReadonlyArray<number>
  /** File offsets of its bytes. */
  readonly start: number
  readonly end: number
}

/** A parsed and validated header. @internal */
export interface Header {
  readonly tensors: ReadonlyArray<HeaderTensor>
  readonly metadata: ReadonlyMap<string, string> | undefined
  /** File offset of the first tensor byte (8 + the header length). */
  readonly dataStart: number
}

const fail = (reason: CheckpointError["reason"], offset: number, detail: string, record = "header") =>
  new CheckpointError({ reason, offset, detail, record })

/**
 * The header length of a file, from its first 8 bytes, checked against the
 * file's size and the reference implementation's limit.
 *
 * @internal
 */
export const headerLength = (first8: Uint8Array, fileSize: number): number => {
  if (first8.length < 8) throw fail("Truncated", 0, `a safetensors file starts with an 8-byte header length; the file has ${fileSize} bytes`)
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true)
  if (n > BigInt(MAX_HEADER_BYTES)) throw fail("LimitExceeded", 0, `header of ${n} bytes is over the ${MAX_HEADER_BYTES}-byte limit`)
  if (Number(n) > fileSize - 8) throw fail("Truncated", 0, `header of ${n} bytes runs past the end of the ${fileSize}-byte file`)
  return Number(n)
}

/**
 * Parses and validates a header (`json`, the N bytes after the length) of a
 * file of `fileSize` bytes. Throws `CheckpointError` naming the tensor and
 * the byte offset of what is wrong.
 *
 * @internal
 */
export const parseHeader = (json: Uint8Array, fileSize: number): Header => {
  const dataStart = 8 + json.length
  if (json[0] !== 0x7b) throw fail("BadRecord", 8, "the header does not start with '{'")
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json))
  } catch (e) {
    throw fail("BadRecord", 8, `the header is not JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw fail("BadRecord", 8, "the header is not a JSON object")
  let metadata: Map<string, string> | undefined
  const tensors: Array<HeaderTensor> = []
  for (const [name, value] of Object.entries(parsed)) {
    if (name === "__metadata__") {
      metadata = metadataOf(value)
      continue
    }
    const info = Schema.decodeUnknownEither(TensorInfo)(value)
    if (Either.isLeft(info)) throw fail("BadRecord", 8, `tensor ${JSON.stringify(name)}: ${info.left.message}`, name)
    const { dtype, shape, data_offsets: [begin, end] } = info.right
    tensors.push({ name, dtype, shape, start: dataStart + begin, end: dataStart + end })
  }
  validateLayout(tensors, dataStart, fileSize)
  return { tensors, metadata, dataStart }
}

/**
 * Reads and validates the header of a safetensors file: its length from
 * `head` (the file's first bytes, already read), then the JSON.
 *
 * @internal
 */
export const readHeader = (source: ByteSource, head: Uint8Array): Effect.Effect<Header, TorchwireError> =>
  Effect.gen(function*() {
    const first8 = head.subarray(0, 8)
    const n = yield* attempt(() => headerLength(first8, source.size), CheckpointError)
    const json = yield* source.read(8, n)
    return yield* attempt(() => parseHeader(json, source.size), CheckpointError)
  })

/** `__metadata__`: an object of strings. */
const metadataOf = (value: unknown): Map<string, string> => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw fail("BadRecord", 8, "__metadata__ is not an object of strings", "__metadata__")
  const out = new Map<string, string>()
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw fail("BadRecord", 8, `__metadata__ ${JSON.stringify(k)} is not a string`, "__metadata__")
    out.set(k, v)
  }
  return out
}

/**
 * The reference implementation's rules: known dtypes, each tensor's bytes
 * its elements times its dtype's size, offsets that tile the buffer from
 * its start to the file's end.
 */
const validateLayout = (tensors: ReadonlyArray<HeaderTensor>, dataStart: number, fileSize: number): void => {
  for (const t of tensors) {
    const info = dtypeInfo.get(t.dtype)
    if (info === undefined) throw fail("UnknownDtype", t.start, `tensor ${JSON.stringify(t.name)} has dtype ${JSON.stringify(t.dtype)}, which safetensors does not define`, t.name)
    if (t.end < t.start) throw fail("BadRecord", t.start, `tensor ${JSON.stringify(t.name)} ends before it starts`, t.name)
    const elements = t.shape.reduce((n, d) => n * d, 1)
    const bits = elements * info.bits
    if (!Number.isSafeInteger(elements) || bits % 8 !== 0 || bits / 8 !== t.end - t.start) {
      throw fail("BadTensor", t.start, `tensor ${JSON.stringify(t.name)}: shape [${t.shape.join(", ")}] of ${t.dtype} needs ${bits / 8} bytes, its offsets span ${t.end - t.start}`, t.name)
    }
  }
  const ordered = [...tensors].sort((a, b) => a.start - b.start || a.end - b.end)
  let at = dataStart
  for (const t of ordered) {
    if (t.start !== at) {
      throw fail("BadRecord", t.start, `tensor ${JSON.stringify(t.name)} starts at byte ${t.start}, not at ${at} where the one before ends (${t.start < at ? "overlap" : "gap"})`, t.name)
    }
    at = t.end
  }
  if (at !== fileSize) {
    throw fail(at < fileSize ? "TrailingBytes" : "Truncated", Math.min(at, fileSize), `the tensors end at byte ${at}, the file at ${fileSize}`)
  }
}

/** A tensor to write: its name, safetensors dtype, header shape and byte length. @internal */
export interface TensorToWrite {
  readonly name: string
  readonly dtype: string
  readonly shape: ReadonlyArray<number>
  readonly nbytes: number
}

/**
 * save_file's order: dtypes of higher rank first, then names (by code
 * point, as Rust compares strings).
 *
 * @internal
 */
export const writeOrder = <T extends TensorToWrite>(tensors: ReadonlyArray<T>): Array<T> =>
  [...tensors].sort((a, b) => dtypeInfo.get(b.dtype)!.rank - dtypeInfo.get(a.dtype)!.rank || compareCodePoints(a.name, b.name))

/** Compares strings by Unicode code point (UTF-8 byte order), not UTF-16 unit. */
const compareCodePoints = (a: string, b: string): number => {
  const x = [...a]
  const y = [...b]
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!
    if (d !== 0) return d
  }
  return x.length - y.length
}

/**
 * The 8-byte length and the header save_file writes for tensors already in
 * `writeOrder`: compact JSON, `__metadata__` first when there is one (empty
 * too), padded with spaces to a multiple of 8 bytes.
 *
 * @internal
 */
export const encodeHeader = (ordered: ReadonlyArray<TensorToWrite>, metadata: ReadonlyMap<string, string> | undefined): Uint8Array => {
  const parts: Array<string> = []
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(Object.fromEntries(metadata))}`)
  let offset = 0
  for (const t of ordered) {
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(",")}],"data_offsets":[${offset},${offset + t.nbytes}]}`)
    offset += t.nbytes
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`)
  const padded = Math.ceil(json.length / 8) * 8
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true)
  out.set(json, 8)
  return out
}
