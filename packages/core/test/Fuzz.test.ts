/**
 * Bounded fuzzing: byte mutations and truncations of every fixture end in a
 * value or a typed failure, never a defect or a hang.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import fc from "fast-check"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Summary from "@torchwire/core/Summary"
import * as Module from "@torchwire/core/Module"
import { fixtureBytes, fixtures, isModuleFixture } from "@torchwire/test-utils"

const small = fixtures.filter((f) => fixtureBytes(f.file).length < 100_000)
const runs = Number(process.env.TORCHWIRE_FUZZ_RUNS ?? 300)

const outcome = (bytes: Uint8Array, module: boolean) =>
  Effect.runPromiseExit(
    module
      ? Effect.flatMap(Module.open(ByteSource.fromUint8Array(bytes, "fuzz")), (a) => Summary.ofModule(a))
      : Effect.flatMap(Checkpoint.open(ByteSource.fromUint8Array(bytes, "fuzz"), { weightsOnly: false }), (c) => Summary.ofCheckpoint(c))
  )

describe("fuzz", () => {
  it("mutated and truncated fixtures end in a value or a typed error", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: small.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (which, flips, cut) => {
          const original = fixtureBytes(small[which]!.file)
          const bytes = original.slice(0, cut === undefined ? original.length : cut % (original.length + 1))
          for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value
          const exit = await outcome(bytes, isModuleFixture(small[which]!))
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.isDie(exit.cause), `${small[which]!.file}: defect ${Cause.pretty(exit.cause)}`)
          }
        }
      ),
      { numRuns: runs }
    )
  }, 120_000)

  it("mutated TorchScript and flatbuffer modules end in a module or a typed error", async () => {
    const modules = small.filter(isModuleFixture)
    assert.isAtLeast(modules.length, 4)
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: modules.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        async (which, flips) => {
          const bytes = fixtureBytes(modules[which]!.file).slice()
          // Bias mutations towards the structure at the front (tables, headers, vtables).
          for (const [at, value] of flips) bytes[at % Math.min(bytes.length, 4096)] = value
          const exit = await outcome(bytes, true)
          if (Exit.isFailure(exit)) assert.isFalse(Cause.isDie(exit.cause), `${modules[which]!.file}: defect ${Cause.pretty(exit.cause)}`)
        }
      ),
      { numRuns: runs }
    )
  }, 120_000)
})
