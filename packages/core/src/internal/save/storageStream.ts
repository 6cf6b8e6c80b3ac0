/**
 * Storage bytes as writers emit them: exactly `nbytes`, little-endian,
 * streamed chunk by chunk from wherever the storage lives.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { CheckpointError, type TorchwireError } from "../../Errors.js"
import { byteSwap } from "../torch/tensorBytes.js"
import { RangedData, type RecordData } from "../container/recordStream.js"
import { BatchedStorage, SMALL_STORAGE } from "../load/storages.js"
import type { StorageRecord } from "../torch/pickle.js"

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

/**
 * A storage's bytes as written: little-endian, exactly `nbytes` (a record
 * with other than `nbytes` fails when written). In memory when the storage
 * is; read whole when it is small (with its neighbours, when its container can);
 * else read a range at a time, when its container can, or streamed chunk by chunk.
 *
 * @internal
 */
export const storageData = (r: StorageRecord): RecordData["data"] => {
  const { storage } = r
  const swap = storage.byteOrder === "big" && r.swapWidth > 1
  if (storage.memory !== undefined && !swap) return storage.memory.subarray(0, storage.nbytes)
  if (storage.nbytes < SMALL_STORAGE && !swap) {
    return storage instanceof BatchedStorage ? storage.data : Effect.map(storage.read, (b) => b.subarray(0, storage.nbytes))
  }
  if (storage.readRange !== undefined && !swap) return new RangedData(storage.readRange, storage.nbytes)
  const raw = takeBytes(r.storage.stream, r.storage.nbytes)
  return swap ? swapStream(raw, r.swapWidth, r.storage.record) : raw
}

