/**
 * Storage bytes as writers emit them: exactly `nbytes`, little-endian,
 * streamed chunk by chunk from wherever the storage lives.
 *
 * @internal
 */
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { byteSwap } from "../torch/tensorBytes.js"
import { RecordBytes, streamOf } from "../container/recordBytes.js"
import type { StorageRecord } from "../torch/pickle.js"

/** Byte-swaps a stream of chunks by `width`-byte words, carrying split words across chunks. */
const swapStream = (s: Stream.Stream<Uint8Array, TorchwireError>, width: number, record: string): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.suspend(() => {
    let carry = new Uint8Array(0)
    return s.pipe(
      Stream.map((c) => {
        const joined = new Uint8Array(carry.length + c.length)
        joined.set(carry)
        joined.set(c, carry.length)
        const whole = joined.length - (joined.length % width)
        carry = joined.slice(whole)
        return byteSwap(joined.subarray(0, whole), width)
      }),
      Stream.concat(Stream.suspend(() =>
        carry.length === 0
          ? Stream.empty
          : Stream.fail(new CheckpointError({ reason: "BadRecord", offset: 0, record, detail: `storage size is not a multiple of its ${width}-byte elements` }))
      ))
    )
  })

/**
 * A storage's bytes as written: little-endian, exactly `nbytes` (a record
 * with other than `nbytes` fails when written). Where they live, as the
 * storage says, unless they must be byte-swapped (a big-endian file's
 * multi-byte elements): then streamed through the swap.
 *
 * @internal
 */
export const storageData = (r: StorageRecord): RecordBytes => {
  const { storage } = r
  if (storage.byteOrder !== "big" || r.swapWidth <= 1) return storage.bytes
  return RecordBytes.Streamed({ stream: swapStream(streamOf(storage.bytes), r.swapWidth, storage.record), size: storage.nbytes })
}
