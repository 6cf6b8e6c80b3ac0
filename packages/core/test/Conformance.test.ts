/**
 * Every committed fixture, opened from memory, must summarize exactly as its
 * truth file (written from real torch 1.13, or from the emulated object).
 */
import { describe, it, assert } from "@effect/vitest"
import { Effect } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Summary from "@torchwire/core/Summary"
import * as Module from "@torchwire/core/Module"
import { checkpointFixtures, firstDifference, fixtureBytes, fixtures, moduleFixtures, truthOf } from "@torchwire/test-utils"

describe("conformance with real torch", () => {
  assert.isAtLeast(fixtures.length, 20)
  for (const fixture of checkpointFixtures) {
    it.effect(`${fixture.file} (${fixture.format}, truth: ${fixture.truth})`, () =>
      Effect.gen(function*() {
        const source = ByteSource.fromUint8Array(fixtureBytes(fixture.file), fixture.file)
        const checkpoint = yield* Checkpoint.open(source, { weightsOnly: false })
        const summary = yield* Summary.ofCheckpoint(checkpoint)
        assert.strictEqual(firstDifference(summary, truthOf(fixture.file)), undefined)
      }))
    it.effect(`${fixture.file} in weights-only mode ${fixture.weightsOnly ? "loads" : "is refused"}`, () =>
      Effect.gen(function*() {
        const source = ByteSource.fromUint8Array(fixtureBytes(fixture.file), fixture.file)
        const result = yield* Effect.either(Checkpoint.open(source))
        if (fixture.weightsOnly) {
          assert.strictEqual(result._tag, "Right", result._tag === "Left" ? result.left.message : "")
        } else {
          assert.strictEqual(result._tag, "Left")
          if (result._tag === "Left") {
            assert.strictEqual(result.left._tag, "PickleError")
            assert.include(result.left.message, "ForbiddenGlobal")
          }
        }
      }))
  }

  for (const fixture of moduleFixtures) {
    it.effect(`${fixture.file} (${fixture.format} module)`, () =>
      Effect.gen(function*() {
        const archive = yield* Module.open(ByteSource.fromUint8Array(fixtureBytes(fixture.file), fixture.file))
        assert.strictEqual(firstDifference(yield* Summary.ofModule(archive), truthOf(fixture.file)), undefined)
      }))
    it.effect(`${fixture.file} is refused by Checkpoint.open, as torch.load refuses TorchScript`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(fixture.file))))
        assert.strictEqual(error._tag === "CheckpointError" && error.reason, "UnsupportedFormat")
        assert.include(error.message, "Module.open")
      }))
  }
  assert.strictEqual(checkpointFixtures.length + moduleFixtures.length, fixtures.length)
})
