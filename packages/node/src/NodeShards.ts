/**
 * Sharded checkpoints in files (Hugging Face's layout, `Shards`): `open`
 * reads an index and the shards beside it as one lazy checkpoint; `save`
 * writes a value as shards and an index, split and named as
 * `huggingface_hub`'s `save_torch_state_dict` does (transformers'
 * `save_pretrained`): `model.safetensors.index.json` with
 * `model-00001-of-00003.safetensors` shards, or
 * `pytorch_model.bin.index.json` with `torch.save` shards.
 *
 * @since 0.2.0
 */
import { bufferRing, StreamBufferRing } from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import { CheckpointError, SourceError, type TorchwireError } from "@torchwire/core/Errors"
import * as Safetensors from "@torchwire/core/Safetensors"
import * as Shards from "@torchwire/core/Shards"
import type { PyValue } from "@torchwire/core/Value"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { basename, dirname, join } from "node:path"
import { makeFolder, removeFiles } from "./internal/folders.js"
import * as NodeSave from "./NodeSave.js"
import * as NodeSource from "./NodeSource.js"

/**
 * Whether a path names an index file (`….index.json`).
 *
 * @since 0.2.0
 * @category guards
 */
export const isIndexPath = (path: string): boolean => /\.index\.json$/i.test(path)

/**
 * Opens an index file and every shard it names beside it (closed with the
 * scope), as one lazy checkpoint (`Shards.open`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const open = (indexPath: string, options: Checkpoint.OpenOptions = {}): Effect.Effect<Shards.Sharded, TorchwireError, Scope.Scope> =>
  Effect.gen(function*() {
    const source = yield* NodeSource.open(indexPath)
    const index = yield* Shards.parseIndex(yield* source.read(0, source.size), basename(indexPath))
    return yield* Shards.open(index, (file) => NodeSource.open(join(dirname(indexPath), file)), options)
  })

/**
 * Options of `save`.
 *
 * @since 0.2.0
 * @category options
 */
export interface SaveOptions {
  /** The most bytes of storages a shard holds (default 5 GB, transformers' `max_shard_size="5GB"`). */
  readonly maxShardSize?: number
  /** Leave out values that are not tensors instead of failing (safetensors shards). */
  readonly dropNonTensors?: boolean
}

/**
 * What `save` wrote: the files, in order (the index last, when there is
 * one), their total size, and the names a safetensors index records as
 * aliases of a tensor written under another name.
 *
 * @since 0.2.0
 * @category models
 */
export interface Saved {
  readonly files: ReadonlyArray<string>
  readonly bytes: number
  readonly aliases: ReadonlyMap<string, string>
}

/**
 * Writes a value's tensors as shards beside `indexPath`, which names the
 * format and the stem: `DIR/model.safetensors.index.json` (safetensors
 * shards; tensors over one storage written once, the others recorded in the
 * index's metadata) or `DIR/pytorch_model.bin.index.json` (`torch.save`
 * shards of dicts). One shard is written as `DIR/model.safetensors` (or
 * `.bin`) with no index, as `huggingface_hub` does. The folder is made if
 * need be; each file is written
 * atomically, and a failure removes the shards already written.
 *
 * @since 0.2.0
 * @category constructors
 */
export const save = (value: PyValue, indexPath: string, options: SaveOptions = {}): Effect.Effect<Saved, TorchwireError | CheckpointError | SourceError> => {
  // The shards written so far: a failure (or an interruption) removes them, so a set is written whole or not at all.
  const written: Array<string> = []
  return Effect.gen(function*() {
    const m = /^(.*)\.(safetensors|bin|pt|pth)\.index\.json$/i.exec(basename(indexPath))
    if (m === null) {
      return yield* new CheckpointError({
        reason: "UnsupportedFormat",
        offset: 0,
        record: indexPath,
        detail: "an index path names the shards' format: STEM.safetensors.index.json or STEM.bin.index.json"
      })
    }
    const [, stem, format] = m as unknown as [string, string, string]
    const safetensors = format.toLowerCase() === "safetensors"
    const extension = `.${format}`
    const { tensors, aliases } = safetensors
      ? yield* Safetensors.tensorsOf(value, options)
      : { tensors: Checkpoint.tensors(value), aliases: new Map<string, string>() }
    const { shards, totalSize } = Shards.split(tensors, options.maxShardSize ?? 5e9)
    const names = Shards.shardNames(stem, extension, Math.max(shards.length, 1))
    const dir = dirname(indexPath)
    // Its folder is made, as transformers' save_pretrained makes its save_directory.
    yield* makeFolder(dir)
    const files = written
    let bytes = 0
    // One shard takes the aliases in its own metadata, as huggingface_hub writes them.
    const shardMetadata = new Map([["format", "pt"], ...(shards.length > 1 ? [] : aliases)])
    for (const [i, shard] of (shards.length === 0 ? [[]] : shards).entries()) {
      const path = join(dir, names[i]!)
      bytes += safetensors
        ? yield* Effect.flatMap(Safetensors.planOf(shard, shardMetadata), (plan) =>
          NodeSave.writeAtomically(Safetensors.toStream(plan, { readAhead: 2 }), path).pipe(Effect.locally(StreamBufferRing, bufferRing(8))))
        : yield* NodeSave.save(new Map<PyValue, PyValue>(shard), path)
      files.push(path)
    }
    if (shards.length > 1) {
      const weightMap = new Map(shards.flatMap((shard, i) => shard.map(([name]) => [name, names[i]!] as const)))
      const text = new TextEncoder().encode(Shards.indexJson({ total_size: totalSize, ...Object.fromEntries(aliases) }, weightMap))
      bytes += yield* NodeSave.writeAtomically(Stream.make(text), indexPath, { fsync: true })
      files.push(indexPath)
    }
    return { files, bytes, aliases }
  }).pipe(Effect.onError(() => removeFiles(written)))
}
