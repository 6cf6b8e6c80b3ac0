/**
 * Reading pickles out of a byte source: a whole record, or a pickle of
 * unknown length at an offset (legacy and tar files hold several pickles
 * back to back), read through a window that grows until the pickle fits.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { ByteSource } from "../../ByteSource.js"
import { isTorchwireError, PickleError, type TorchwireError } from "../../Errors.js"
import { unpickle, type UnpickleOptions, type UnpickleResult } from "../pickle/unpickler.js"

/** Runs the unpickler, turning any non-torchwire exception into a typed failure. @internal */
export const runUnpickle = (bytes: Uint8Array, start: number, options: UnpickleOptions): Effect.Effect<UnpickleResult, TorchwireError> =>
  Effect.try({
    try: () => unpickle(bytes, start, options),
    catch: (e) =>
      isTorchwireError(e)
        ? e
        : new PickleError({
          reason: "BadValue",
          offset: (options.base ?? 0) + start,
          detail: `unexpected failure: ${e instanceof Error ? e.message : String(e)}`,
          ...(options.record === undefined ? {} : { record: options.record })
        })
  })

/**
 * Unpickles the pickle that starts at `at` in `source`, reading a window
 * that grows 4× each time the pickle runs past it, up to `limit` bytes.
 * The result's `end` is an offset in the source.
 *
 * @internal
 */
export const unpickleAt = (
  source: ByteSource,
  at: number,
  options: UnpickleOptions,
  limit: number
): Effect.Effect<UnpickleResult, TorchwireError> => {
  const available = Math.min(source.size - at, limit)
  const attempt = (window: number): Effect.Effect<UnpickleResult, TorchwireError> =>
    Effect.flatMap(source.read(at, window), (bytes) =>
      runUnpickle(bytes, 0, { ...options, base: at }).pipe(
        Effect.map((r) => ({ ...r, end: at + r.end })),
        Effect.catchIf(
          (e): e is PickleError => e._tag === "PickleError" && e.reason === "Truncated" && window < available,
          () => attempt(Math.min(window * 4, available))
        )
      ))
  if (available <= 0) {
    return Effect.fail(new PickleError({ reason: "Truncated", offset: at, detail: "expected a pickle, found the end of the file", ...(options.record === undefined ? {} : { record: options.record }) }))
  }
  return attempt(Math.min(64 * 1024, available))
}
