/**
 * A byte stream made of records, each in memory or streamed from its
 * source, with bytes of the writer's own before, through and after each
 * one (an archive's headers, CRC-32s and descriptors).
 *
 * One pull loop, not a stream per record: records in memory are written
 * synchronously, many per chunk (a state_dict of 100k small tensors costs
 * microseconds per record, where a concatenation of 100k streams cost
 * hundreds), and a streamed record's data is pulled in a scope of its own,
 * closed as soon as the record ends.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { isTorchwireError, type TorchwireError } from "../../Errors.js"
import type { ZipArchive } from "./zipArchive.js"
import type { CentralEntry as ZipEntry } from "./zipFormat.js"
import { readAll, rangeReader, type RecordBytes, sizeOf, SMALL_RECORD, streamOf } from "./recordBytes.js"

/**
 * A record to write: where its bytes live. How the writer reads them
 * follows (`planOf`): in memory as they are; small ones read whole ahead of
 * the consumer (a zip archive's with their neighbours, one read per span of
 * file); large ones by ranges where their container can seek, else streamed.
 *
 * @internal
 */
export interface RecordData {
  readonly data: RecordBytes
}

/** How the writer reads one record's bytes. */
type Plan =
  | { readonly _tag: "Memory"; readonly bytes: Uint8Array }
  | { readonly _tag: "Whole"; readonly read: Effect.Effect<Uint8Array, TorchwireError> }
  | { readonly _tag: "Batched"; readonly archive: ZipArchive; readonly entry: ZipEntry; readonly size: number }
  | { readonly _tag: "Ranged"; readonly read: (offset: number, length: number) => Effect.Effect<Uint8Array, TorchwireError>; readonly size: number }
  | { readonly _tag: "Streamed"; readonly stream: Stream.Stream<Uint8Array, TorchwireError> }

/** How the writer reads a record's bytes, by where they live and how many there are. */
const planOf = (b: RecordBytes): Plan => {
  const size = sizeOf(b)
  switch (b._tag) {
    case "Memory":
      return { _tag: "Memory", bytes: b.bytes }
    case "Computed":
      return { _tag: "Whole", read: b.read }
    case "Streamed":
      return { _tag: "Streamed", stream: b.stream }
    case "ZipEntry":
      if (size < SMALL_RECORD) return { _tag: "Batched", archive: b.archive, entry: b.entry, size }
      break
    case "SourceRange":
      if (size < SMALL_RECORD) return { _tag: "Whole", read: readAll(b) }
      break
  }
  const ranged = rangeReader(b)
  return ranged === undefined ? { _tag: "Streamed", stream: streamOf(b) } : { _tag: "Ranged", read: ranged, size }
}

/**
 * What a writer adds around the records' bytes. Each call may throw a
 * `TorchwireError` (a record whose data disagrees with its size, say),
 * which fails the stream.
 *
 * @internal
 */
export interface RecordWriter<R> {
  /** Bytes before a record's data. */
  readonly begin: (record: R) => Uint8Array
  /** A chunk of the current record's data, as written. */
  readonly data: (chunk: Uint8Array) => Uint8Array
  /** Bytes after the current record's data. */
  readonly end: () => Uint8Array
  /** Bytes after the last record. */
  readonly finish: () => ReadonlyArray<Uint8Array>
}

/**
 * Data bytes of in-memory (or read-ahead) records one pull writes at most:
 * 1 MiB, a file writer's write, so that a consumer writing each pull while
 * it pulls the next computes one write's CRC-32 while another is in flight.
 */
const MEMORY_BATCH = 1 << 20

/** Bytes of small records in files read ahead at once, at most. */
const READ_BATCH = 4 << 20

/** Bytes of a ranged record read per pull. */
const RANGE_CHUNK = 4 << 20

/** Records read whole by effects of their own (small records in files) read concurrently, at most. */
const READ_AHEAD = 16

/** Pulls one chunk of a stream (`Option.none()` once it ends). */
type Pull = Effect.Effect<Chunk.Chunk<Uint8Array>, Option.Option<TorchwireError>>

/**
 * The bytes of `records` written by `writer`, in order; empty chunks are
 * left out.
 *
 * @internal
 */
