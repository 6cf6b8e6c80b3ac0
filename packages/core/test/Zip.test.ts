/**
 * The zip layer on real torch archives and on hand-made edge cases.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Pickle from "@torchwire/core/Pickle"
import * as Save from "@torchwire/core/Save"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict } from "@torchwire/core/Value"
import * as Zip from "@torchwire/core/Zip"
import fc from "fast-check"
import { parseCentralDirectory } from "../src/internal/container/zipFormat.js"
import { concatBytes } from "../src/internal/bytes.js"
import { fixtureBytes } from "@torchwire/test-utils"


describe("Zip", () => {
  it.effect("lists torch's records with 64-byte aligned data", () =>
    Effect.gen(function*() {
      const archive = yield* Zip.open(ByteSource.fromUint8Array(fixtureBytes("linear.pt")))
      const names = yield* Stream.runCollect(Zip.entries(archive).pipe(Stream.map((e) => e.name)))
      assert.deepStrictEqual(Chunk.toReadonlyArray(names), ["linear/data.pkl", "linear/data/0", "linear/data/1", "linear/version"])
      for (const e of archive.entries) assert.strictEqual((yield* archive.dataOffset(e)) % 64, 0)
      assert.strictEqual(new TextDecoder().decode(yield* archive.read(archive.entry("linear/version")!)), "3\n")
    }))

  it.effect("reads an archive that starts after a prefix (concatenated or self-extracting files)", () =>
    Effect.gen(function*() {
      const original = fixtureBytes("linear.pt")
      const prefixed = concatBytes([new Uint8Array(1000).fill(7), original])
      const archive = yield* Zip.open(ByteSource.fromUint8Array(prefixed))
      const plain = yield* Zip.open(ByteSource.fromUint8Array(original))
      for (let i = 0; i < archive.entries.length; i++) {
        assert.strictEqual(archive.entries[i]!.localHeaderOffset, plain.entries[i]!.localHeaderOffset + 1000)
        assert.deepStrictEqual(yield* archive.read(archive.entries[i]!), yield* plain.read(plain.entries[i]!))
      }
    }))

  it.effect("inflates DEFLATE entries whole and as a stream in small chunks", () =>
    Effect.gen(function*() {
      const archive = yield* Zip.open(ByteSource.fromUint8Array(fixtureBytes("deflated.pt")), { checkCrc: true })
      const pkl = archive.entries.find((e) => e.name.endsWith("data.pkl"))!
      assert.strictEqual(pkl.method, 8)
      const whole = yield* archive.read(pkl)
      const chunks = yield* Stream.runCollect(archive.stream(pkl, { chunkSize: 7 }))
      assert.deepStrictEqual(concatBytes(Chunk.toReadonlyArray(chunks)), whole)
      const checkpoint = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes("deflated.pt")), { checkCrc: true })
      assert.strictEqual(Checkpoint.tensors(checkpoint.value).length, 2)
    }))

  it.effect("zip entry chunks compose with the pickle opcode stream", () =>
    Effect.gen(function*() {
      const archive = yield* Zip.open(ByteSource.fromUint8Array(fixtureBytes("deflated.pt")))
      const pkl = archive.entries.find((e) => e.name.endsWith("data.pkl"))!
      const ops = yield* Stream.runCollect(archive.stream(pkl, { chunkSize: 13 }).pipe(Pickle.decodeStream({ record: pkl.name })))
      assert.deepStrictEqual(Chunk.toReadonlyArray(ops), Pickle.unsafeOpcodes(yield* archive.read(pkl)))
    }))

  it.effect("checks CRC-32 only when asked", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const plain = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const entry = plain.entry("linear/data/0")!
      bytes[(yield* plain.dataOffset(entry)) + 1] ^= 0xff
      const unchecked = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      assert.strictEqual((yield* unchecked.read(entry)).length, entry.uncompressedSize)
      const checked = yield* Zip.open(ByteSource.fromUint8Array(bytes), { checkCrc: true })
      const error = yield* Effect.flip(checked.read(entry))
      assert.strictEqual(error._tag === "ZipError" && error.reason, "CrcMismatch")
      assert.include(error.message, "linear/data/0")
      const streamed = yield* Effect.flip(Stream.runDrain(checked.stream(entry, { chunkSize: 5 })))
      assert.strictEqual(streamed._tag === "ZipError" && streamed.reason, "CrcMismatch")
    }))

  it.effect("reads ranges of STORED entries (into the stream buffer ring when large), and refuses compressed entries and ranges outside", () =>
    Effect.gen(function*() {
      const archive = yield* Zip.open(ByteSource.fromUint8Array(fixtureBytes("linear.pt")))
      const entry = archive.entry("linear/data/0")!
      const whole = yield* archive.read(entry)
      assert.deepStrictEqual(yield* archive.readRange(entry, 4, 8), whole.slice(4, 12))
      assert.deepStrictEqual(yield* archive.readRange(entry, 0, whole.length), whole)
      for (const [offset, length] of [[-1, 2], [0, whole.length + 1], [whole.length, 1], [0.5, 1]] as const) {
        const error = yield* Effect.flip(archive.readRange(entry, offset, length))
        assert.strictEqual(error._tag === "ZipError" && error.reason, "LimitExceeded", `${offset}+${length}`)
        assert.strictEqual(error._tag === "ZipError" && error.record, entry.name)
      }
      const deflated = yield* Zip.open(ByteSource.fromUint8Array(fixtureBytes("deflated.pt")))
      const pkl = deflated.entries.find((e) => e.method === 8)!
      const refused = yield* Effect.flip(deflated.readRange(pkl, 0, 1))
      assert.strictEqual(refused._tag === "ZipError" && refused.reason, "UnsupportedCompression")
      // A large range from a source that reads into buffers lands in the ring's buffer, reused `count` takes later.
      const bigBytes = yield* Save.toBytes(Torch.tensor(new Float32Array(1 << 18).fill(3)))
      const copying: ByteSource.ByteSource = {
        ...ByteSource.fromUint8Array(bigBytes),
        readInto: (offset, target) => Effect.sync(() => target.set(bigBytes.subarray(offset, offset + target.length)))
      }
      const big = yield* Zip.open(copying)
      const data = big.entries.find((e) => e.name.endsWith("/data/0"))!
      const ring = ByteSource.bufferRing(2)
      const viaRing = yield* Effect.locally(big.readRange(data, 0, 1 << 20), ByteSource.StreamBufferRing, ring)
      assert.deepStrictEqual(viaRing, yield* big.read(data))
      ring.take(1 << 20)
      assert.strictEqual(ring.take(1 << 20).buffer, viaRing.buffer, "the range was read into the ring")
    }))

  it("parses zip64 extras for sizes and offsets beyond 4 GiB", () => {
    const name = new TextEncoder().encode("a/data/0")
    const cd = new Uint8Array(46 + name.length + 4 + 24)
    const v = new DataView(cd.buffer)
    v.setUint32(0, 0x02014b50, true)
    v.setUint32(20, 0xffffffff, true) // compressed
    v.setUint32(24, 0xffffffff, true) // uncompressed
    v.setUint16(28, name.length, true)
    v.setUint16(30, 4 + 24, true)
    v.setUint32(42, 0xffffffff, true) // local header offset
    cd.set(name, 46)
    const e = 46 + name.length
    v.setUint16(e, 0x0001, true)
    v.setUint16(e + 2, 24, true)
    v.setBigUint64(e + 4, 2n ** 32n + 64n, true)
    v.setBigUint64(e + 12, 2n ** 32n + 64n, true)
    v.setBigUint64(e + 20, 5n * 2n ** 30n, true)
    const [entry] = parseCentralDirectory(cd, 0, 1, 0)
    assert.strictEqual(entry!.uncompressedSize, 2 ** 32 + 64)
    assert.strictEqual(entry!.compressedSize, 2 ** 32 + 64)
    assert.strictEqual(entry!.localHeaderOffset, 5 * 2 ** 30)
  })

  it.effect("refuses entry counts that cannot fit the central directory", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      // classic end record: total entries (u16 at +10) in a zip64 archive is ignored; patch the zip64 record's count.
      const v = new DataView(bytes.buffer)
      const z64 = bytes.length - 22 - 20 - 56
      v.setBigUint64(z64 + 32, 10n ** 9n, true)
      const error = yield* Effect.flip(Zip.open(ByteSource.fromUint8Array(bytes)))
      assert.strictEqual(error._tag === "ZipError" && error.reason, "LimitExceeded")
    }))

  it.effect("readMany gives each entry's content, in the order asked, reading spans of the file (property)", () =>
    Effect.gen(function*() {
      const deflated = fixtureBytes("deflated.pt")
      const tensorSizes = fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 12 })
      const archives = fc.oneof(
        fc.record({ sizes: tensorSizes, alignment: fc.constantFrom(1, 64, 4096), prefix: fc.nat(100) }),
        fc.constant("deflated" as const)
      )
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(archives, fc.array(fc.nat(), { maxLength: 20 }), async (spec, picks) => {
          const bytes = spec === "deflated" ? deflated : await Effect.runPromise(Effect.map(
            Save.toBytes(new OrderedDict(spec.sizes.map((n, i) => [`t${i}`, Torch.tensor(Float32Array.from({ length: n }, (_, j) => i + j))])), { alignment: spec.alignment }),
            (saved) => concatBytes([new Uint8Array(spec.prefix).fill(1), saved])
          ))
          let reads = 0
          const plain = ByteSource.fromUint8Array(bytes)
          const source: ByteSource.ByteSource = { ...plain, read: (offset, length) => Effect.suspend(() => (reads++, plain.read(offset, length))) }
          const archive = await Effect.runPromise(Zip.open(source, { checkCrc: true }))
          const asked = picks.map((p) => archive.entries[p % archive.entries.length]!)
          const many = await Effect.runPromise(archive.readMany(asked))
          const one = await Effect.runPromise(Effect.forEach(asked, archive.read))
          assert.deepStrictEqual(many.map((b) => Array.from(b)), one.map((b) => Array.from(b)))
          // torch's layout (data 64-aligned, no gaps) of entries under 64 KiB, in an archive under 1 MiB: one read for all.
          if (spec !== "deflated" && spec.alignment === 64 && spec.sizes.every((n) => n * 4 <= 64_000)) {
            const fresh = await Effect.runPromise(Zip.open(source))
            const before = reads
            await Effect.runPromise(fresh.readMany(fresh.entries))
            assert.strictEqual(reads - before, 1)
          }
        }), { numRuns: Number(process.env.TORCHWIRE_PROPERTY_RUNS ?? 60) })
      )
    }))

  it.effect("readMany fails with the record and offset of a bad local header among its neighbours", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const entries = (yield* Zip.open(ByteSource.fromUint8Array(bytes))).entries
      const bad = entries.find((e) => e.name === "linear/data/0")!
      bytes[bad.localHeaderOffset] ^= 0xff
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const error = yield* Effect.flip(archive.readMany(entries))
      assert.strictEqual(error._tag === "ZipError" && error.reason, "BadLocalHeader")
      assert.strictEqual(error._tag === "ZipError" && error.record, "linear/data/0")
      assert.strictEqual(error.offset, bad.localHeaderOffset)
    }))
})
