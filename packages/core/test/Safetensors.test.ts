/**
 * safetensors: files the real library wrote read back (lazily, the header
 * only), torchwire's own round trip, every rule of the format's validation
 * as a typed error naming the tensor and the byte offset, and mutated files
 * ending in a value or a typed error.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import fc from "fast-check"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import { isTorchwireError } from "@torchwire/core/Errors"
import * as Safetensors from "@torchwire/core/Safetensors"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict, type PyValue } from "@torchwire/core/Value"
import { fixtureBytes } from "@torchwire/test-utils"
import { concatBytes } from "../src/internal/bytes.js"

const open = (bytes: Uint8Array) => Checkpoint.open(ByteSource.fromUint8Array(bytes, "file.safetensors"))

/** A safetensors file with this header (JSON text) and `dataBytes` zero bytes after it. */
const file = (header: string, dataBytes: number): Uint8Array => {
  const json = new TextEncoder().encode(header)
  const out = new Uint8Array(8 + json.length + dataBytes)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  return out
}

const encoded = (value: PyValue, options?: Safetensors.EncodeOptions) =>
  Effect.map(Stream.runCollect(Safetensors.encode(value, options)), (c) => concatBytes(Chunk.toReadonlyArray(c)))

describe("safetensors", () => {
  it.effect("a file save_file wrote opens from its header alone, as load_file's dict with the metadata", () =>
    Effect.gen(function*() {
      const c = yield* open(fixtureBytes("st_linear.safetensors"))
      assert.strictEqual(c.format, "safetensors")
      assert.deepStrictEqual(c.metadata, new Map([["format", "pt"]]))
      const weight = (c.value as Map<PyValue, PyValue>).get("0.weight") as Torch.Tensor
      assert.deepStrictEqual([weight.dtype.name, weight.shape], ["float32", [3, 4]])
      assert.lengthOf(yield* Torch.toTypedArray(weight), 12)
      // Opening a file of 4 MiB reads its first bytes and its header.
      const big = yield* encoded(new Map<PyValue, PyValue>([["big", Torch.tensor(new Float32Array(1 << 20))]]))
      const counted = ByteSource.counting(ByteSource.fromUint8Array(big))
      yield* Checkpoint.open(counted.source)
      assert.isBelow(counted.bytesRead(), 1024)
    }))

  it.effect("encode writes what it reads back, in save_file's order (dtype, then name)", () =>
    Effect.gen(function*() {
      const sd = new OrderedDict([
        ["b", Torch.tensor(new Float32Array([1, 2]))],
        ["a", Torch.tensor(new Float32Array([3]))],
        ["ids", Torch.tensor(new BigInt64Array([7n]))],
        ["nested", new Map<PyValue, PyValue>([["x", Torch.tensor(new Uint8Array([1, 2, 3]))]])]
      ])
      const bytes = yield* encoded(sd, { metadata: new Map([["format", "pt"]]) })
      const c = yield* open(bytes)
      assert.deepStrictEqual(c.records, ["ids", "a", "b", "nested.x"])
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray((c.value as Map<PyValue, PyValue>).get("b") as Torch.Tensor)) as Float32Array), [1, 2])
      assert.strictEqual(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)) % 8, 0, "header padded to 8")
    }))

  it.effect("encode refuses what safetensors cannot hold, naming it; drops aliases as save_model does", () =>
    Effect.gen(function*() {
      const notTensors = yield* Effect.flip(Safetensors.plan(new Map<PyValue, PyValue>([["w", Torch.tensor(new Float32Array(1))], ["step", 3], ["lr", "x"]])))
      assert.include(notTensors.message, "not tensors: step, lr")
      const dropped = yield* Safetensors.plan(new Map<PyValue, PyValue>([["w", Torch.tensor(new Float32Array(1))], ["step", 3]]), { dropNonTensors: true })
      assert.deepStrictEqual(dropped.dropped, ["step"])
      const shared = Torch.tensor(new Float32Array(4))
      const tied = yield* Safetensors.plan(new Map<PyValue, PyValue>([["lm_head.weight", shared], ["embed.weight", shared]]))
      assert.deepStrictEqual([tied.tensors.map(([n]) => n), tied.dropped], [["embed.weight"], ["lm_head.weight"]])
    }))

  const malformed: ReadonlyArray<readonly [string, Uint8Array, string, RegExp]> = [
    ["a header length past the file", (() => {
      const f = file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4)
      new DataView(f.buffer).setBigUint64(0, 1000n, true)
      return f
    })(), "Truncated", /runs past the end/],
    ["a header over 100,000,000 bytes", (() => {
      const f = file(`{}`, 0)
      new DataView(f.buffer).setBigUint64(0, 200_000_000n, true)
      return f
    })(), "LimitExceeded", /over the 100000000-byte limit/],
    ["bad JSON", file(`{"a":`, 0), "BadRecord", /not JSON/],
    ["a dtype safetensors does not define", file(`{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}}`, 1), "UnknownDtype", /"F7"/],
    ["a shape that disagrees with the offsets", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "BadTensor", /needs 8 bytes/],
    ["overlapping tensors", file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 4), "BadRecord", /overlap/],
    ["a gap", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 4), "BadRecord", /gap/],
    ["trailing bytes", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 5), "TrailingBytes", /end at byte/],
    ["a negative offset", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[-2,0]}}`, 0), "BadRecord", /tensor "a"/],
    ["metadata that is not strings", file(`{"__metadata__":{"k":1}}`, 0), "BadRecord", /__metadata__ "k"/]
  ]
  for (const [what, bytes, reason, says] of malformed) {
    it.effect(`${what}: CheckpointError(${reason})`, () =>
      Effect.gen(function*() {
        const e = yield* Effect.flip(open(bytes))
        assert.strictEqual(e._tag === "CheckpointError" ? e.reason : e._tag, reason, e.message)
        assert.match(e.message, says)
      }))
  }

  it.effect("a tensor's error names it and its byte offset in the file", () =>
    Effect.gen(function*() {
      const header = `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[3],"data_offsets":[1,5]}}`
      const e = yield* Effect.flip(open(file(header, 5)))
      assert.deepStrictEqual([e._tag === "CheckpointError" && e.record, e.offset], ["b", 8 + header.length + 1])
    }))

  it.effect("mutated files open to tensors or fail typed (property)", () =>
    Effect.gen(function*() {
      const original = fixtureBytes("st_dtypes.safetensors")
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(fc.tuple(fc.nat(original.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(original.length), async (edits, cut) => {
            const bytes = original.slice(0, Math.max(cut, 9))
            for (const [at, v] of edits) if (at < bytes.length) bytes[at] = v
            const result = await Effect.runPromise(Effect.either(Effect.flatMap(open(bytes), (c) =>
              Effect.forEach(Checkpoint.tensors(c.value), ([, t]) => Torch.bytes(t)))))
            if (result._tag === "Left") assert.isTrue(isTorchwireError(result.left), String(result.left))
          }),
          { numRuns: Number(process.env.TORCHWIRE_FUZZ_RUNS ?? 300) }
        ))
    }))
})
