/**
 * A folder of files, as formats spread over several files need one (a
 * distributed checkpoint's `.metadata` and `__{rank}_{n}.distcp` files):
 * the names it holds and a `ByteSource` for each. Core stays
 * platform-free: `NodeDirectory` implements it with the file system,
 * `fromEntries` with bytes in memory (tests, browsers).
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as ByteSource from "./ByteSource.js"
import { SourceError } from "./Errors.js"

/**
 * A folder: its name (for messages), the names of the files directly in it
 * and a source for one of them. A name with a path separator, `.` or `..`
 * is never opened: a folder's formats name files inside it only.
 *
 * @since 0.3.0
 * @category models
 */
export interface Directory {
  readonly name: string
  /** The names of the regular files directly in the folder, sorted. */
  readonly list: Effect.Effect<ReadonlyArray<string>, SourceError>
  /** One file, opened once (later calls share it) and closed with the scope the directory was opened in. */
  readonly file: (name: string) => Effect.Effect<ByteSource.ByteSource, SourceError>
}

/**
 * Whether `name` can name a file directly inside a folder: not empty, no
 * path separator or NUL, not `.` or `..`.
 *
 * @since 0.3.0
 * @category guards
 */
export const isPlainName = (name: string): boolean => name.length > 0 && name !== "." && name !== ".." && !/[\\/\0]/.test(name)

/**
 * The `SourceError(OpenFailed)` for a name that is not a file directly in
 * the folder.
 *
 * @since 0.3.0
 * @category errors
 */
export const notPlainName = (directory: string, name: string): SourceError =>
  new SourceError({ reason: "OpenFailed", source: directory, offset: 0, detail: `${JSON.stringify(name)} is not a file name inside the folder` })

/**
 * A folder of files held in memory.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromEntries = (entries: Iterable<readonly [string, Uint8Array]>, name = "memory"): Directory => {
  const files = new Map(entries)
  return {
    name,
    list: Effect.sync(() => [...files.keys()].sort()),
    file: (file) => {
      const bytes = files.get(file)
      if (!isPlainName(file)) return Effect.fail(notPlainName(name, file))
      return bytes === undefined
        ? Effect.fail(new SourceError({ reason: "OpenFailed", source: `${name}/${file}`, offset: 0, detail: "no such file" }))
        : Effect.succeed(ByteSource.fromUint8Array(bytes, `${name}/${file}`))
    }
  }
}
