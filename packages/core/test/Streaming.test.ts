/**
 * The streaming format: round trips, incremental decoding at any chunk
 * boundary, relaying, `.stream` files, and typed failures.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import fc from "fast-check"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Pickle from "@torchwire/core/Pickle"
import * as Save from "@torchwire/core/Save"
import type { TorchwireError } from "@torchwire/core/Errors"
import * as Streaming from "@torchwire/core/Streaming"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import * as Zip from "@torchwire/core/Zip"
import { OrderedDict } from "@torchwire/core/Value"
import { encodeHeader } from "../src/internal/streaming/streamingFormat.js"
import { concatBytes } from "../src/internal/bytes.js"
import { checkpointFixtures, firstDifference, fixtureBytes, truthOf } from "@torchwire/test-utils"

const encodeBytes = (value: Parameters<typeof Streaming.encode>[0]) => Effect.map(Stream.runCollect(Streaming.encode(value)), (c) => concatBytes(Chunk.toReadonlyArray(c)))
const split = (bytes: Uint8Array, sizes: ReadonlyArray<number>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!
    out.push(bytes.subarray(at, at + n))
    at += n
  }
  return out
}
const fixtureValue = (file: string) => Effect.map(Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(file)), { weightsOnly: false }), (c) => c.value)
const loadError = (bytes: Uint8Array, options: Parameters<typeof Streaming.load>[1] = {}) => Effect.flip(Streaming.load(Stream.make(bytes), options))

describe("Streaming", () => {
  it.effect("every fixture round-trips through the streaming format", () =>
    Effect.gen(function*() {
      for (const f of checkpointFixtures) {
        const bytes = yield* encodeBytes(yield* fixtureValue(f.file))
        const { value, records } = yield* Streaming.load(Stream.make(bytes), { weightsOnly: false })
        assert.deepStrictEqual(records.slice(0, 4), ["data.pkl", ".format_version", ".storage_alignment", "byteorder"])
        const summary = yield* Summary.summarize(value)
        assert.strictEqual(firstDifference({ format: f.format, value: summary }, truthOf(f.file)), undefined, f.file)
      }
    }))

  it.effect("the header is the pickle _streaming_save writes: _Entry objects by NEWOBJ and BUILD", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(new OrderedDict([["w", Torch.tensor(new Float32Array([1, 2]))]]))
      const ops = Pickle.unsafeOpcodes(bytes).map((o) => o.name)
      assert.deepStrictEqual(ops.slice(0, 8), ["PROTO", "EMPTY_LIST", "BINPUT", "MARK", "GLOBAL", "BINPUT", "EMPTY_TUPLE", "NEWOBJ"])
      assert.strictEqual(Pickle.unsafeOpcodes(bytes)[4]!.arg!.toString(), "torch.distributed._serialization,_Entry")
      assert.strictEqual(ops.filter((o) => o === "BUILD").length, 5)
    }))

  it.effect("decoding is the same at any chunk boundaries, and a relay reproduces the bytes (property)", () =>
    Effect.gen(function*() {
      const values = yield* Effect.forEach(["linear.pt", "training_checkpoint.pt", "views.pt"], fixtureValue)
      const encoded = yield* Effect.forEach(values, encodeBytes)
      const expected = yield* Effect.forEach(values, (v) => Summary.summarize(v))
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: encoded.length - 1 }), fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 20 }), async (which, sizes) => {
            const input = Stream.fromIterable(split(encoded[which]!, sizes))
            const relayed = await Effect.runPromise(Stream.runCollect(input.pipe(Streaming.parts(), Streaming.fromParts)))
            assert.deepStrictEqual(concatBytes(Chunk.toReadonlyArray(relayed)), encoded[which])
            const { value } = await Effect.runPromise(Streaming.load(input, { weightsOnly: false }))
            assert.deepStrictEqual(await Effect.runPromise(Summary.summarize(value)), expected[which])
            // Pieces are views of the input that put every record back together, in order.
            const pieces = Chunk.toReadonlyArray(await Effect.runPromise(Stream.runCollect(input.pipe(Streaming.pieces()))))
            const parts = Chunk.toReadonlyArray(await Effect.runPromise(Stream.runCollect(input.pipe(Streaming.parts()))))
            const records = new Map<string, Array<Uint8Array>>()
            for (const p of pieces) {
              if (p._tag !== "Data") continue
              assert.strictEqual(p.offset, (records.get(p.entry.key) ?? []).reduce((n, b) => n + b.length, 0))
              records.set(p.entry.key, [...(records.get(p.entry.key) ?? []), p.bytes])
            }
            assert.deepStrictEqual(
              [...records].map(([key, bytes]) => [key, concatBytes(bytes)]),
              parts.flatMap((p) => (p._tag === "Record" ? [[p.entry.key, p.bytes]] : []))
            )
            assert.strictEqual(pieces.filter((p) => p._tag === "Data" && p.last).length, records.size)
          }),
          { numRuns: 100 }
        )
      )
    }))

  it.effect("records are emitted as soon as they complete", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(new OrderedDict([["a", Torch.tensor(new Float32Array(1000))], ["b", Torch.tensor(new Float32Array(1000))]]))
      const seen: Array<string> = []
      const cut = bytes.length - 100
      // The first half arrives; the last storage is still incomplete.
      yield* Stream.runForEach(Stream.make(bytes.subarray(0, cut)).pipe(Streaming.parts()), (p) => Effect.sync(() => void seen.push(p._tag === "Header" ? "header" : p.entry.key))).pipe(Effect.ignore)
      assert.deepStrictEqual(seen, ["header", "data.pkl", ".format_version", ".storage_alignment", "byteorder", "data/0"])
    }))

  it.effect("a truncated stream fails with Truncated naming the record, wherever it stops", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(yield* fixtureValue("linear.pt"))
      for (const cut of [0, 10, 200, bytes.length - 49, bytes.length - 1]) {
        const e = yield* loadError(bytes.subarray(0, cut))
        assert.strictEqual(e._tag === "CheckpointError" && e.reason, "Truncated", `cut at ${cut}`)
      }
      const e = yield* loadError(bytes.subarray(0, bytes.length - 1))
      assert.include(e.message, "record \"data/1\"")
      assert.include(e.message, "1 bytes into")
    }))

  it.effect("trailing bytes, a missing data.pkl, and a storage of the wrong size are typed errors", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(yield* fixtureValue("linear.pt"))
      const trailing = yield* loadError(concatBytes([bytes, new Uint8Array([1, 2, 3])]))
      assert.strictEqual(trailing._tag === "CheckpointError" && trailing.reason, "TrailingBytes")
      assert.strictEqual(trailing.offset, bytes.length)

      const noPickle = concatBytes([encodeHeader([{ key: "byteorder", isStorage: false, length: 6 }]), new TextEncoder().encode("little")])
      assert.strictEqual((yield* loadError(noPickle))._tag === "CheckpointError" && (yield* loadError(noPickle)).reason, "MissingRecord")

      // Re-frame the same records with data/0 four bytes longer than data.pkl says.
      const records = new Map<string, Uint8Array>()
      yield* Stream.runForEach(Stream.make(bytes).pipe(Streaming.parts()), (p) => Effect.sync(() => void (p._tag === "Record" && records.set(p.entry.key, p.bytes))))
      records.set("data/0", concatBytes([records.get("data/0")!, new Uint8Array(4)]))
      const reframed = concatBytes([encodeHeader([...records].map(([key, b]) => ({ key, isStorage: key.startsWith("data/"), length: b.length }))), ...records.values()])
      const wrong = yield* loadError(reframed)
      assert.strictEqual(wrong._tag === "CheckpointError" && wrong.reason, "BadRecord")
      assert.include(wrong.message, "data/0")
    }))

  it.effect("encode fails with StorageTooShort, at the record's stream offset, when a storage's source yields too few bytes", () =>
    Effect.gen(function*() {
      // A storage declaring 16 bytes whose source holds 8 (as a truncated or changed file would).
      const short = new Torch.Storage({ key: "0", dtype: Torch.dtypes.get("float32")!, record: "short", bytes: Torch.RecordBytes.Computed({ read: Effect.succeed(new Uint8Array(8)), size: 16 }) })
      const value = new OrderedDict([["w", new Torch.Tensor(Torch.dtypes.get("float32")!, [4], [1], 0, short, false)]])
      const error = yield* Stream.runDrain(Streaming.encode(value)).pipe(Effect.flip)
      assert.strictEqual(error._tag === "CheckpointError" && error.reason, "StorageTooShort")
      assert.strictEqual(error._tag === "CheckpointError" && error.record, "data/0")
      // The same value with all 16 bytes: data/0 is its last record.
      const whole = new Torch.Storage({ key: "0", dtype: short.dtype, record: "whole", bytes: Torch.RecordBytes.Computed({ read: Effect.succeed(new Uint8Array(16)), size: 16 }) })
      const good = yield* encodeBytes(new OrderedDict([["w", new Torch.Tensor(short.dtype, [4], [1], 0, whole, false)]]))
      assert.strictEqual(error.offset, good.length - 16, "where data/0 starts in the stream")
    }))

  it.effect("limits: header size, record size, entry count; and only _Entry in headers", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(yield* fixtureValue("linear.pt"))
      const header = yield* loadError(bytes, { limits: { maxHeaderBytes: 64 } })
      assert.strictEqual(header._tag === "CheckpointError" && header.reason, "LimitExceeded")
      const record = yield* loadError(bytes, { limits: { maxRecordBytes: 40 } })
      assert.strictEqual(record._tag === "CheckpointError" && record.reason, "LimitExceeded")
      const entries = yield* loadError(bytes, { limits: { maxEntries: 3 } })
      assert.strictEqual(entries._tag === "CheckpointError" && entries.reason, "LimitExceeded")
      const evil = Uint8Array.from("\x80\x02]q\x00cos\nsystem\nq\x01a.", (ch) => ch.charCodeAt(0))
      const forbidden = yield* loadError(evil)
      assert.strictEqual(forbidden._tag === "PickleError" && forbidden.reason, "ForbiddenGlobal")
    }))

  it.effect("toArchive turns each fixture's stream into the archive Save writes, byte for byte", () =>
    Effect.gen(function*() {
      for (const f of checkpointFixtures) {
        const value = yield* fixtureValue(f.file)
        const stream = Stream.fromIterable(split(yield* encodeBytes(value), [65536, 7, 1000]))
        const archive = concatBytes(Chunk.toReadonlyArray(yield* Stream.runCollect(stream.pipe(Streaming.toArchive()))))
        assert.deepStrictEqual(archive, yield* Save.toBytes(value), f.file)
      }
    }))

  it.effect("toArchive and validate fail like load on malformed streams; validate passes bytes through", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(yield* fixtureValue("linear.pt"))
      const run = (input: Uint8Array, f: (self: Stream.Stream<Uint8Array>) => Stream.Stream<Uint8Array, TorchwireError>) =>
        Stream.runCollect(f(Stream.fromIterable(split(input, [100]))))
      assert.deepStrictEqual(concatBytes(Chunk.toReadonlyArray(yield* run(bytes, Streaming.validate()))), bytes)
      // Data-first and data-last alike (dual).
      assert.deepStrictEqual(concatBytes(Chunk.toReadonlyArray(yield* run(bytes, (s) => Streaming.validate(s)))), bytes)
      const viaPipe = yield* Stream.runCollect(Stream.make(bytes).pipe(Streaming.toArchive({ prefix: "p" })))
      const dataFirst = yield* Stream.runCollect(Streaming.toArchive(Stream.make(bytes), { prefix: "p" }))
      assert.deepStrictEqual(concatBytes(Chunk.toReadonlyArray(dataFirst)), concatBytes(Chunk.toReadonlyArray(viaPipe)))
      for (const convert of [Streaming.validate(), Streaming.toArchive()]) {
        const cut = yield* Effect.flip(run(bytes.subarray(0, bytes.length - 3), convert))
        assert.strictEqual(cut._tag === "CheckpointError" && cut.reason, "Truncated")
        const trailing = yield* Effect.flip(run(concatBytes([bytes, new Uint8Array(2)]), convert))
        assert.strictEqual(trailing._tag === "CheckpointError" && trailing.reason, "TrailingBytes")
      }
    }))

  it.effect("toArchive aligns records as .storage_alignment declares, and rejects a malformed one by name and offset", () =>
    Effect.gen(function*() {
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.make(yield* encodeBytes(yield* fixtureValue("linear.pt"))).pipe(Streaming.parts())))
      /** The stream with .storage_alignment holding `declared`. */
      const declaring = (declared: string) => {
        const replace = (e: Streaming.Entry) => (e.key === ".storage_alignment" ? { ...e, length: declared.length } : e)
        return Stream.fromIterable(parts.map((p): Streaming.Part =>
          p._tag === "Header"
            ? { _tag: "Header", entries: p.entries.map(replace) }
            : p.entry.key === ".storage_alignment"
            ? { _tag: "Record", entry: replace(p.entry), bytes: new TextEncoder().encode(declared) }
            : p
        )).pipe(Streaming.fromParts)
      }
      const archive = concatBytes(Chunk.toReadonlyArray(yield* Stream.runCollect(declaring("4096").pipe(Streaming.toArchive()))))
      const zip = yield* Zip.open(ByteSource.fromUint8Array(archive))
      for (const e of zip.entries.filter((e) => e.name.includes("/data/"))) assert.strictEqual((yield* zip.dataOffset(e)) % 4096, 0, e.name)
      const bytes = concatBytes(Chunk.toReadonlyArray(yield* Stream.runCollect(declaring("sixty"))))
      const failure = yield* Effect.flip(Stream.runDrain(Stream.make(bytes).pipe(Streaming.toArchive())))
      assert.strictEqual(failure._tag === "CheckpointError" && `${failure.reason} ${failure.record}`, "BadRecord .storage_alignment")
      // The offset is where the record's bytes start in the stream.
      assert.deepStrictEqual(bytes.subarray(failure.offset, failure.offset + 5), new TextEncoder().encode("sixty"))
    }))

  it.effect("Checkpoint.open reads .stream files lazily", () =>
    Effect.gen(function*() {
      const bytes = yield* encodeBytes(yield* fixtureValue("mobilenet_v2_w025.pt"))
      const { source, bytesRead } = ByteSource.counting(ByteSource.fromUint8Array(bytes, "model.stream"))
      const checkpoint = yield* Checkpoint.open(source)
      assert.strictEqual(checkpoint.format, "stream")
      assert.isBelow(bytesRead(), bytes.length / 4)
      const summary = yield* Summary.summarize(checkpoint.value)
      assert.strictEqual(firstDifference({ format: "zip", value: summary }, truthOf("mobilenet_v2_w025.pt")), undefined)
      const cut = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(bytes.subarray(0, bytes.length - 5))))
      assert.strictEqual(cut._tag === "CheckpointError" && cut.reason, "Truncated")
    }))
})
