/**
 * Every committed fixture, opened from memory, must summarize exactly as its
 * truth file (written from real torch 1.13, or from the emulated object).
 */
import { describe, it, assert } from "@effect/vitest"
import { Effect } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Summary from "@torchwire/core/Summary"
import { firstDifference, fixtureBytes, fixtures, truthOf } from "@torchwire/test-utils"

describe("conformance with real torch", () => {
  assert.isAtLeast(fixtures.length, 20)
  for (const fixture of fixtures) {
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
})
