/**
 * A tensor's statistics from its bytes (row-major, little-endian, as
 * `Torch.bytes` gives them): min, max, mean, standard deviation, the counts
 * of NaN, ±Inf and zeros, and a histogram of the finite values. Every dtype
 * is widened to a number first: float16, bfloat16 and the float8/float4
 * formats decoded bit by bit, 64-bit integers through BigInt, complex
 * numbers by their magnitude, quantized tensors by their integer
 * representation (what `int_repr()` holds). Pure, so the worker and the
 * tests share it.
 */

import { halfToFloat } from "@torchwire/core/Torch"

/** The statistics of one tensor. */
export interface Stats {
  readonly count: number
  readonly min: number
  readonly max: number
  readonly mean: number
  readonly std: number
  readonly nan: number
  readonly inf: number
  readonly zeros: number
  /** Counts of the finite values in `bins` equal-width bins over [min, max]. */
  readonly histogram: ReadonlyArray<number>
  /** What a value is: "value", "magnitude" (complex), "integer representation" (quantized). */
  readonly of: string
}

/**
 * A decoder of a small float format of `e` exponent and `m` mantissa bits
 * with exponent bias `bias`: `ieee` formats have infinities and NaNs at the
 * top exponent (e5m2); `fn` ones only NaN at all-ones (e4m3fn); `fnuz` ones
 * have no negative zero, 0x80 being their one NaN.
 */
const smallFloat = (e: number, m: number, bias: number, kind: "ieee" | "fn" | "fnuz") => (b: number): number => {
  const sign = (b >> (e + m)) & 1
  const exp = (b >> m) & ((1 << e) - 1)
  const man = b & ((1 << m) - 1)
  if (kind === "fnuz" && sign === 1 && exp === 0 && man === 0) return NaN
  if (kind === "ieee" && exp === (1 << e) - 1) return man === 0 ? (sign ? -Infinity : Infinity) : NaN
  if (kind === "fn" && exp === (1 << e) - 1 && man === (1 << m) - 1) return NaN
  const v = exp === 0 ? (man / (1 << m)) * 2 ** (1 - bias) : (1 + man / (1 << m)) * 2 ** (exp - bias)
  return sign ? -v : v
}

/** 256-entry tables of the one-byte float formats. */
const table = (f: (b: number) => number): Float64Array => Float64Array.from({ length: 256 }, (_, b) => f(b))
const BYTE_FLOATS: Readonly<Record<string, Float64Array>> = {
  float8_e5m2: table(smallFloat(5, 2, 15, "ieee")),
  float8_e4m3fn: table(smallFloat(4, 3, 7, "fn")),
  float8_e5m2fnuz: table(smallFloat(5, 2, 16, "fnuz")),
  float8_e4m3fnuz: table(smallFloat(4, 3, 8, "fnuz")),
  float8_e8m0fnu: table((b) => (b === 0xff ? NaN : 2 ** (b - 127)))
}
/** float4 e2m1: the 16 values of a nibble (it has no NaN: the all-ones magnitude is 6). */
const FP4 = Float64Array.from({ length: 16 }, (_, n) => ((n & 7) === 7 ? (n & 8 ? -6 : 6) : smallFloat(2, 1, 1, "fn")(n)))

/**
 * The values of a tensor's bytes as numbers, for its dtype (names as
 * torch's: `float32`, `bfloat16`, `qint8`, ...), and what they are.
 */
