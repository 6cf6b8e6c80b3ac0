/**
 * SIGINT and SIGTERM in the CLI. A signal ends the process at once, as the
 * system's default does, even in the middle of a long synchronous step
 * (a JavaScript handler runs only once the event loop is free, so a command
 * that caught signals all the time could not be stopped while it decodes).
 * Only while a command holds something to clean up (a temporary file) does
 * it catch them (`holdingSignals`): the signal then interrupts the command,
 * whose scopes remove the file, and the process exits 128 + the signal's
 * number. A second signal, or cleaning up for longer than 5 s, ends it at
 * once.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** How long an interrupted command may take to close its scopes (remove temporary files) before the process ends regardless. */
const GRACE_MILLIS = 5000

const SIGNALS = [["SIGINT", 2], ["SIGTERM", 15]] as const

/** The number of the signal that interrupted a command, if one did. */
let caught: number | undefined

/** The signal that interrupted a command (its number), if one did: the process then exits 128 + it. @internal */
export const caughtSignal = (): number | undefined => caught

/** The process's exit status after a caught signal, or at a second one. */
const statusOf = (signal: number): number => 128 + signal

/**
 * Runs `effect` with SIGINT and SIGTERM caught: either interrupts the fiber
 * running it (its finalizers run) and is remembered by `caughtSignal`. Once
 * the effect ends, the handlers are gone and a signal ends the process as
 * the system's default does.
 *
 * @internal
 */
export const holdingSignals = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        const handlers = SIGNALS.map(([name, number]) => {
          const handler = () => {
            if (caught !== undefined) process.exit(statusOf(caught))
            caught = number
            setTimeout(() => process.exit(statusOf(number)), GRACE_MILLIS).unref()
            fiber.unsafeInterruptAsFork(fiber.id())
          }
          process.on(name, handler)
          return [name, handler] as const
        })
        return () => handlers.forEach(([name, handler]) => process.removeListener(name, handler))
      }),
      () => effect,
      (release) => Effect.sync(release)
    )
  )
