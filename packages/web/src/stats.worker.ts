/**
 * The statistics of one tensor, off the page's thread: given its bytes (moved
 * here, not copied) and dtype, widens them and makes two passes in slices,
 * posting progress between slices; the page cancels by ending the worker.
 */
import { accumulate, accumulator, bin, finish, widen } from "./stats.js"

/** What the page sends. */
export interface StatsRequest {
  readonly id: number
  readonly bytes: ArrayBuffer
  readonly dtype: string
  readonly bins: number
}

/** What the worker answers: progress (0 to 1), then the statistics. */
export type StatsReply =
  | { readonly id: number; readonly progress: number }
  | { readonly id: number; readonly stats: ReturnType<typeof finish> }

/** Values per slice between progress messages. */
const SLICE = 1 << 20

const scope = self as unknown as { onmessage: (e: MessageEvent<StatsRequest>) => void; postMessage: (m: StatsReply) => void }

scope.onmessage = (event) => {
  const { id, bytes, dtype, bins } = event.data
  const { values, of } = widen(new Uint8Array(bytes), dtype)
  const acc = accumulator()
  const total = 2 * values.length
  for (let at = 0; at < values.length; at += SLICE) {
    accumulate(acc, values, at, Math.min(values.length, at + SLICE))
    scope.postMessage({ id, progress: Math.min(values.length, at + SLICE) / total })
  }
  const counts = new Array<number>(bins).fill(0)
  if (acc.finite > 0) {
    for (let at = 0; at < values.length; at += SLICE) {
      bin(counts, values, at, Math.min(values.length, at + SLICE), acc.min, acc.max)
      scope.postMessage({ id, progress: (values.length + Math.min(values.length, at + SLICE)) / total })
    }
  }
  scope.postMessage({ id, stats: finish(acc, counts, of) })
}
