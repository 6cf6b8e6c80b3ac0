/**
 * The one adapter from a synchronous push decoder (bytes in, values out,
 * typed errors thrown) to an Effect Stream: one `Errors.attempt` per input
 * chunk (a torchwire error thrown is a typed failure, anything else a
 * defect), fresh decoder state per run, and the decoder's end (which fails
 * on incomplete input) after the last chunk.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import { attempt, type TorchwireError } from "../Errors.js"

/** A push decoder: `push` decodes what a chunk completes, `end` what is left (or fails on an incomplete tail). @internal */
export interface PushDecoder<A> {
  readonly push: (chunk: Uint8Array) => ReadonlyArray<A>
  readonly end: () => ReadonlyArray<A> | void
}

/**
 * Runs a fresh decoder from `make` over a byte stream. What it throws
 * follows `Errors.attempt`: a torchwire error (of class `only`, when given)
 * fails the stream, anything else is a defect.
 *
 * @internal
 */
export const decodeWith: {
  <A, E, R>(self: Stream.Stream<Uint8Array, E, R>, make: () => PushDecoder<A>): Stream.Stream<A, E | TorchwireError, R>
  <A, E, R, F extends TorchwireError>(self: Stream.Stream<Uint8Array, E, R>, make: () => PushDecoder<A>, only: new(...args: never) => F): Stream.Stream<A, E | F, R>
} = <A, E, R>(
  self: Stream.Stream<Uint8Array, E, R>,
  make: () => PushDecoder<A>,
  only?: new(...args: never) => TorchwireError
): Stream.Stream<A, E | TorchwireError, R> =>
  Stream.suspend(() => {
    const decoder = make()
    const run = <B>(f: () => B) => (only === undefined ? attempt(f) : attempt(f, only))
    return self.pipe(
      Stream.mapChunksEffect((chunk) => run(() => Chunk.unsafeFromArray(Chunk.toReadonlyArray(chunk).flatMap(decoder.push)))),
      Stream.concat(Stream.flatMap(Stream.fromEffect(run(() => decoder.end() ?? [])), Stream.fromIterable))
    )
  })

/**
 * Whether a `dual` combinator was called data-first (its first argument a
 * Stream), for combinators whose options are all optional.
 *
 * @internal
 */
export const isDataFirst = (args: IArguments): boolean => Predicate.hasProperty(args[0], Stream.StreamTypeId)
