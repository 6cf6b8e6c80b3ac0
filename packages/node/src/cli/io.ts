/**
 * What the CLI's commands write to, and how they end: a service for their
 * output, messages and progress (so tests run them in-process), and the
 * failures that choose an exit status.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"

/**
 * Where a command writes: `out` its result, `err` its messages, `progress`
 * long work's progress (a TTY's stderr; undefined elsewhere, so pipes and
 * logs get none).
 *
 * @internal
 */
export class CliIo extends Context.Tag("@torchwire/node/cli/CliIo")<CliIo, {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  readonly progress: ((text: string) => void) | undefined
  /** Whether help may be colored (ANSI escapes): only for a TTY. */
  readonly color: boolean
}>() {}

/**
 * Ends a command with a non-zero exit status whose reason is already
 * printed (scan's verdicts).
 *
 * @internal
 */
export class CliExit extends Data.TaggedError("CliExit")<{ readonly code: number }> {}

/**
 * A command line that parsed but does not make sense (an output extension
 * that names no format, options that exclude each other): exit status 2,
 * with the command's usage.
 *
 * @internal
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** Exit statuses (`scan` says 2 for files it could not read, as picklescan does). @internal */
export const ExitCode = { ok: 0, failure: 1, usage: 2, unreadable: 2 } as const
