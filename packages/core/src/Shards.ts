/**
 * Sharded checkpoints as Hugging Face writes them: shards
 * (`model-00001-of-00003.safetensors`, `pytorch_model-00001-of-00003.bin`)
 * beside an index (`model.safetensors.index.json`,
 * `pytorch_model.bin.index.json`) whose `weight_map` names each tensor's
 * shard. `open` reads one as a single lazy checkpoint; `split` divides
 * tensors into shards by `huggingface_hub`'s rule (the one transformers'
 * `save_pretrained` uses) and `indexJson` writes the index it writes.
 * Platform-independent: the caller opens the shards (`NodeShards` opens
 * them beside the index file).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { ByteSource } from "./ByteSource.js"
import * as Checkpoint from "./Checkpoint.js"
import { CheckpointError, type TorchwireError } from "./Errors.js"
import type { Tensor } from "./Torch.js"
import type { PyValue } from "./Value.js"

/** An index file's contents: `metadata` (`total_size`, and whatever else the writer put there) and `weight_map`. */
const IndexSchema = Schema.Struct({
  metadata: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  weight_map: Schema.Record({ key: Schema.String, value: Schema.String })
})

/**
 * A parsed index: its metadata and each tensor's shard, in the file's order.
 *
 * @since 0.2.0
 * @category models
 */
export interface Index {
  readonly metadata: Readonly<Record<string, unknown>>
  readonly weightMap: ReadonlyMap<string, string>
}

/**
 * Parses an index file (JSON, validated with Schema). A shard name with a
 * path separator or `..` is refused: shards lie beside their index.
 *
 * @since 0.2.0
 * @category constructors
 */
export const parseIndex = (bytes: Uint8Array, record = "index"): Effect.Effect<Index, CheckpointError> =>
  Effect.suspend(() => {
    let json: unknown
    try {
      json = JSON.parse(new TextDecoder().decode(bytes))
    } catch (e) {
      return Effect.fail(new CheckpointError({ reason: "BadRecord", offset: 0, record, detail: `the index is not JSON: ${e instanceof Error ? e.message : String(e)}` }))
    }
    const decoded = Schema.decodeUnknownEither(IndexSchema)(json)
    if (Either.isLeft(decoded)) return Effect.fail(new CheckpointError({ reason: "BadRecord", offset: 0, record, detail: decoded.left.message }))
    const weightMap = new Map(Object.entries(decoded.right.weight_map))
    const outside = [...new Set(weightMap.values())].find((f) => /[\\/]/.test(f) || f === ".." || f === ".")
    if (outside !== undefined) {
      return Effect.fail(new CheckpointError({ reason: "BadRecord", offset: 0, record, detail: `shard ${JSON.stringify(outside)} is not a file beside the index` }))
    }
    return Effect.succeed({ metadata: decoded.right.metadata ?? {}, weightMap })
  })

/**
 * A sharded checkpoint, open: the tensors of every shard by name (in the
 * index's order), the index, and each shard's checkpoint.
 *
 * @since 0.2.0
 * @category models
 */
export interface Sharded {
  readonly value: Map<PyValue, PyValue>
  readonly index: Index
  readonly shards: ReadonlyMap<string, Checkpoint.Checkpoint>
}

/**
 * Opens every shard an index names (`openShard` gives each file's source;
 * `.bin` and `.pt` shards open as `Checkpoint.open` does, weights-only by
 * default) and gathers their tensors. A tensor the index names that its
 * shard lacks, or a shard tensor the index does not name, is a
 * `CheckpointError(MissingRecord)` naming the tensor and the shard.
 *
 * @since 0.2.0
 * @category constructors
 */
