/**
 * Sharded checkpoints: huggingface_hub's split rule, index parsing with its
 * typed errors, and an index that disagrees with its shards. (The files
 * huggingface_hub writes are compared byte for byte in the node package's
 * SafetensorsInterop test.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Safetensors from "@torchwire/core/Safetensors"
import * as Shards from "@torchwire/core/Shards"
import * as Torch from "@torchwire/core/Torch"
import type { PyValue } from "@torchwire/core/Value"
import { concatBytes } from "../src/internal/bytes.js"

const text = (s: string) => new TextEncoder().encode(s)
const f32 = (n: number) => Torch.tensor(new Float32Array(n))

describe("Shards", () => {
  it("splits as huggingface_hub does: in order, a new shard when the next would pass the limit, big tensors alone, shared storages with their first", () => {
    const a = f32(100) // 400 bytes
    const tensors = [["a", a], ["b", f32(300)], ["c", f32(50)], ["d", Torch.tensor(new Float32Array(250))], ["tied", a], ["huge", f32(1000)]] as const
    const { shards, totalSize } = Shards.split(tensors, 1200)
    // "huge" gets its shard when it comes, before the shard "c" and "d" fill is closed.
    assert.deepStrictEqual(shards.map((s) => s.map(([n]) => n)), [["a", "tied"], ["b"], ["huge"], ["c", "d"]])
    assert.strictEqual(totalSize, 400 + 1200 + 200 + 1000 + 4000)
  })

  it("names shards and writes the index as huggingface_hub does", () => {
    assert.deepStrictEqual(Shards.shardNames("model", ".safetensors", 2), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
    assert.deepStrictEqual(Shards.shardNames("pytorch_model", ".bin", 1), ["pytorch_model.bin"])
    assert.strictEqual(
      Shards.indexJson({ total_size: 8 }, new Map([["é", "a.safetensors"]])),
      `{\n  "metadata": {\n    "total_size": 8\n  },\n  "weight_map": {\n    "\\u00e9": "a.safetensors"\n  }\n}`
    )
    assert.deepStrictEqual([Shards.parseSize("5GB"), Shards.parseSize("200"), Shards.parseSize("1.5MB"), Shards.parseSize("lots")], [5e9, 200, 1.5e6, undefined])
  })

  it.effect("an index that is not JSON, not an index, or names a shard elsewhere fails typed", () =>
    Effect.gen(function*() {
      for (const [json, says] of [["{", /not JSON/], [`{"weight_map": 3}`, /weight_map/], [`{"weight_map": {"w": "../x.safetensors"}}`, /not a file beside the index/]] as const) {
        const e = yield* Effect.flip(Shards.parseIndex(text(json)))
        assert.strictEqual(e.reason, "BadRecord")
        assert.match(e.message, says)
      }
    }))

  it.effect("opens shards as one checkpoint, and refuses an index that disagrees with them", () =>
    Effect.gen(function*() {
      const shard = (value: Map<PyValue, PyValue>) =>
        Effect.map(Stream.runCollect(Safetensors.encode(value)), (c) => ByteSource.fromUint8Array(concatBytes(Chunk.toReadonlyArray(c))))
      const files = new Map([["one.safetensors", yield* shard(new Map([["a", f32(2)]]))], ["two.safetensors", yield* shard(new Map([["b", f32(3)], ["c", f32(1)]]))]])
      const openShard = (file: string) => Effect.succeed(files.get(file)!)
      const index = yield* Shards.parseIndex(text(`{"weight_map": {"b": "two.safetensors", "a": "one.safetensors", "c": "two.safetensors"}}`))
      const opened = yield* Shards.open(index, openShard)
      assert.deepStrictEqual([...opened.value.keys()], ["b", "a", "c"])
      const missing = yield* Effect.flip(Shards.open(yield* Shards.parseIndex(text(`{"weight_map": {"a": "two.safetensors", "b": "two.safetensors", "c": "two.safetensors"}}`)), openShard))
      assert.match(missing.message, /puts tensor "a" in two.safetensors, which does not hold it/)
      const extra = yield* Effect.flip(Shards.open(yield* Shards.parseIndex(text(`{"weight_map": {"a": "one.safetensors", "b": "two.safetensors"}}`)), openShard))
      assert.match(extra.message, /two.safetensors holds tensor "c", which the index does not put there/)
    }))
})
