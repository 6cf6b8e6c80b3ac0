/**
 * The one "read a window, grow it and try again" loop: pickles of unknown
 * length (legacy and tar files hold several back to back, a stream's header
 * leads its records) are parsed from a window of the source that grows 4×
 * each time the parse runs past it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ByteSource } from "../ByteSource.js"
import type { SourceError } from "../Errors.js"

/** The first window: most headers and legacy pickles fit in 64 KiB. @internal */
export const FIRST_WINDOW = 64 * 1024

/**
 * Reads `window` bytes of `source` at `at` and parses them with `parse`,
 * which answers `None` when the bytes end too soon; then reads 4× as many,
 * up to `limit` bytes (and the end of the source). At the last window
 * (`isLast`) `parse` must decide: a value or its own failure.
 *
 * @internal
 */
export const readGrowing = <A, E, R>(
  source: ByteSource,
  at: number,
  limit: number,
  parse: (bytes: Uint8Array, isLast: boolean) => Effect.Effect<Option.Option<A>, E, R>
): Effect.Effect<A, E | SourceError, R> => {
  const available = Math.max(0, Math.min(source.size - at, limit))
  const attempt = (window: number): Effect.Effect<A, E | SourceError, R> =>
    Effect.flatMap(source.read(at, window), (bytes) =>
      Effect.flatMap(parse(bytes, window >= available), (parsed) =>
        Option.isSome(parsed)
          ? Effect.succeed(parsed.value)
          : window >= available
          ? Effect.dieMessage("readGrowing: parse asked for more bytes at the last window")
          : attempt(Math.min(window * 4, available))))
  return attempt(Math.min(FIRST_WINDOW, available))
}
