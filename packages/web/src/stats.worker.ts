/**
 * The statistics of one tensor, off the page's thread: given its bytes (moved
 * here, not copied) and dtype, `statsOf` them, posting its progress between
 * slices; the page cancels by ending the worker.
 */
import { type Stats, statsOf } from "./stats.js"

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
  | { readonly id: number; readonly stats: Stats }

const scope = self as unknown as { onmessage: (e: MessageEvent<StatsRequest>) => void; postMessage: (m: StatsReply) => void }

scope.onmessage = (event) => {
  const { id, bytes, dtype, bins } = event.data
  const stats = statsOf(new Uint8Array(bytes), dtype, bins, (progress) => scope.postMessage({ id, progress }))
  scope.postMessage({ id, stats })
}
