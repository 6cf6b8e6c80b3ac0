/**
 * Storage bytes as writers emit them: exactly `nbytes`, little-endian,
 * streamed chunk by chunk from wherever the storage lives.
 *
 * @internal
 */
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../Errors.js"
import { byteSwap } from "../Torch.js"
import type { StorageRecord } from "./torchPickle.js"

/** The first `n` bytes of a stream of chunks. */
const takeBytes = <E>(s: Stream.Stream<Uint8Array, E>, n: number): Stream.Stream<Uint8Array, E> =>
  Stream.suspend(() => {
    let left = n
    return s.pipe(
      Stream.takeWhile(() => left > 0),
      Stream.map((c) => {
        const out = c.length > left ? c.subarray(0, left) : c
        left -= out.length
        return out
      })
    )
  })

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

/** A storage's bytes as written: little-endian, exactly `nbytes`. @internal */
export const storageData = (r: StorageRecord): Stream.Stream<Uint8Array, TorchwireError> => {
  const raw = takeBytes(r.storage.stream, r.storage.nbytes)
  return r.storage.byteOrder === "big" && r.swapWidth > 1 ? swapStream(raw, r.swapWidth, r.storage.record) : raw
}

