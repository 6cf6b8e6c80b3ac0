/**
 * Reading pickles out of a byte source: a whole record, or a pickle of
 * unknown length at an offset (legacy and tar files hold several pickles
 * back to back), read through a window that grows until the pickle fits.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ByteSource } from "../../ByteSource.js"
import { attempt, PickleError, type TorchwireError } from "../../Errors.js"
import type { UnpickleOptions, UnpickleResult } from "../pickle/hooks.js"
import { unpickle } from "../pickle/unpickler.js"
import { readGrowing } from "../readWindow.js"

/** Runs the unpickler: a torchwire error it throws is a typed failure, anything else a defect (`Errors.attempt`). @internal */
export const runUnpickle = (bytes: Uint8Array, start: number, options: UnpickleOptions): Effect.Effect<UnpickleResult, TorchwireError> =>
  attempt(() => unpickle(bytes, start, options))

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
): Effect.Effect<UnpickleResult, TorchwireError> =>
  at >= source.size || limit <= 0
    ? Effect.fail(new PickleError({ reason: "Truncated", offset: at, detail: "expected a pickle, found the end of the file", ...(options.record === undefined ? {} : { record: options.record }) }))
    : readGrowing(source, at, limit, (bytes, isLast) =>
      runUnpickle(bytes, 0, { ...options, base: at }).pipe(
        Effect.map((r) => Option.some({ ...r, end: at + r.end })),
        Effect.catchIf((e) => !isLast && e._tag === "PickleError" && e.reason === "Truncated", () => Effect.succeed(Option.none()))
      ))
