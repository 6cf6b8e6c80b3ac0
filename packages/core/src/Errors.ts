/**
 * Typed failures. Every error names the record (zip entry, tar member or
 * pickle) it was found in and the byte offset, so a malformed file can be
 * located with a hex editor.
 *
 * Pure codecs throw these; Effect boundaries turn them into typed failures.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

const describe = (
  tag: string,
  reason: string,
  detail: string | undefined,
  record: string | undefined,
  offset: number | undefined
): string => {
  const where = [
    record === undefined ? undefined : `record ${JSON.stringify(record)}`,
    offset === undefined ? undefined : `byte ${offset}`
  ].filter((s) => s !== undefined).join(", ")
  return `${tag}(${reason})${detail ? `: ${detail}` : ""}${where ? ` [${where}]` : ""}`
}

/**
 * Where a failure was found: the byte offset, the record (zip entry, tar
 * member or pickle) and a human-readable detail.
 *
 * @since 0.1.0
 * @category models
 */
export interface Location {
  readonly offset: number
  readonly record?: string
  readonly detail?: string
}

/**
 * Reading or writing bytes failed: a source is shorter than a read
 * requires, the underlying I/O failed, a peer went silent (`TimedOut`), a
 * remote file changed while it was read (`Changed`: no read mixes bytes of
 * two versions), or a server cannot serve parts of a file (`RangeUnsupported`).
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceError extends Data.TaggedError("SourceError")<{
  readonly reason: "Truncated" | "ReadFailed" | "WriteFailed" | "OpenFailed" | "Closed" | "TimedOut" | "Changed" | "RangeUnsupported"
  readonly source: string
  readonly offset: number
  readonly detail?: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return describe("SourceError", this.reason, this.detail, this.source, this.offset)
  }
}

/**
 * The zip container is malformed or uses a feature torch archives never use.
 *
 * @since 0.1.0
 * @category errors
 */
export class ZipError extends Data.TaggedError("ZipError")<{
  readonly reason:
    | "NotAZip"
    | "BadEndRecord"
    | "BadCentralDirectory"
    | "BadLocalHeader"
    | "UnsupportedCompression"
    | "Encrypted"
    | "MissingRecord"
    | "InflateFailed"
    | "CrcMismatch"
    | "LimitExceeded"
} & Location> {
  override get message(): string {
    return describe("ZipError", this.reason, this.detail, this.record, this.offset)
  }
}

/**
 * A pickle is malformed, uses an unsupported feature, or references a global
 * that the current policy refuses.
 *
 * @since 0.1.0
 * @category errors
 */
export class PickleError extends Data.TaggedError("PickleError")<{
  readonly reason:
    | "Truncated"
    | "UnknownOpcode"
    | "BadArgument"
    | "StackUnderflow"
    | "MarkMissing"
    | "MemoMissing"
    | "BadValue"
    | "Extension"
    | "ForbiddenGlobal"
    | "NoStop"
    | "LimitExceeded"
} & Location> {
  override get message(): string {
    return describe("PickleError", this.reason, this.detail, this.record, this.offset)
  }
}

/**
 * The file is not a checkpoint torchwire can read, or its records disagree
 * with each other (a storage shorter than its tensor, a missing record, an
 * invalid persistent id, ...), or it reads two ways (`Ambiguous`: names that
 * repeat once case is folded, which readers resolve differently), or it
 * holds what the format it is written to cannot carry exactly
 * (`Unconvertible`: the error names what).
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointError extends Data.TaggedError("CheckpointError")<{
  readonly reason:
    | "UnknownFormat"
    | "UnsupportedFormat"
    | "MissingRecord"
    | "BadRecord"
    | "BadPersistentId"
    | "UnknownDtype"
    | "StorageTooShort"
    | "BadTensor"
    | "Truncated"
    | "TrailingBytes"
    | "LimitExceeded"
    | "Ambiguous"
    | "Unconvertible"
} & Location> {
  override get message(): string {
    return describe("CheckpointError", this.reason, this.detail, this.record, this.offset)
  }
}

/**
 * Any failure torchwire reports.
 *
 * @since 0.1.0
 * @category errors
 */
export type TorchwireError = SourceError | ZipError | PickleError | CheckpointError

/**
 * True for the errors torchwire defines (used to tell them from defects when
 * pure code throws).
 *
 * @since 0.1.0
 * @category guards
 */
export const isTorchwireError = (u: unknown): u is TorchwireError =>
  u instanceof SourceError || u instanceof ZipError || u instanceof PickleError || u instanceof CheckpointError

/**
 * Runs a synchronous codec as an effect: the torchwire error it throws (of
 * class `only`, when given) becomes a typed failure, and anything else it
 * throws, a bug, a defect. The one boundary between torchwire's throwing
 * codecs and Effect.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attempt: {
  <A>(f: () => A): Effect.Effect<A, TorchwireError>
  <A, E extends TorchwireError>(f: () => A, only: new(...args: never) => E): Effect.Effect<A, E>
} = <A>(f: () => A, only?: new(...args: never) => TorchwireError): Effect.Effect<A, TorchwireError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      const typed = only === undefined ? (isTorchwireError(e) ? e : undefined) : e instanceof only ? e : undefined
      return typed === undefined ? Effect.die(e) : Effect.fail(typed)
    }
  })
