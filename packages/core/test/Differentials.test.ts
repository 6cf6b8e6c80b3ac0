/**
 * Files that read one way in torch and another in a careless reader
 * (issue 25): torchwire reads each as torch does, refuses what is ambiguous
 * with a typed error, and never calls one safe. (That torch runs their
 * payloads is checked against real torch in @torchwire/node's interop
 * tests.) Bombs are refused before their memory is spent; the scanner is
 * linear on every opcode sequence.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Container from "@torchwire/core/Container"
import * as Pickle from "@torchwire/core/Pickle"
import * as Scan from "@torchwire/core/Scan"
import * as Streaming from "@torchwire/core/Streaming"
import { encodeHeader } from "../src/internal/streaming/streamingFormat.js"
import { differentials, emptyDict, payload, tarOf, zipBomb, zipOf } from "@torchwire/test-utils/differentials"
import { fixtureBytes, maliciousSamples } from "@torchwire/test-utils"
import fc from "fast-check"
import { makeStreamScanner, scanPickles } from "../src/internal/pickle/scanPickle.js"

const source = (bytes: Uint8Array, name = "file") => ByteSource.fromUint8Array(bytes, name)
const byName = new Map(differentials().map((d) => [d.file, d]))
const bytesOf = (file: string) => byName.get(file)!.bytes

describe("differentials", () => {
  for (const d of differentials()) {
    it.effect(`scan finds the payload of ${d.file}: ${d.note}`, () =>
      Effect.gen(function*() {
        const report = yield* Scan.scan(source(d.bytes, d.file))
        assert.strictEqual(report.verdict, "dangerous", JSON.stringify(report))
        assert.isTrue(report.globals.some((g) => `${g.module}.${g.name}` === "posix.mkdir" && g.class === "dangerous"))
      }))
  }

  it.effect("each is recognized as torch.load reads it", () =>
    Effect.gen(function*() {
      const formats = yield* Effect.forEach(differentials(), (d) => Effect.map(Container.open(source(d.bytes)), (c) => [d.file, c.format] as const))
      assert.deepStrictEqual(Object.fromEntries(formats), {
        "upper_case_data_pkl.pt": "zip",
        "case_collision.pt": "zip",
        "duplicate_data_pkl.pt": "zip",
        "ptmf_pickle.pt": "flatbuffer",
        "legacy_stream_marker.pt": "legacy",
        "protocol4_no_proto.pkl": "pickle",
        "tar_storages_payload.pt": "tar",
        "tar_bad_checksum.pt": "pickle",
        "tar_bad_later_header.pt": "tar",
        "two_directories.pt": "zip",
        "two_end_records.pt": "zip"
      })
    }))

  it.effect("records are found whatever their case, as torch's reader finds them", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(Checkpoint.open(source(bytesOf("upper_case_data_pkl.pt"))))
      assert.strictEqual(refused._tag === "PickleError" && refused.reason, "ForbiddenGlobal")
      assert.include(refused.message, "archive/DATA.PKL")
      const opaque = yield* Checkpoint.open(source(bytesOf("upper_case_data_pkl.pt")), { weightsOnly: false })
      assert.deepStrictEqual(opaque.records, ["DATA.PKL", "version"])
    }))

  it.effect("names that repeat once case is folded are Ambiguous to open and a problem to scan", () =>
    Effect.gen(function*() {
      for (const file of ["case_collision.pt", "duplicate_data_pkl.pt"]) {
        const error = yield* Effect.flip(Checkpoint.open(source(bytesOf(file)), { weightsOnly: false }))
        assert.strictEqual(error._tag === "CheckpointError" && error.reason, "Ambiguous", file)
        const report = yield* Scan.scan(source(bytesOf(file)))
        assert.lengthOf(report.problems, 1, file)
        assert.strictEqual(report.problems[0]!.record, file === "case_collision.pt" ? "archive/Data.pkl" : "archive/data.pkl")
      }
      const twoFolders = zipOf([["a/data.pkl", emptyDict], ["a/version", new TextEncoder().encode("3\n")], ["b/data.pkl", payload]])
      const report = yield* Scan.scan(source(twoFolders))
      assert.strictEqual(report.verdict, "dangerous")
      assert.include(report.problems[0]!.detail, "not under the archive folder")
    }))

  it.effect("a second directory or end record is Ambiguous to open and a problem to scan; the directory read is torch's", () =>
    Effect.gen(function*() {
      for (const file of ["two_directories.pt", "two_end_records.pt"]) {
        const container = yield* Container.open(source(bytesOf(file)))
        assert.strictEqual(container._tag === "Zip" && container.archive.entries.length, 2, file)
        const error = yield* Effect.flip(Checkpoint.open(container, { weightsOnly: false }))
        assert.strictEqual(error._tag === "CheckpointError" && error.reason, "Ambiguous", file)
        const report = yield* Scan.scan(container)
        assert.isAbove(report.problems.length, 0, file)
      }
    }))

  it.effect("a tar member torch would read twice is Ambiguous", () =>
    Effect.gen(function*() {
      const twice = tarOf([["sys_info", emptyDict], ["storages", emptyDict], ["storages", payload], ["tensors", emptyDict], ["pickle", emptyDict]])
      const error = yield* Effect.flip(Checkpoint.open(source(twice), { weightsOnly: false }))
      assert.strictEqual(error._tag === "CheckpointError" && error.reason, "Ambiguous")
      const report = yield* Scan.scan(source(twice))
      assert.strictEqual(report.verdict, "dangerous")
      assert.lengthOf(report.problems, 1)
    }))

  it.effect("a zip bomb (1 MiB declaring a 100-byte data.pkl that inflates to 1 GiB) fails InflateFailed without inflating it", () =>
    Effect.gen(function*() {
      const archive = zipBomb()
      const before = process.memoryUsage().rss
      const error = yield* Effect.flip(Checkpoint.open(source(archive), { weightsOnly: false }))
      assert.strictEqual(error._tag === "ZipError" && error.reason, "InflateFailed", error.message)
      assert.isBelow(process.memoryUsage().rss - before, 256 << 20, "memory grew by less than 256 MiB")
      const report = yield* Scan.scan(source(archive))
      assert.strictEqual(report.verdict, "suspicious")
      assert.include(report.unreadable[0], "InflateFailed")
    }))

  it.effect("a stream naming a record outside the archive folder (../../x) is refused, loaded or converted", () =>
    Effect.gen(function*() {
      for (const key of ["../../x", "/etc/passwd", "data/./0", "a\\b", ""]) {
        const bytes = new Uint8Array([...encodeHeader([{ key, isStorage: false, length: 1 }]), 0x41])
        const loaded = yield* Effect.flip(Streaming.load(Stream.make(bytes), { weightsOnly: false }))
        assert.strictEqual(loaded._tag === "CheckpointError" && loaded.reason, "BadRecord", key)
        const converted = yield* Effect.flip(Stream.runDrain(Streaming.toArchive(Stream.make(bytes))))
        assert.include(converted.message, "not a relative path inside the archive", key)
      }
    }))

  it("the streaming scanner finds what the whole-buffer scanner finds, at any chunk boundaries (property)", () => {
    const samples = [...maliciousSamples.map((m) => fixtureBytes(`malicious/${m.file}`)), ...differentials().filter((d) => d.file.endsWith(".pkl")).map((d) => d.bytes)]
    fc.assert(fc.property(fc.integer({ min: 0, max: samples.length - 1 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (which, sizes) => {
      const bytes = samples[which]!
      const whole = scanPickles(bytes, "r")
      const scanner = makeStreamScanner("r")
      for (let at = 0, i = 0; at < bytes.length; at += sizes[i++ % sizes.length]!) scanner.push(bytes.subarray(at, at + sizes[i % sizes.length]!))
      const streamed = scanner.end()
      assert.deepStrictEqual(streamed.globals, whole.globals)
      assert.strictEqual(streamed.error === undefined, whole.error === undefined)
    }), { numRuns: 200 })
  })

  it.effect("a pickle too large to hold (300 MiB) is scanned as it streams, and never called safe", () =>
    Effect.gen(function*() {
      // A 300 MiB bytes argument, then the payload: the scan refuses an opcode that long, so the file is suspicious.
      const big = 300 << 20
      const bytes = new Uint8Array(12 + big + 1 + payload.length)
      bytes.set([0x80, 0x04, 0x8e, big & 0xff, (big >>> 8) & 0xff, (big >>> 16) & 0xff, (big >>> 24) & 0xff, 0, 0, 0, 0], 0)
      bytes[11 + big] = 0x30
      bytes.set(payload, 12 + big)
      const report = yield* Scan.scan(source(bytes, "big.pkl"))
      assert.strictEqual(report.verdict, "suspicious")
      assert.include(report.unreadable[0], "past what is scanned")
    }), 60_000)

  it.effect("scanning is linear: 2 MB of ( then l, and of l alone; dis of them is bounded", () =>
    Effect.gen(function*() {
      const n = 1 << 20
      const marks = new Uint8Array(2 * n + 1).fill(0x28, 0, n).fill(0x6c, n, 2 * n)
      marks[2 * n] = 0x2e
      const lists = new Uint8Array(2 * n).fill(0x6c)
      for (const bytes of [marks, lists]) {
        const report = yield* Scan.scan(source(bytes))
        assert.deepStrictEqual(report.globals, [])
      }
      // Disassembled, a million nested MARKs would take terabytes of pickletools' indentation: dis stops at its budget.
      const text = Pickle.unsafeDisassemble(marks)
      assert.isBelow(text.length, (64 << 20) + (1 << 20))
      assert.match(text.slice(-200), /\n\.\.\. output stopped after \d+ bytes: \d+ more opcodes\nhighest protocol among opcodes = 0\n$/)
    }), 20_000)
})
