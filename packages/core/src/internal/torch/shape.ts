/**
 * Shape and stride arithmetic: element counts, contiguous strides, the
 * extent a view needs, and gathering a strided view's elements.
 *
 * @internal
 */
import type { DType } from "./dtypes.js"

/**
 * Product of the sizes.
 *
 * @since 0.1.0
 * @category utils
 */
export const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/**
 * Row-major (C-contiguous) strides for a shape.
 *
 * @since 0.1.0
 * @category utils
 */
export const contiguousStrides = (shape: ReadonlyArray<number>): Array<number> => {
  const out = new Array<number>(shape.length)
  let s = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = s
    s *= Math.max(shape[d]!, 1)
  }
  return out
}

/**
 * The number of storage elements a view needs: `offset + 1 + Σ (size-1)·stride`,
 * or 0 when the view is empty.
 *
 * @since 0.1.0
 * @category utils
 */
export const requiredElements = (shape: ReadonlyArray<number>, stride: ReadonlyArray<number>, offset: number): number => {
  if (shape.some((s) => s === 0)) return 0
  let extent = offset + 1
  for (let d = 0; d < shape.length; d++) extent += (shape[d]! - 1) * stride[d]!
  return extent
}

/**
 * Bytes of storage a view needs, accounting for sub-byte packed dtypes.
 *
 * @since 0.1.0
 * @category utils
 */
export const requiredBytes = (dtype: DType, shape: ReadonlyArray<number>, stride: ReadonlyArray<number>, offset: number): number =>
  Math.ceil(requiredElements(shape, stride, offset) / dtype.perByte) * dtype.itemSize

/** Whether a view's strides are row-major with no gaps (sizes of 1 take any stride). @internal */
export const isContiguous = (shape: ReadonlyArray<number>, stride: ReadonlyArray<number>): boolean => {
  let s = 1
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== s) return false
    s *= shape[d]!
  }
  return true
}

/**
 * Copies a strided view out of storage bytes into row-major order.
 * Pure; `src` must hold at least `requiredElements` elements.
 *
 * @since 0.1.0
 * @category utils
 */
export const gather = (
  src: Uint8Array,
  itemSize: number,
  shape: ReadonlyArray<number>,
  stride: ReadonlyArray<number>,
  offset: number
): Uint8Array => {
  const n = numel(shape)
  if (n === 0) return new Uint8Array(0)
  if (isContiguous(shape, stride)) return src.slice(offset * itemSize, (offset + n) * itemSize)
  const out = new Uint8Array(n * itemSize)
  const nd = shape.length
  const inner = shape[nd - 1]!
  const innerStride = stride[nd - 1]!
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0)
  let base = offset
  let o = 0
  for (let row = n / inner; row > 0; row--) {
    if (innerStride === 1) {
      out.set(src.subarray(base * itemSize, (base + inner) * itemSize), o)
      o += inner * itemSize
    } else {
      for (let j = 0; j < inner; j++) {
        const s = (base + j * innerStride) * itemSize
        for (let b = 0; b < itemSize; b++) out[o++] = src[s + b]!
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++
      base += stride[d]!
      if (idx[d]! < shape[d]!) break
      base -= stride[d]! * shape[d]!
      idx[d] = 0
    }
  }
  return out
}
