/**
 * Opening a checkpoint reads its directory and data.pkl, not its storages;
 * reading a tensor reads that storage and nothing else.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Save from "@torchwire/core/Save"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict } from "@torchwire/core/Value"
import * as Zip from "@torchwire/core/Zip"
import { fixtureBytes } from "@torchwire/test-utils"

describe("lazy loading", () => {
  it.effect("opening a zip checkpoint reads the directory and data.pkl only", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("mobilenet_v2_w025.pt")
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const pkl = archive.entries.find((e) => e.name.endsWith("/data.pkl"))!
      const { source, bytesRead } = ByteSource.counting(ByteSource.fromUint8Array(bytes))
      const checkpoint = yield* Checkpoint.open(source)
      const budget = pkl.compressedSize + (bytes.length - archive.entries[0]!.centralOffset) + 512 + 65_557 + 2 * 1024
      assert.isBelow(bytesRead(), budget)
      assert.isBelow(bytesRead(), bytes.length / 4)
      const tensors = Checkpoint.tensors(checkpoint.value)
      assert.strictEqual(tensors.length, 314) // len(state_dict()) in torch
      const [name, weight] = tensors[0]!
      assert.strictEqual(name, "features.0.0.weight")
      const before = bytesRead()
      const data = yield* Torch.toFloat32(weight)
      assert.strictEqual(data.length, weight.numel)
      // One read: the record's local header (with its name and padding), then its data.
      const record = archive.entry(weight.storage!.record)!
      const headerBytes = (yield* archive.dataOffset(record)) - record.localHeaderOffset
      assert.isAbove(headerBytes, 30)
      assert.strictEqual(bytesRead() - before, headerBytes + weight.storage!.nbytes)
    }))

  it.effect("opening a legacy checkpoint reads the pickles only", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("legacy_dtypes.pt")
      const { source, bytesRead } = ByteSource.counting(ByteSource.fromUint8Array(bytes))
      const checkpoint = yield* Checkpoint.open(source)
      const storageBytes = Checkpoint.tensors(checkpoint.value).reduce((n, [, t]) => n + t.storage!.nbytes, 0)
      assert.isAbove(storageBytes, 0)
      // The pickle window reads whatever of the file fits in 64 KiB; the
      // storages it did not need are never read again.
      const before = bytesRead()
      const [, first] = Checkpoint.tensors(checkpoint.value)[0]!
      yield* Torch.bytes(first)
      assert.strictEqual(bytesRead() - before, 8 + first.storage!.nbytes)
    }))

  it.effect("a Blob source reads the same checkpoint", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("dtypes.pt")
      const fromBlob = yield* Checkpoint.open(ByteSource.fromBlob(new Blob([bytes as Uint8Array<ArrayBuffer>]), "dtypes.pt"))
      const fromMemory = yield* Checkpoint.open(ByteSource.fromUint8Array(bytes))
      const a = Checkpoint.tensors(fromBlob.value)
      const b = new Map(Checkpoint.tensors(fromMemory.value))
      assert.strictEqual(a.length, 17)
      for (const [name, t] of a) assert.deepStrictEqual(yield* Torch.bytes(t), yield* Torch.bytes(b.get(name)!))
      const past = yield* Effect.flip(ByteSource.fromBlob(new Blob([bytes as Uint8Array<ArrayBuffer>])).read(bytes.length - 1, 2))
      assert.strictEqual(past.reason, "Truncated")
    }))

  it.effect("tensors read inside the source's lifetime materialize typed arrays", () =>
    Effect.gen(function*() {
      const checkpoint = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes("views.pt")))
      const byName = new Map(Checkpoint.tensors(checkpoint.value))
      const base = yield* Torch.toTypedArray(byName.get("base")!)
      assert.deepStrictEqual(Array.from(base as Float32Array).slice(0, 7), [0, 1, 2, 3, 4, 5, 6])
      const transposed = yield* Torch.toTypedArray(byName.get("transposed")!)
      assert.deepStrictEqual(Array.from(transposed as Float32Array).slice(0, 5), [0, 6, 12, 18, 1])
      const column = yield* Torch.toTypedArray(byName.get("column")!)
      assert.deepStrictEqual(Array.from(column as Float32Array), [2, 8, 14, 20])
      const expanded = byName.get("expanded")!
      assert.deepStrictEqual(expanded.stride, [0, 1])
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(expanded)) as Float32Array), new Array(12).fill(1))
      assert.strictEqual((yield* Torch.bytes(byName.get("empty")!)).length, 0)
      assert.strictEqual(byName.get("base")!.storage, byName.get("transposed")!.storage, "views share one Storage")
    }))

  it.effect("Checkpoint.arrays reads each storage once; tied tensors share it, small views copy", () =>
    Effect.gen(function*() {
      const weight = Torch.tensor(Float32Array.from({ length: 4096 }, (_, i) => i))
      const storage = weight.storage!
      const slice = new Torch.Tensor(weight.dtype, [16], [1], 100, storage, false) // 1/256 of the storage
      const bytes = yield* Save.toBytes(new OrderedDict([["embed", weight], ["head", weight], ["slice", slice]]))
      const { source, bytesRead } = ByteSource.counting(ByteSource.fromUint8Array(bytes))
      const checkpoint = yield* Checkpoint.open(source)
      const before = bytesRead()
      const arrays = yield* Checkpoint.arrays(checkpoint.value)
      assert.deepStrictEqual(arrays.map(([name]) => name), ["embed", "head", "slice"])
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const record = archive.entries.find((e) => e.name.endsWith("/data/0"))!
      // Read in a batch: from the 64-aligned offset at or before its local header (so the data keeps its alignment) to its end.
      const spanStart = record.localHeaderOffset - (record.localHeaderOffset % 64)
      assert.strictEqual(bytesRead() - before, (yield* archive.dataOffset(record)) + 4096 * 4 - spanStart, "one read of the storage with its local header, name and padding")
      const [embed, head, view] = arrays.map(([, a]) => a as Float32Array)
      assert.strictEqual(embed!.buffer, head!.buffer)
      assert.deepStrictEqual(Array.from(view!), Array.from({ length: 16 }, (_, i) => 100 + i))
      assert.strictEqual(view!.buffer.byteLength, 64, "a small view does not pin its storage")
      assert.deepStrictEqual(embed, yield* Torch.toTypedArray(weight))
    }))

  it.effect("the storages of many small tensors are read many per read, by Checkpoint.arrays and by a re-save", () =>
    Effect.gen(function*() {
      const sd = new OrderedDict(Array.from({ length: 300 }, (_, i) => [`layer${i}.weight`, Torch.tensor(Float32Array.of(i, -i, i / 2))]))
      const bytes = yield* Save.toBytes(sd)
      let reads = 0
      const plain = ByteSource.fromUint8Array(bytes)
      const source: ByteSource.ByteSource = { ...plain, read: (offset, length) => Effect.suspend(() => (reads++, plain.read(offset, length))) }
      const opened = yield* Checkpoint.open(source)
      let before = reads
      const arrays = yield* Checkpoint.arrays(opened.value)
      assert.strictEqual(reads - before, 1, "300 storages of 12 bytes lie in one span of the file")
      arrays.forEach(([, a], i) => assert.deepStrictEqual(Array.from(a as Float32Array), [i, -i, i / 2]))
      const reopened = yield* Checkpoint.open(source)
      before = reads
      const copy = yield* Save.toBytes(reopened.value)
      assert.strictEqual(reads - before, 1)
      assert.deepStrictEqual(copy, bytes, "the re-save is byte for byte the original")
    }))

  it.effect("float16 and bfloat16 widen to float32", () =>
    Effect.gen(function*() {
      const checkpoint = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes("dtypes.pt")))
      const byName = new Map(Checkpoint.tensors(checkpoint.value))
      const f32 = yield* Torch.toFloat32(byName.get("float32")!)
      const f16 = yield* Torch.toFloat32(byName.get("float16")!)
      const bf16 = yield* Torch.toFloat32(byName.get("bfloat16")!)
      for (let i = 0; i < f32.length; i++) {
        assert.closeTo(f16[i]!, f32[i]!, Math.abs(f32[i]!) * 1e-3 + 1e-4)
        assert.closeTo(bf16[i]!, f32[i]!, Math.abs(f32[i]!) * 1e-2 + 1e-3)
      }
      const i64 = yield* Torch.toTypedArray(byName.get("int64")!)
      assert.deepStrictEqual(Array.from(i64 as BigInt64Array), [-3n, -2n, -1n, 0n, 1n, 2n].map((x) => x * 2n ** 40n))
    }))

  it.effect("big-endian archives are swapped to little-endian per element", () =>
    Effect.gen(function*() {
      const checkpoint = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes("big_endian.pt")))
      assert.strictEqual(checkpoint.byteOrder, "big")
      const byName = new Map(Checkpoint.tensors(checkpoint.value))
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(byName.get("i64")!)) as BigInt64Array), [1n, -2n, 2n ** 40n])
      assert.deepStrictEqual(Array.from(yield* Torch.toFloat32(byName.get("f16")!)), [1.5, -2.25])
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(byName.get("c64")!)) as Float32Array), [1, 2, -0, -3.5])
    }))

  it.effect("torch >= 2.7 records are read and validated", () =>
    Effect.gen(function*() {
      const checkpoint = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes("torch27_layout.pt")))
      assert.strictEqual(checkpoint.formatVersion, 1)
      assert.strictEqual(checkpoint.storageAlignment, 64)
      assert.strictEqual(checkpoint.version, 3)
      assert.includeMembers([...checkpoint.records], [".format_version", ".storage_alignment", "byteorder", ".data/serialization_id", "data/0", "data/1"])
    }))
})