export const writeRecords = <R extends RecordData>(records: ReadonlyArray<R>, writer: RecordWriter<R>): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.fromPull(Effect.gen(function*() {
    const scope = yield* Effect.scope
    // Planned once per record, when first reached: a checkpoint may hold 100k records.
    const plans: Array<Plan | undefined> = []
    const plan = (i: number): Plan => (plans[i] ??= planOf(records[i]!.data))
    let next = 0
    /** The in-memory record being written, and how far. */
    let memory: { readonly bytes: Uint8Array; at: number } | undefined
    /** The streamed record being written: its data's pull, in its own scope. */
    let streamed: { readonly pull: Pull; readonly scope: Scope.CloseableScope } | undefined
    /** The ranged record being written, and how far. */
    let ranged: { readonly plan: Plan & { readonly _tag: "Ranged" }; at: number } | undefined
    let finished = false
    /** Data bytes this pull may still write from memory (reset by every pull). */
    let budget = 0
    /** Records read ahead (whole, by an effect or a batch reader), by index. */
    const prefetched = new Map<number, Uint8Array>()
    const emit = (out: Array<Uint8Array>, bytes: Uint8Array) => {
      if (bytes.length > 0) out.push(bytes)
    }

    /**
     * Writes in-memory (and read-ahead) records into `out` while the budget
     * lasts. Stops at a record to read ("read": its bytes are not here yet)
     * or to stream or read by ranges (begun, its plan returned).
     */
    const fill = (out: Array<Uint8Array>): Plan | "read" | undefined => {
      for (;;) {
        if (memory !== undefined) {
          const n = Math.min(budget, memory.bytes.length - memory.at)
          if (n > 0) emit(out, writer.data(memory.bytes.subarray(memory.at, memory.at + n)))
          memory.at += n
          budget -= n
          if (memory.at < memory.bytes.length) return undefined
          emit(out, writer.end())
          memory = undefined
        }
        if (budget === 0 || next === records.length) return undefined
        const current = plan(next)
        const isRead = current._tag === "Whole" || current._tag === "Batched"
        if (isRead && !prefetched.has(next)) return "read"
        const read = prefetched.get(next)
        prefetched.delete(next)
        emit(out, writer.begin(records[next++]!))
        if (current._tag === "Memory") memory = { bytes: current.bytes, at: 0 }
        else if (isRead) memory = { bytes: read!, at: 0 }
        else return current
      }
    }

    /**
     * Reads the records from `next` on that are read whole: a zip archive's
     * in one `readMany` per archive, up to READ_BATCH bytes of them; the
     * others up to READ_AHEAD at once.
     */
    const readAhead = (): Effect.Effect<void, Option.Option<TorchwireError>> => {
      const reads: Array<Effect.Effect<void, TorchwireError>> = []
      const batches = new Map<ZipArchive, Array<readonly [index: number, plan: Plan & { readonly _tag: "Batched" }]>>()
      let singles = 0
      let batchedBytes = 0
      for (let i = next; i < records.length && batchedBytes < READ_BATCH; i++) {
        const current = plan(i)
        if (current._tag === "Batched") {
          const batch = batches.get(current.archive) ?? []
          if (batch.length === 0) batches.set(current.archive, batch)
          batch.push([i, current])
          batchedBytes += current.size
        } else if (current._tag === "Whole" && singles < READ_AHEAD) {
          singles++
          reads.push(Effect.map(current.read, (bytes) => void prefetched.set(i, bytes)))
        } else {
          break
        }
      }
      for (const [archive, batch] of batches) {
        reads.push(Effect.map(archive.readMany(batch.map(([, p]) => p.entry)), (all) =>
          batch.forEach(([i, p], k) => prefetched.set(i, all[k]!.subarray(0, p.size)))))
      }
      return Effect.mapError(Effect.all(reads, { concurrency: READ_AHEAD, discard: true }), Option.some)
    }

    /** Opens a streamed record's data in a scope of its own. */
    const open = (data: Stream.Stream<Uint8Array, TorchwireError>) =>
      Effect.flatMap(Scope.fork(scope, ExecutionStrategy.sequential), (child) =>
        Effect.map(Scope.extend(Stream.toPull(data), child), (pull) => {
          streamed = { pull, scope: child }
        }))

    /** What follows `out`: in-memory records, records read, a streamed record's start, or the end. */
    const advance = (out: Array<Uint8Array>): Pull =>
      Effect.suspend(() => {
        const stop = fill(out)
        if (stop === "read") return Effect.zipRight(readAhead(), advance(out))
        if (stop?._tag === "Ranged") {
          ranged = { plan: stop, at: 0 }
          return out.length > 0 ? Effect.succeed(Chunk.unsafeFromArray(out)) : pullRanged(ranged, out)
        }
        if (stop?._tag === "Streamed") return Effect.as(open(stop.stream), Chunk.unsafeFromArray(out))
        if (out.length > 0) return Effect.succeed(Chunk.unsafeFromArray(out))
        if (finished) return Effect.fail(Option.none())
        finished = true
        const tail = writer.finish().filter((b) => b.length > 0)
        return tail.length > 0 ? Effect.succeed(Chunk.unsafeFromArray(tail)) : Effect.fail(Option.none())
      }).pipe(Effect.catchAllDefect(asFailure))

    /** The streamed record's next chunk; after its last, its end and what follows. */
    const pullStreamed = (current: { readonly pull: Pull; readonly scope: Scope.CloseableScope }): Pull =>
      current.pull.pipe(
        Effect.map((chunk) => Chunk.filter(Chunk.map(chunk, writer.data), (b) => b.length > 0)),
        Effect.catchAllDefect(asFailure),
        Effect.catchAll((e) =>
          Option.isSome(e)
            ? Effect.fail(e)
            : Effect.zipRight(
              Scope.close(current.scope, Exit.void),
              Effect.suspend(() => {
                streamed = undefined
                const out: Array<Uint8Array> = []
                emit(out, writer.end())
                return advance(out)
              })
            )
        )
      )

    /** The ranged record's next chunk, after `out`; after its last, its end and what follows. */
    const pullRanged = (current: { readonly plan: Plan & { readonly _tag: "Ranged" }; at: number }, out: Array<Uint8Array>): Pull =>
      current.plan.read(current.at, Math.min(RANGE_CHUNK, current.plan.size - current.at)).pipe(
        Effect.mapError(Option.some),
        Effect.flatMap((bytes) => {
          current.at += bytes.length
          emit(out, writer.data(bytes))
          if (current.at < current.plan.size) return Effect.succeed(Chunk.unsafeFromArray(out))
          ranged = undefined
          emit(out, writer.end())
          return advance(out)
        }),
        Effect.catchAllDefect(asFailure)
      )

    return Effect.suspend(() => {
      budget = MEMORY_BATCH
      return ranged !== undefined ? pullRanged(ranged, []) : streamed === undefined ? advance([]) : pullStreamed(streamed)
    })
  }))

/** A writer's throw (a TorchwireError) as the pull's typed failure; other defects stay defects. */
const asFailure = (e: unknown) => (isTorchwireError(e) ? Effect.fail(Option.some(e)) : Effect.die(e))
