/**
 * What the savers of many files share (shards, distributed checkpoints):
 * making their folder, and removing what they wrote when they fail.
 *
 * @internal
 */
import { SourceError } from "@torchwire/core/Errors"
import * as Effect from "effect/Effect"
import { mkdir, rm } from "node:fs/promises"

/** Makes a folder and its parents, as need be; `SourceError(WriteFailed)` naming it otherwise. @internal */
export const makeFolder = (path: string): Effect.Effect<void, SourceError> =>
  Effect.tryPromise({ try: () => mkdir(path, { recursive: true }), catch: (e) => new SourceError({ reason: "WriteFailed", source: path, offset: 0, detail: String(e) }) })

/** Removes files, quietly (cleanup after a failure: a set of files is written whole or not at all). @internal */
export const removeFiles = (paths: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.promise(() => Promise.all(paths.map((p) => rm(p, { force: true })))).pipe(Effect.asVoid)
