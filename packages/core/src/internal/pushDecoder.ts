/**
 * The one adapter from a synchronous push decoder (bytes in, values out,
 * typed errors thrown) to an Effect Stream: one `Effect.try` per input
 * chunk, fresh decoder state per run, and the decoder's end (which fails on
 * incomplete input) after the last chunk.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/** A push decoder: `push` decodes what a chunk completes, `end` what is left (or fails on an incomplete tail). @internal */
export interface PushDecoder<A> {
  readonly push: (chunk: Uint8Array) => ReadonlyArray<A>
  readonly end: () => ReadonlyArray<A> | void
}

/**
 * Runs a fresh decoder from `make` over a byte stream; what it throws
 * becomes the failure `onThrow` makes of it.
 *
 * @internal
 */
export const decodeWith = <A, E, R, F>(
  self: Stream.Stream<Uint8Array, E, R>,
  make: () => PushDecoder<A>,
  onThrow: (thrown: unknown) => F
): Stream.Stream<A, E | F, R> =>
  Stream.suspend(() => {
    const decoder = make()
    return self.pipe(
      Stream.mapChunksEffect((chunk) =>
        Effect.try({ try: () => Chunk.unsafeFromArray(Chunk.toReadonlyArray(chunk).flatMap(decoder.push)), catch: onThrow })
      ),
      Stream.concat(Stream.flatMap(Stream.fromEffect(Effect.try({ try: () => decoder.end() ?? [], catch: onThrow })), Stream.fromIterable))
    )
  })