export const widen = (bytes: Uint8Array, dtype: string): { readonly values: Float64Array | Float32Array; readonly of: string } => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = (size: number) => Math.floor(bytes.byteLength / size)
  const out = (size: number, get: (i: number) => number) => Float64Array.from({ length: n(size) }, (_, i) => get(i))
  switch (dtype) {
    case "float32":
      return { values: Float32Array.from({ length: n(4) }, (_, i) => view.getFloat32(4 * i, true)), of: "value" }
    case "float64":
      return { values: out(8, (i) => view.getFloat64(8 * i, true)), of: "value" }
    case "float16":
      return { values: out(2, (i) => halfToFloat(view.getUint16(2 * i, true))), of: "value" }
    case "bfloat16": {
      const f = new DataView(new ArrayBuffer(4))
      return { values: out(2, (i) => (f.setUint32(0, view.getUint16(2 * i, true) << 16), f.getFloat32(0))), of: "value" }
    }
    case "float4_e2m1fn_x2":
      return { values: Float64Array.from({ length: 2 * bytes.length }, (_, i) => FP4[(bytes[i >> 1]! >> (4 * (i & 1))) & 15]!), of: "value" }
    case "int64":
    case "uint64":
      return { values: out(8, (i) => Number(dtype === "int64" ? view.getBigInt64(8 * i, true) : view.getBigUint64(8 * i, true))), of: "value" }
    case "int32":
    case "qint32":
      return { values: out(4, (i) => view.getInt32(4 * i, true)), of: dtype === "qint32" ? "integer representation" : "value" }
    case "uint32":
      return { values: out(4, (i) => view.getUint32(4 * i, true)), of: "value" }
    case "int16":
      return { values: out(2, (i) => view.getInt16(2 * i, true)), of: "value" }
    case "uint16":
      return { values: out(2, (i) => view.getUint16(2 * i, true)), of: "value" }
    case "int8":
    case "qint8":
      return { values: out(1, (i) => view.getInt8(i)), of: dtype === "qint8" ? "integer representation" : "value" }
    case "uint8":
    case "bool":
    case "quint8":
    case "quint4x2":
    case "quint2x4":
      return { values: out(1, (i) => bytes[i]!), of: dtype.startsWith("q") ? "integer representation" : "value" }
    case "complex64":
      return { values: out(8, (i) => Math.hypot(view.getFloat32(8 * i, true), view.getFloat32(8 * i + 4, true))), of: "magnitude" }
    case "complex128":
      return { values: out(16, (i) => Math.hypot(view.getFloat64(16 * i, true), view.getFloat64(16 * i + 8, true))), of: "magnitude" }
    case "complex32":
      return { values: out(4, (i) => Math.hypot(halfToFloat(view.getUint16(4 * i, true)), halfToFloat(view.getUint16(4 * i + 2, true)))), of: "magnitude" }
  }
  const bytewise = BYTE_FLOATS[dtype]
  if (bytewise !== undefined) return { values: out(1, (i) => bytewise[bytes[i]!]!), of: "value" }
  return { values: out(1, (i) => bytes[i]!), of: "raw bytes" }
}

/** Running sums over values seen so far (Welford's mean and variance, counts, extremes). */
interface Accumulator {
  count: number
  finite: number
  min: number
  max: number
  mean: number
  m2: number
  nan: number
  inf: number
  zeros: number
}

/** An empty accumulator. */
const accumulator = (): Accumulator => ({ count: 0, finite: 0, min: Infinity, max: -Infinity, mean: 0, m2: 0, nan: 0, inf: 0, zeros: 0 })

/** Adds `values[from, to)` to the accumulator (the first pass: extremes, moments and counts). */
const accumulate = (acc: Accumulator, values: ArrayLike<number>, from: number, to: number): void => {
  for (let i = from; i < to; i++) {
    const v = values[i]!
    acc.count++
    if (v !== v) {
      acc.nan++
      continue
    }
    if (v === Infinity || v === -Infinity) {
      acc.inf++
      continue
    }
    if (v === 0) acc.zeros++
    if (v < acc.min) acc.min = v
    if (v > acc.max) acc.max = v
    acc.finite++
    const d = v - acc.mean
    acc.mean += d / acc.finite
    acc.m2 += d * (v - acc.mean)
  }
}

/** Adds `values[from, to)` to `bins` equal-width bins over [min, max] (the second pass). */
const bin = (bins: Array<number>, values: ArrayLike<number>, from: number, to: number, min: number, max: number): void => {
  const width = (max - min) / bins.length
  for (let i = from; i < to; i++) {
    const v = values[i]!
    if (!Number.isFinite(v)) continue
    const k = width === 0 ? 0 : Math.min(bins.length - 1, Math.floor((v - min) / width))
    bins[k]!++
  }
}

/** The statistics of finished passes. */
const finish = (acc: Accumulator, bins: ReadonlyArray<number>, of: string): Stats => ({
  count: acc.count,
  min: acc.finite === 0 ? NaN : acc.min,
  max: acc.finite === 0 ? NaN : acc.max,
  mean: acc.finite === 0 ? NaN : acc.mean,
  std: acc.finite === 0 ? NaN : Math.sqrt(acc.m2 / acc.finite),
  nan: acc.nan,
  inf: acc.inf,
  zeros: acc.zeros,
  histogram: bins,
  of
})

/** Values per slice between progress reports. */
const SLICE = 1 << 20

/**
 * The statistics of a tensor's bytes: widened, then two passes (extremes,
 * moments and counts; then the histogram over [min, max]) in slices of a
 * million values, `onProgress` told the fraction done after each.
 */
export const statsOf = (bytes: Uint8Array, dtype: string, bins = 64, onProgress: (done: number) => void = () => {}): Stats => {
  const { values, of } = widen(bytes, dtype)
  const acc = accumulator()
  const total = 2 * values.length
  for (let at = 0; at < values.length; at += SLICE) {
    accumulate(acc, values, at, Math.min(values.length, at + SLICE))
    onProgress(Math.min(values.length, at + SLICE) / total)
  }
  const counts = new Array<number>(bins).fill(0)
  if (acc.finite > 0) {
    for (let at = 0; at < values.length; at += SLICE) {
      bin(counts, values, at, Math.min(values.length, at + SLICE), acc.min, acc.max)
      onProgress((values.length + Math.min(values.length, at + SLICE)) / total)
    }
  }
  return finish(acc, counts, of)
}
