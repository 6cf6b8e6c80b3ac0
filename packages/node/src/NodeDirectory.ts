/**
 * Folders of the file system as `Directory`s (a distributed checkpoint's
 * folder): files are opened when first asked for, once each, and closed
 * with the scope the folder was opened in.
 *
 * @since 0.3.0
 */
import type { ByteSource } from "@torchwire/core/ByteSource"
import { type Directory, isPlainName, notPlainName } from "@torchwire/core/Directory"
import { SourceError } from "@torchwire/core/Errors"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { readdir, stat } from "node:fs/promises"
import { join } from "node:path"
import * as NodeSource from "./NodeSource.js"

/**
 * Whether a path is a folder (false when it is anything else or nothing).
 *
 * @since 0.3.0
 * @category guards
 */
export const isDirectoryPath = (path: string): Promise<boolean> => stat(path).then((s) => s.isDirectory(), () => false)

/**
 * Opens a folder: it must exist and be one. Its files open lazily, into
 * the enclosing scope.
 *
 * @since 0.3.0
 * @category constructors
 */
export const open = (path: string): Effect.Effect<Directory, SourceError, Scope.Scope> =>
  Effect.gen(function*() {
    const info = yield* Effect.tryPromise({
      try: () => stat(path),
      catch: (cause) => new SourceError({ reason: "OpenFailed", source: path, offset: 0, detail: String(cause), cause })
    })
    if (!info.isDirectory()) return yield* new SourceError({ reason: "OpenFailed", source: path, offset: 0, detail: "not a folder" })
    const scope = yield* Effect.scope
    const opened = new Map<string, ByteSource>()
    return {
      name: path,
      list: Effect.tryPromise({
        try: async () => (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort(),
        catch: (cause) => new SourceError({ reason: "ReadFailed", source: path, offset: 0, detail: String(cause), cause })
      }),
      file: (name) => {
        if (!isPlainName(name)) return Effect.fail(notPlainName(path, name))
        const have = opened.get(name)
        if (have !== undefined) return Effect.succeed(have)
        return Effect.tap(Scope.extend(NodeSource.open(join(path, name)), scope), (source) => void opened.set(name, source))
      }
    }
  })
