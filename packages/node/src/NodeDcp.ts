/**
 * Distributed checkpoints in the file system (`Dcp`): `open` reads a
 * folder as one lazy checkpoint, `save` writes a state as one process's
 * `dcp.save` does (`__0_0.distcp` and `.metadata`).
 *
 * @since 0.3.0
 */
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Dcp from "@torchwire/core/Dcp"
import type { TorchwireError } from "@torchwire/core/Errors"
import type { PyValue } from "@torchwire/core/Value"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { join, resolve } from "node:path"
import { makeFolder, removeFiles } from "./internal/folders.js"
import * as NodeDirectory from "./NodeDirectory.js"
import * as NodeSave from "./NodeSave.js"

/**
 * Opens a distributed checkpoint's folder (`Checkpoint.open` on it): its
 * files stay open until the scope closes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const open = (path: string, options: Checkpoint.OpenOptions = {}): Effect.Effect<Checkpoint.Checkpoint, TorchwireError, Scope.Scope> =>
  Effect.flatMap(NodeDirectory.open(path), (dir) => Checkpoint.open(dir, options))

/**
 * What `save` wrote: the files (data, then `.metadata`) and their bytes.
 *
 * @since 0.3.0
 * @category models
 */
export interface Saved {
  readonly files: ReadonlyArray<string>
  readonly bytes: number
}

/**
 * Writes a state into folder `path` (made if need be) as `dcp.save` in one
 * process writes it: `__0_0.distcp` then `.metadata`, each atomically and
 * fsynced; `StorageMeta.checkpoint_id` is the folder's absolute path, as
 * torch records it. A failure removes what it wrote.
 *
 * @since 0.3.0
 * @category constructors
 */
export const save = (state: PyValue, path: string, options: Omit<Dcp.SaveOptions, "checkpointId"> = {}): Effect.Effect<Saved, TorchwireError> => {
  const written: Array<string> = []
  return Effect.gen(function*() {
    const files = yield* Dcp.save(state, { ...options, checkpointId: resolve(path) })
    yield* makeFolder(path)
    const dataPath = join(path, files.dataFile)
    let bytes = yield* NodeSave.writeAtomically(files.data, dataPath, { fsync: true })
    written.push(dataPath)
    const metadataPath = join(path, Dcp.METADATA_FILE)
    bytes += yield* NodeSave.writeAtomically(Stream.fromEffect(files.metadata), metadataPath, { fsync: true })
    written.push(metadataPath)
    return { files: written, bytes }
  }).pipe(Effect.onError(() => removeFiles(written)))
}
