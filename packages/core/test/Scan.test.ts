/**
 * scan: every malicious sample is flagged with its real global; every
 * weights-only fixture scans safe; nothing benign is called dangerous.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Scan from "@torchwire/core/Scan"
import { fixtureBytes, fixtures, isModuleFixture, maliciousSamples } from "@torchwire/test-utils"

const scan = (file: string) => Scan.scan(ByteSource.fromUint8Array(fixtureBytes(file), file))

describe("Scan", () => {
  it.effect("lists 16 occurrences of a global and 10,000 globals per record, then only dangerous ones, and counts the rest", () =>
    Effect.gen(function*() {
      const ascii = (text: string) => Array.from(text, (c) => c.charCodeAt(0))
      // GLOBAL then POP: 100,000 times one unknown global, then 20,000 distinct ones, then maybe os.system.
      const pickle = (tail: string) =>
        Uint8Array.from([
          0x80, 0x02,
          ...Array.from({ length: 100_000 }, () => [...ascii("cmod\nsame\n"), 0x30]).flat(),
          ...Array.from({ length: 20_000 }, (_, i) => [...ascii(`cmod\nn${i}\n`), 0x30]).flat(),
          ...ascii(tail), 0x4e, 0x2e
        ])
      const quiet = yield* Scan.scan(ByteSource.fromUint8Array(pickle("")))
      assert.strictEqual(quiet.globals.length, 10_000)
      assert.strictEqual(quiet.globals.filter((g) => g.name === "same").length, 16)
      assert.deepStrictEqual([quiet.repeats, quiet.unlisted, quiet.verdict], [100_000 - 16, 20_000 - 9_984, "suspicious"])
      const loud = yield* Scan.scan(ByteSource.fromUint8Array(pickle("cos\nsystem\n0")))
      const last = loud.globals.at(-1)!
      assert.deepStrictEqual([last.module, last.name, last.class], ["os", "system", "dangerous"])
      assert.isAbove(last.offset, 1_000_000)
      assert.strictEqual(loud.verdict, "dangerous")
    }))

  assert.isAtLeast(maliciousSamples.length, 30)
  for (const sample of maliciousSamples) {
    it.effect(`flags ${sample.file}: ${sample.note}`, () =>
      Effect.gen(function*() {
        const report = yield* scan(`malicious/${sample.file}`)
        assert.strictEqual(report.verdict, "dangerous")
        const dangerous = report.globals.filter((g) => g.class === "dangerous").map((g) => `${g.module}.${g.name}`)
        for (const expected of sample.expect) assert.include(dangerous, expected, JSON.stringify(report.globals))
      }))
  }

  it.effect("the default weights-only load refuses every malicious sample whose payload torch.load would reach", () =>
    Effect.gen(function*() {
      for (const sample of maliciousSamples) {
        const result = yield* Effect.either(Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(`malicious/${sample.file}`), sample.file)))
        assert.strictEqual(result._tag, sample.weightsOnlyLoads ? "Right" : "Left", sample.file)
        if (result._tag === "Left" && result.left._tag === "PickleError" && result.left.reason === "ForbiddenGlobal") {
          assert.match(result.left.message, /global [\w.]+ is not in the weights-only allowlist/)
        }
      }
    }))

  it.effect("allowGlobals lets a trusted class through weights-only loading", () =>
    Effect.gen(function*() {
      const source = () => ByteSource.fromUint8Array(fixtureBytes("objects.pt"))
      const refused = yield* Effect.flip(Checkpoint.open(source()))
      assert.include(refused.message, "fixture_classes.Point")
      const opened = yield* Checkpoint.open(source(), { allowGlobals: ["fixture_classes.Point", "builtins.bytes"] })
      assert.strictEqual((opened.value as Map<string, unknown>).size, 3)
    }))

  it.effect("every fixture torch's allowlist accepts scans safe; no benign fixture scans dangerous", () =>
    Effect.gen(function*() {
      for (const f of fixtures) {
        const report = yield* scan(f.file)
        assert.notStrictEqual(report.verdict, "dangerous", f.file)
        if (f.weightsOnly || isModuleFixture(f)) assert.strictEqual(report.verdict, "safe", `${f.file}: ${JSON.stringify(report)}`)
      }
    }))

  it.effect("reports the record and offset of each global", () =>
    Effect.gen(function*() {
      const report = yield* scan("malicious/nested_in_zip.pt")
      const exec = report.globals.find((g) => g.name === "exec")!
      assert.strictEqual(exec.record, "archive/data.pkl")
      assert.isAbove(exec.offset, 0)
      const hidden = yield* scan("malicious/hidden_record.pt")
      assert.strictEqual(hidden.globals.find((g) => g.name === "execv")!.record, "archive/extra/evil.pkl")
    }))

  it("classes globals after Python 2 → 3 renames", () => {
    assert.strictEqual(Scan.classify("__builtin__", "eval"), "dangerous")
    assert.strictEqual(Scan.classify("collections", "OrderedDict"), "allowed")
    assert.strictEqual(Scan.classify("torch._utils", "_rebuild_tensor_v2"), "allowed")
    assert.strictEqual(Scan.classify("numpy", "dtype"), "allowed", "NumPy's values are data (issue 26)")
    assert.strictEqual(Scan.classify("sklearn.linear_model", "LogisticRegression"), "unknown")
    assert.strictEqual(Scan.classify("os.path", "join"), "dangerous")
    assert.strictEqual(Scan.classify("?", "?"), "unknown")
  })
})
