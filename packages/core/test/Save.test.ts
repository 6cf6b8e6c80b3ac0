/**
 * The writer: byte-identical to torch 1.13 where torch's output is known,
 * torch's layout rules otherwise, and stable round trips.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Checksum from "@torchwire/core/Checksum"
import * as Save from "@torchwire/core/Save"
import * as Streaming from "@torchwire/core/Streaming"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict, type PyValue } from "@torchwire/core/Value"
import * as Zip from "@torchwire/core/Zip"
import fc from "fast-check"
import { CheckpointError, SourceError, type TorchwireError } from "@torchwire/core/Errors"
import { concatBytes } from "../src/internal/bytes.js"
import { archiveStream } from "../src/internal/container/archiveWriter.js"
import { crc32 } from "../src/internal/container/crc32.js"
import { writeRecords } from "../src/internal/container/recordStream.js"
import { checkpointFixtures, firstDifference, fixtureBytes, fixtures, truthOf } from "@torchwire/test-utils"

/** `bytes` in pieces of `size`. */
const chunksOf = (bytes: Uint8Array, size: number): Array<Uint8Array> =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, k) => bytes.subarray(k * size, (k + 1) * size))

const open = (bytes: Uint8Array) => Checkpoint.open(ByteSource.fromUint8Array(bytes), { weightsOnly: false })
const protocolOf = (file: string) => Number(/protocol(\d)/.exec(file)?.[1] ?? 2)
const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** Written by torch 1.13's own writer (deflated.pt and torch27_layout.pt are re-packed, see the generator). */
const torchWritten = fixtures.filter((f) => f.format === "zip" && f.truth === "torch" && f.torch === undefined && f.file !== "deflated.pt" && f.file !== "torch27_layout.pt")