export const open = <E, R>(
  index: Index,
  openShard: (file: string) => Effect.Effect<ByteSource, E, R>,
  options: Checkpoint.OpenOptions = {}
): Effect.Effect<Sharded, TorchwireError | E, R> =>
  Effect.gen(function*() {
    const shards = new Map<string, Checkpoint.Checkpoint>()
    for (const file of new Set(index.weightMap.values())) shards.set(file, yield* Checkpoint.open(yield* openShard(file), options))
    const tensorsOf = new Map([...shards].map(([file, c]) => [file, new Map(Checkpoint.tensors(c.value))] as const))
    const value = new Map<PyValue, PyValue>()
    for (const [name, file] of index.weightMap) {
      const t = tensorsOf.get(file)!.get(name)
      if (t === undefined) return yield* new CheckpointError({ reason: "MissingRecord", offset: 0, record: file, detail: `the index puts tensor ${JSON.stringify(name)} in ${file}, which does not hold it` })
      value.set(name, t)
    }
    for (const [file, tensors] of tensorsOf) {
      const extra = [...tensors.keys()].find((name) => index.weightMap.get(name) !== file)
      if (extra !== undefined) return yield* new CheckpointError({ reason: "MissingRecord", offset: 0, record: file, detail: `${file} holds tensor ${JSON.stringify(extra)}, which the index does not put there` })
    }
    return { value, index, shards }
  })

/**
 * Parses a size as `huggingface_hub` does: bytes, or a number with `KB`,
 * `MB`, `GB` or `TB` (powers of 1000, as transformers' "5GB").
 *
 * @since 0.2.0
 * @category utils
 */
export const parseSize = (text: string): number | undefined => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(|KB|MB|GB|TB)\s*$/i.exec(text)
  if (m === null) return undefined
  const unit = { "": 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 }[m[2]!.toUpperCase() as "" | "KB" | "MB" | "GB" | "TB"]
  return Math.floor(Number(m[1]) * unit)
}

/**
 * Tensors divided into shards by `huggingface_hub`'s rule: in order, a
 * tensor joins the current shard unless that would take it past
 * `maxShardSize` (then a new shard starts); a tensor larger than
 * `maxShardSize` gets a shard of its own; tensors over one storage go to
 * the shard of the first. Sizes are whole storages'; `totalSize` counts
 * each storage once.
 *
 * @since 0.2.0
 * @category constructors
 */
export const split = (
  tensors: ReadonlyArray<readonly [string, Tensor]>,
  maxShardSize: number
): { readonly shards: Array<Array<readonly [string, Tensor]>>; readonly totalSize: number } => {
  const shards: Array<Array<readonly [string, Tensor]>> = []
  let current: Array<readonly [string, Tensor]> = []
  let currentSize = 0
  let totalSize = 0
  const shardOf = new Map<unknown, Array<readonly [string, Tensor]>>()
  const sharing: Array<readonly [string, Tensor]> = []
  for (const entry of tensors) {
    const storage = entry[1].storage ?? entry[1]
    if (shardOf.has(storage)) {
      sharing.push(entry)
      continue
    }
    const size = entry[1].storage?.nbytes ?? 0
    totalSize += size
    if (size > maxShardSize) {
      shards.push([entry])
      shardOf.set(storage, shards.at(-1)!)
      continue
    }
    if (currentSize + size > maxShardSize) {
      shards.push(current)
      current = []
      currentSize = 0
    }
    current.push(entry)
    currentSize += size
    shardOf.set(storage, current)
  }
  if (current.length > 0) shards.push(current)
  for (const entry of sharing) shardOf.get(entry[1].storage ?? entry[1])!.push(entry)
  return { shards, totalSize }
}

/**
 * The shard file names `huggingface_hub` gives `count` shards of a
 * pattern's stem and extension: `model-00001-of-00003.safetensors`; one
 * shard is just `model.safetensors`.
 *
 * @since 0.2.0
 * @category utils
 */
export const shardNames = (stem: string, extension: string, count: number): Array<string> =>
  count === 1
    ? [`${stem}${extension}`]
    : Array.from({ length: count }, (_, i) => `${stem}-${String(i + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}${extension}`)

/**
 * The index file `huggingface_hub` writes (`json.dump(index, indent=2)`:
 * two-space indents, non-ASCII escaped, no final newline).
 *
 * @since 0.2.0
 * @category encoding
 */
export const indexJson = (metadata: Readonly<Record<string, unknown>>, weightMap: ReadonlyMap<string, string>): string =>
  JSON.stringify({ metadata, weight_map: Object.fromEntries(weightMap) }, null, 2)
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
