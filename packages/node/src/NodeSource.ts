/**
 * Byte sources over files, for Node.js.
 *
 * A file is opened in a Scope and closed when the Scope closes, on success,
 * failure or interruption alike. Reads are positional (`pread`), so
 * concurrent reads of one handle never race on a shared file position;
 * short reads are looped; offsets beyond 4 GiB are fine.
 *
 * @since 0.1.0
 */
import type { ByteSource } from "@torchwire/core/ByteSource"
import { checkRange } from "@torchwire/core/ByteSource"
import { SourceError } from "@torchwire/core/Errors"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { open as openFile } from "node:fs/promises"

/**
 * Opens a file as a `ByteSource`, closed with the enclosing Scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (path: string): Effect.Effect<ByteSource, SourceError, Scope.Scope> =>
  Effect.gen(function*() {
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => openFile(path, "r"),
        catch: (cause) => new SourceError({ reason: "OpenFailed", source: path, offset: 0, detail: String(cause), cause })
      }),
      (h) => Effect.promise(() => h.close().catch(() => undefined))
    )
    const stat = yield* Effect.tryPromise({
      try: () => handle.stat(),
      catch: (cause) => new SourceError({ reason: "OpenFailed", source: path, offset: 0, detail: String(cause), cause })
    })
    let closed = false
    yield* Effect.addFinalizer(() => Effect.sync(() => void (closed = true)))
    const readInto = (offset: number, target: Uint8Array): Effect.Effect<void, SourceError> =>
      Effect.flatMap(checkRange(source, offset, target.length), () =>
        closed
          ? Effect.fail(new SourceError({ reason: "Closed", source: path, offset, detail: "file was closed (its Scope ended)" }))
          : Effect.tryPromise({
            try: async () => {
              let done = 0
              while (done < target.length) {
                const { bytesRead } = await handle.read(target, done, target.length - done, offset + done)
                if (bytesRead === 0) throw new SourceError({ reason: "Truncated", source: path, offset: offset + done, detail: `file ended ${target.length - done} bytes early` })
                done += bytesRead
              }
            },
            catch: (cause) =>
              cause instanceof SourceError
                ? cause
                : new SourceError({ reason: "ReadFailed", source: path, offset, detail: String(cause), cause })
          }))
    const source: ByteSource = {
      name: path,
      size: stat.size,
      // The range is checked before the buffer is allocated.
      read: (offset, length) =>
        Effect.flatMap(checkRange(source, offset, length), () => {
          const out = new Uint8Array(length)
          return Effect.as(readInto(offset, out), out)
        }),
      readInto
    }
    return source
  })