describe("Save", () => {
  it.effect("re-saves torch 1.13 archives byte for byte (1.13 layout, same folder)", () =>
    Effect.gen(function*() {
      assert.isAtLeast(torchWritten.length, 12)
      for (const f of torchWritten) {
        const original = fixtureBytes(f.file)
        const checkpoint = yield* open(original)
        const again = yield* Save.toBytes(checkpoint.value, { layout: "1.13", prefix: checkpoint.prefix!, protocol: protocolOf(f.file) })
        assert.isTrue(equalBytes(again, original), `${f.file}: first difference at byte ${again.findIndex((b, i) => b !== original[i])}`)
      }
    }))

  it.effect("a copied storage keeps its file's CRC-32, so corruption in the source stays detectable", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const source = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const weight = source.entries.find((e) => e.name.endsWith("/data/0"))!
      bytes[(yield* source.dataOffset(weight)) + 1]! ^= 0xff // flip a byte; the CRC is left as it was
      const again = yield* Save.toBytes((yield* open(bytes)).value)
      const copy = yield* Zip.open(ByteSource.fromUint8Array(again), { checkCrc: true })
      const copied = copy.entries.find((e) => e.name.endsWith("/data/0"))!
      assert.strictEqual(copied.crc32, weight.crc32)
      const failure = yield* Effect.flip(copy.read(copied))
      assert.strictEqual(failure._tag === "ZipError" && failure.reason, "CrcMismatch")
      // Storages made in memory get their CRC computed.
      const fresh = yield* Zip.open(ByteSource.fromUint8Array(yield* Save.toBytes(Torch.tensor(new Float32Array([1, 2])))), { checkCrc: true })
      for (const e of fresh.entries) yield* fresh.read(e)
    }))

  it.effect("computeCrc32: false writes every CRC as 0 (torch's compute_crc32=False), even a copied storage's, in the same layout", () =>
    Effect.gen(function*() {
      const value = (yield* open(fixtureBytes("linear.pt"))).value
      const layoutOf = (archive: Zip.ZipArchive) =>
        Effect.forEach(archive.entries, (e) => Effect.map(archive.dataOffset(e), (at) => [e.name, at, e.uncompressedSize, e.crc32 === 0]))
      const withCrc = yield* Zip.open(ByteSource.fromUint8Array(yield* Save.toBytes(value)))
      const bytes = yield* Save.toBytes(value, { computeCrc32: false })
      const noCrc = yield* Zip.open(ByteSource.fromUint8Array(bytes), { checkCrc: true })
      assert.deepStrictEqual(
        yield* layoutOf(noCrc),
        (yield* layoutOf(withCrc)).map(([name, at, size]) => [name, at, size, true])
      )
      assert.isTrue(withCrc.entries.every((e) => e.crc32 !== 0))
      const failure = yield* Effect.flip(noCrc.read(noCrc.entries.find((e) => e.name.endsWith("/data/0"))!))
      assert.strictEqual(failure._tag === "ZipError" && failure.reason, "CrcMismatch")
      // Readers that do not check CRCs (torch's, and torchwire's default) load it as before.
      assert.strictEqual(firstDifference(yield* Summary.summarize((yield* open(bytes)).value), yield* Summary.summarize(value)), undefined)
    }))

  it.effect("lays out the spec's worked example exactly (torch >= 2.7 record set)", () =>
    Effect.gen(function*() {
      const bytes = yield* Save.toBytes(Torch.tensor(new Float32Array([1, 2])))
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const layout = []
      for (const e of archive.entries) layout.push([e.name, e.localHeaderOffset, yield* archive.dataOffset(e), e.uncompressedSize])
      assert.deepStrictEqual(layout, [
        ["archive/data.pkl", 0, 64, 150],
        ["archive/.format_version", 230, 320, 1],
        ["archive/.storage_alignment", 337, 448, 2],
        ["archive/byteorder", 466, 576, 6],
        ["archive/data/0", 598, 704, 8],
        ["archive/version", 728, 832, 2],
        ["archive/.data/serialization_id", 850, 960, 40]
      ])
      assert.strictEqual(archive.entries[0]!.centralOffset, 1016)
      assert.strictEqual(bytes.length, 1577)
    }))

  it.effect("every fixture survives load → save → load with its summary, and a second save is identical", () =>
    Effect.gen(function*() {
      for (const f of checkpointFixtures.filter((x) => x.format !== "pickle")) {
        const first = yield* Save.toBytes((yield* open(fixtureBytes(f.file))).value)
        const reloaded = yield* open(first)
        assert.strictEqual(reloaded.format, "zip")
        const summary = yield* Summary.summarize(reloaded.value)
        assert.strictEqual(firstDifference({ format: f.format, value: summary }, truthOf(f.file)), undefined, f.file)
        const second = yield* Save.toBytes(reloaded.value)
        assert.isTrue(equalBytes(first, second), `${f.file}: the second save differs`)
      }
    }))

  it.effect("data starts at multiples of the alignment, CRCs are right, and small records read back right whatever the padding", () =>
    Effect.gen(function*() {
      const value = (yield* open(fixtureBytes("mobilenet_v2_w025.pt"))).value
      // Small records are read with their local header in one read that guesses torch's 64-byte padding:
      // with none the guess reads a little more, with 4096 the data starts later and is read again.
      for (const alignment of [1, 64, 4096]) {
        const bytes = yield* Save.toBytes(value, { alignment })
        const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes), { checkCrc: true })
        for (const e of archive.entries) yield* archive.read(e)
        for (const e of archive.entries) assert.strictEqual((yield* archive.dataOffset(e)) % alignment, 0, e.name)
      }
    }))

  it.effect("writes records in memory, read whole, batched, ranged and streamed alike: in order, each stream's scope closed when its record ends, neighbours batched (property)", () =>
    Effect.gen(function*() {
      type Kind = "memory" | "read" | "batched" | "ranged" | "stream"
      const record = fc.record({
        kind: fc.constantFrom<Kind>("memory", "read", "batched", "ranged", "stream"),
        bytes: fc.uint8Array({ maxLength: 40 }),
        chunk: fc.integer({ min: 1, max: 16 }),
        reader: fc.integer({ min: 0, max: 1 })
      })
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(fc.array(record, { maxLength: 30 }), async (specs) => {
          let openStreams = 0
          // Two zip archives, each holding every record's bytes and a trailing byte the writer must leave out.
          const calls: Array<ReadonlyArray<number>> = []
          const ranges: Array<readonly [number, number, number]> = []
          const archives = await Promise.all([0, 1].map((reader) =>
            Effect.runPromise(Effect.gen(function*() {
              const members = specs.map((spec, i) => {
                const bytes = concatBytes([spec.bytes, Uint8Array.of(0xee)])
                return { name: `r${i}`, size: bytes.length, data: Torch.RecordBytes.Memory({ bytes }) }
              })
              const bytes = concatBytes([...yield* Stream.runCollect(archiveStream(`zip${reader}`, members, { alignment: 1, crc32 }))])
              const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
              const indexOf = (e: Zip.ZipEntry) => Number(e.name.slice(e.name.lastIndexOf("/r") + 2))
              return { ...archive, readMany: (entries: ReadonlyArray<Zip.ZipEntry>) => (calls.push(entries.map(indexOf)), archive.readMany(entries)) }
            }))))
          const rangeSource = (i: number, bytes: Uint8Array): ByteSource.ByteSource => ({
            name: `r${i}`,
            size: bytes.length,
            read: (offset, length) =>
              Effect.sync(() => {
                ranges.push([i, offset, length])
                return bytes.slice(offset, offset + length)
              })
          })
          const records = specs.map((spec, i) => ({
            i,
            data: spec.kind === "memory"
              ? Torch.RecordBytes.Memory({ bytes: spec.bytes })
              : spec.kind === "read"
              ? Torch.RecordBytes.Computed({ read: Effect.succeed(spec.bytes), size: spec.bytes.length })
              : spec.kind === "batched"
              ? Torch.RecordBytes.ZipEntry({ archive: archives[spec.reader]!, entry: archives[spec.reader]!.entries.find((e) => e.name.endsWith(`/r${i}`))!, size: spec.bytes.length, ranged: false })
              : spec.kind === "ranged"
              ? Torch.RecordBytes.SourceRange({ source: rangeSource(i, spec.bytes), offset: 0, size: spec.bytes.length })
              : Torch.RecordBytes.Streamed({
                stream: Stream.acquireRelease(Effect.sync(() => void openStreams++), () => Effect.sync(() => void openStreams--)).pipe(
                  Stream.flatMap(() => Stream.fromIterable(chunksOf(spec.bytes, spec.chunk)))
                ),
                size: spec.bytes.length
              })
          }))
          const out = await Effect.runPromise(Stream.runCollect(writeRecords(records, {
            begin: (r) => {
              assert.strictEqual(openStreams, 0, "the previous record's stream is closed")
              return Uint8Array.of(0xb0, r.i)
            },
            data: (c) => c,
            end: () => Uint8Array.of(0xe0),
            finish: () => [Uint8Array.of(0xff)]
          })))
          const expected = concatBytes([...specs.flatMap((spec, i) => [Uint8Array.of(0xb0, i), spec.bytes, Uint8Array.of(0xe0)]), Uint8Array.of(0xff)])
          assert.deepStrictEqual(concatBytes([...out]), expected)
          assert.strictEqual(openStreams, 0)
          // A source range this small is one read of all of it.
          assert.deepStrictEqual(ranges, specs.flatMap((spec, i) => (spec.kind === "ranged" ? [[i, 0, spec.bytes.length]] : [])))
          // Each batched record is read once, in one call per archive for each read-ahead: a read-ahead ends at a
          // record that is neither read whole nor batched, or at its 17th record read whole on its own (small
          // source ranges are read whole).
          assert.deepStrictEqual(calls.flat().sort((a, b) => a - b), specs.flatMap((spec, i) => (spec.kind === "batched" ? [i] : [])))
          const count = (...kinds: Array<Kind>) => specs.filter((spec) => kinds.includes(spec.kind)).length
          const readAheads = count("memory", "stream") + 1 + Math.floor(count("read", "ranged") / 16)
          const readersUsed = new Set(specs.filter((spec) => spec.kind === "batched").map((spec) => spec.reader)).size
          assert.isAtMost(calls.length, readAheads * readersUsed)
        }), { numRuns: Number(process.env.TORCHWIRE_PROPERTY_RUNS ?? 300) })
      )
    }))

  it.effect("a pull writes at most 1 MiB of in-memory data (a file write), so one write's checksum overlaps another; a failing read fails the stream", () =>
    Effect.gen(function*() {
      const big = new Uint8Array(9 << 20)
      const noop = { begin: () => new Uint8Array(0), data: (c: Uint8Array) => c, end: () => new Uint8Array(0), finish: () => [] }
      const sizes: Array<number> = []
      const inMemory = (bytes: Uint8Array) => ({ data: Torch.RecordBytes.Memory({ bytes }) })
      yield* Stream.runForEachChunk(writeRecords([inMemory(big.subarray(0, 5 << 19)), inMemory(new Uint8Array(10))], noop), (chunk) =>
        Effect.sync(() => void sizes.push([...chunk].reduce((n, c) => n + c.length, 0))))
      assert.deepStrictEqual(sizes, [1 << 20, 1 << 20, (1 << 19) + 10])
      const failure = new CheckpointError({ reason: "StorageTooShort", offset: 0, detail: "x" })
      const error = yield* Stream.runDrain(writeRecords([{ data: Torch.RecordBytes.Computed({ read: Effect.fail(failure), size: 1 }) }], noop)).pipe(Effect.flip)
      assert.strictEqual(error, failure)
      // A large source range is read 4 MiB per pull, each pull one read; its end shares a pull with what follows.
      const reads: Array<readonly [number, number]> = []
      const source: ByteSource.ByteSource = { name: "big", size: big.length, read: (offset, length) => Effect.sync(() => (reads.push([offset, length]), big.subarray(offset, offset + length))) }
      const ranged = Torch.RecordBytes.SourceRange({ source, offset: 0, size: big.length })
      const rangedSizes: Array<number> = []
      yield* Stream.runForEachChunk(writeRecords([{ data: ranged }, inMemory(new Uint8Array(10))], noop), (chunk) =>
        Effect.sync(() => void rangedSizes.push([...chunk].reduce((n, c) => n + c.length, 0))))
      assert.deepStrictEqual(rangedSizes, [4 << 20, 4 << 20, (1 << 20) + 10])
      assert.deepStrictEqual(reads, [[0, 4 << 20], [4 << 20, 4 << 20], [8 << 20, 1 << 20]])
      const readFailure = new SourceError({ reason: "ReadFailed", source: "failing", offset: 0 })
      const failing: ByteSource.ByteSource = { name: "failing", size: 5 << 20, read: () => Effect.fail(readFailure) }
      const rangeError = yield* Stream.runDrain(writeRecords([{ data: Torch.RecordBytes.SourceRange({ source: failing, offset: 0, size: 5 << 20 }) }], noop)).pipe(Effect.flip)
      assert.strictEqual(rangeError, readFailure)
    }))

  it.live("readAhead reads a file's storages ahead of the consumer, and leaves storages in memory to its pulls", () =>
    Effect.gen(function*() {
      let reads = 0
      let crcs = 0
      // Eight storages of 1 MiB, in memory and in an archive (read by ranges, one storage per pull).
      const inMemory = Effect.sync(() => new OrderedDict(Array.from({ length: 8 }, (_, i) => [`t${i}`, Torch.tensor(new Float32Array(1 << 18).fill(i))])))
      const inner = ByteSource.fromUint8Array(yield* Save.toBytes(yield* inMemory))
      const counting: ByteSource.ByteSource = { ...inner, read: (offset, length) => Effect.zipRight(Effect.sync(() => void reads++), inner.read(offset, length)) }
      const fromFile = Effect.map(Checkpoint.open(counting), (c) => c.value)
      const crc32 = (_: Uint8Array, crc: number) => (crcs++, crc)
      /** What a fresh value's stream asked for (reads, CRC-32 calls) by the time one chunk was pulled and it had 50 ms to itself. */
      const afterOnePull = (make: Effect.Effect<PyValue, TorchwireError>, readAhead: number) =>
        Effect.scoped(Effect.gen(function*() {
          const value = yield* make
          const pull = yield* Stream.toPull(Save.toStream(value, { readAhead, crc32 }))
          reads = 0
          crcs = 0
          yield* pull
          yield* Effect.sleep("50 millis")
          return { reads, crcs }
        }))
      assert.isAbove((yield* afterOnePull(fromFile, 2)).reads, (yield* afterOnePull(fromFile, 0)).reads)
      assert.strictEqual((yield* afterOnePull(inMemory, 2)).crcs, (yield* afterOnePull(inMemory, 0)).crcs)
    }))

  it.effect("streams storages chunk by chunk from their source", () =>
    Effect.gen(function*() {
      const value = (yield* open(fixtureBytes("mobilenet_v2_w025.pt"))).value
      const chunks = yield* Stream.runCollect(Save.toStream(value))
      const largest = Math.max(...[...chunks].map((c) => c.length))
      const tensorBytes = Checkpoint.tensors(value).reduce((n, [, t]) => Math.max(n, t.storage!.nbytes), 0)
      assert.isAtMost(largest, tensorBytes, "no chunk is larger than the largest storage")
    }))

  it.effect("large STORED storages are copied by ranges, byte for byte; with checkCrc they are streamed and checked", () =>
    Effect.gen(function*() {
      const weights = Float32Array.from({ length: 9 << 18 }, (_, i) => i % 1000) // 9 MiB: three ranges
      const original = yield* Save.toBytes(new OrderedDict([["w", Torch.tensor(weights)], ["b", Torch.tensor(new Float32Array([1, 2]))]]))
      const opened = (yield* open(original)).value
      const [, w] = Checkpoint.tensors(opened).find(([k]) => k === "w")!
      assert.isTrue(w.storage!.bytes._tag === "ZipEntry" && w.storage!.bytes.ranged, "a STORED entry is read by ranges")
      const again = yield* Save.toBytes(opened)
      assert.isTrue(equalBytes(again, original), `first difference at byte ${again.findIndex((b, i) => b !== original[i])}`)
      // The streaming format's sender reads them by ranges too.
      const sent = (yield* Streaming.load(Streaming.encode(opened), { weightsOnly: false })).value
      const received = yield* Checkpoint.tensors(sent).find(([k]) => k === "w")![1].storage!.read
      assert.isTrue(equalBytes(received, new Uint8Array(weights.buffer)))
      const corrupt = original.slice()
      const archive = yield* Zip.open(ByteSource.fromUint8Array(corrupt))
      corrupt[(yield* archive.dataOffset(archive.entries.find((e) => e.name.endsWith("/data/0"))!)) + (5 << 20)]! ^= 0xff
      const checked = (yield* Checkpoint.open(ByteSource.fromUint8Array(corrupt), { weightsOnly: false, checkCrc: true })).value
      const checkedBytes = Checkpoint.tensors(checked).find(([k]) => k === "w")![1].storage!.bytes
      assert.isTrue(checkedBytes._tag === "ZipEntry" && !checkedBytes.ranged, "an entry whose CRC-32 is checked is streamed")
      const failure = yield* Effect.flip(Save.toBytes(checked))
      assert.strictEqual(failure._tag === "ZipError" && failure.reason, "CrcMismatch")
    }))

  it.effect("the CRC-32 comes from the Checksum.Crc32 service: core's by default, a layer's when provided, the option's over both", () =>
    Effect.gen(function*() {
      const value = new OrderedDict([["w", Torch.tensor(new Float32Array([1, 2, 3]))]])
      let calls = 0
      const counting = (data: Uint8Array, crc: number) => (calls++, crc32(data, crc))
      const byDefault = yield* Save.toBytes(value)
      const viaLayer = yield* Save.toBytes(value).pipe(Effect.provide(Checksum.layer(counting)))
      assert.isAbove(calls, 0)
      assert.isTrue(equalBytes(viaLayer, byDefault))
      calls = 0
      const zeros = yield* Save.toBytes(value, { crc32: () => 0 }).pipe(Effect.provide(Checksum.layer(counting)))
      assert.strictEqual(calls, 0)
      const failure = yield* Effect.flip(Effect.flatMap(Zip.open(ByteSource.fromUint8Array(zeros), { checkCrc: true }), (z) => z.read(z.entries[0]!)))
      assert.strictEqual(failure._tag === "ZipError" && failure.reason, "CrcMismatch")
    }))

  it.effect("tensors built from typed arrays, every dtype, float16/bfloat16 from float32", () =>
    Effect.gen(function*() {
      const f32 = new Float32Array([0.1, -2.5, 65504, 1e-8, NaN, Infinity])
      const sd = new OrderedDict([
        ["f32", Torch.tensor(f32, { shape: [2, 3] })],
        ["f16", Torch.tensor(f32, { dtype: "float16" })],
        ["bf16", Torch.tensor(f32, { dtype: "bfloat16" })],
        ["i64", Torch.tensor(new BigInt64Array([-(2n ** 62n), 7n]))],
        ["u16", Torch.tensor([1, 65535], { dtype: "uint16" })],
        ["bool", Torch.tensor([1, 0, 1], { dtype: "bool" })],
        ["fp8", Torch.fromBytes(new Uint8Array([0x38, 0x40]), "float8_e4m3fn", [2])],
        ["param", Torch.parameter(Torch.tensor(new Float64Array([1, 2])))]
      ])
      const loaded = (yield* open(yield* Save.toBytes(sd))).value as OrderedDict
      const get = (k: string) => loaded.get(k) as Torch.Tensor
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(get("f32"))) as Float32Array), Array.from(f32))
      assert.deepStrictEqual(Array.from(yield* Torch.toFloat32(get("f16"))), [0.0999755859375, -2.5, 65504, 0, NaN, Infinity]) // torch 1.13: x.half().float()
      assert.deepStrictEqual(Array.from(yield* Torch.toFloat32(get("bf16"))), [0.10009765625, -2.5, 65536, 1.0011717677116394e-8, NaN, Infinity]) // torch 1.13: x.bfloat16().float()
      assert.deepStrictEqual(Array.from((yield* Torch.toTypedArray(get("i64"))) as BigInt64Array), [-(2n ** 62n), 7n])
      assert.strictEqual(get("u16").dtype.name, "uint16")
      assert.strictEqual(get("fp8").dtype.name, "float8_e4m3fn")
      assert.instanceOf(get("param"), Torch.Parameter)
      assert.isTrue(get("param").requiresGrad)
    }))

  it.effect("quantized tensors from bytes, and one storage viewed as two types is refused", () =>
    Effect.gen(function*() {
      const q = Torch.fromBytes(new Uint8Array([1, 2, 3, 250]), "qint8", [2, 2], { quantization: { scheme: "per_tensor_affine", scale: 0.5, zeroPoint: 3 } })
      const back = (yield* open(yield* Save.toBytes(q))).value as Torch.Tensor
      assert.deepStrictEqual(back.quantization, { scheme: "per_tensor_affine", scale: 0.5, zeroPoint: 3 })
      assert.throws(() => Torch.fromBytes(new Uint8Array(4), "qint8", [4]), /needs quantization/)
      const f = Torch.tensor(new Float32Array(4))
      const asInt = new Torch.Tensor(Torch.dtypes.get("int32")!, [4], [1], 0, f.storage, false)
      const error = yield* Effect.flip(Save.toBytes([f, asInt]))
      assert.include(error.message, "view the same data as different types")
    }))

  it("rounds float16 and bfloat16 to nearest even", () => {
    assert.strictEqual(Torch.floatToHalf(1), 0x3c00)
    assert.strictEqual(Torch.floatToHalf(1 + 2 ** -11), 0x3c00, "tie to even (down)")
    assert.strictEqual(Torch.floatToHalf(1 + 3 * 2 ** -11), 0x3c02, "tie to even (up)")
    assert.strictEqual(Torch.floatToHalf(2 ** -24), 0x0001, "smallest subnormal")
    assert.strictEqual(Torch.floatToHalf(70000), 0x7c00, "overflow to inf")
    assert.strictEqual(Torch.floatToBFloat16(1), 0x3f80)
    assert.strictEqual(Torch.floatToBFloat16(-0), 0x8000)
    for (let h = 0; h < 0x7c00; h += 7) assert.strictEqual(Torch.floatToHalf(Torch.halfToFloat(h)), h)
  })

  it("names archives as torch.save does", () => {
    assert.strictEqual(Save.prefixFor("/x/model.pt"), "model")
    assert.strictEqual(Save.prefixFor("C:\\y\\model.tar.pt"), "model.tar")
    assert.strictEqual(Save.prefixFor("/x/.pt"), "archive")
    assert.strictEqual(Save.prefixFor("/x/modèle.pt"), "archive")
  })
})
