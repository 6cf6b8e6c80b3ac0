/**
 * Bounded fuzzing: byte mutations and truncations of every fixture end in a
 * value or a typed failure, never a defect or a hang.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Stream } from "effect"
import fc from "fast-check"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Streaming from "@torchwire/core/Streaming"
import * as Save from "@torchwire/core/Save"
import * as Summary from "@torchwire/core/Summary"
import * as Module from "@torchwire/core/Module"
import * as Scan from "@torchwire/core/Scan"
import { fixtureBytes, fixtures, isModuleFixture } from "@torchwire/test-utils"
import { concatBytes } from "../src/internal/bytes.js"

const small = fixtures.filter((f) => fixtureBytes(f.file).length < 100_000)
const runs = Number(process.env.TORCHWIRE_FUZZ_RUNS ?? 300)
/** Each property's time limit: 2 minutes, and 5 ms a run beyond that (`pnpm fuzz`'s 50,000 module runs took 104 s alone, and more beside other work). */
const timeout = Math.max(120_000, runs * 5)

/**
 * What torchwire makes of a file: a module's summary; or a checkpoint's summary, its tensors read into typed
 * arrays (small storages in batches) and its re-save (storages copied from the file), each run on its own.
 */
const outcomes = async (bytes: Uint8Array, module: boolean): Promise<Array<Exit.Exit<unknown, unknown>>> => {
  if (module) return [await Effect.runPromiseExit(Effect.flatMap(Module.open(ByteSource.fromUint8Array(bytes, "fuzz")), (a) => Summary.ofModule(a)))]
  const opened = await Effect.runPromiseExit(Checkpoint.open(ByteSource.fromUint8Array(bytes, "fuzz"), { weightsOnly: false }))
  if (Exit.isFailure(opened)) return [opened]
  const { value } = opened.value
  const uses: Array<Effect.Effect<unknown, unknown>> = [Summary.ofCheckpoint(opened.value), Checkpoint.arrays(value), Save.toBytes(value)]
  return Promise.all(uses.map((e) => Effect.runPromiseExit(e)))
}

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
          for (const exit of await outcomes(bytes, isModuleFixture(small[which]!))) {
            if (Exit.isFailure(exit)) assert.isFalse(Cause.isDie(exit.cause), `${small[which]!.file}: defect ${Cause.pretty(exit.cause)}`)
          }
        }
      ),
      { numRuns: runs }
    )
  }, timeout)

  it("mutated streaming-format bytes end in a value, an archive torchwire reads, or a typed error", async () => {
    const encoded = await Promise.all(["linear.pt", "dtypes.pt", "views.pt", "numbers.pt"].map((file) =>
      Effect.runPromise(Effect.gen(function*() {
        const { value } = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(file)), { weightsOnly: false })
        return concatBytes(Chunk.toReadonlyArray(yield* Stream.runCollect(Streaming.encode(value))))
      }))))
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: encoded.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.integer({ min: 1, max: 5000 }),
        async (which, flips, cut, chunk) => {
          const bytes = encoded[which]!.slice(0, cut === undefined ? undefined : cut % (encoded[which]!.length + 1))
          for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value
          const input = Stream.fromIterable(Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk)))
          const outcomes: Array<Exit.Exit<unknown, unknown>> = [
            await Effect.runPromiseExit(Streaming.load(input, { weightsOnly: false })),
            await Effect.runPromiseExit(Effect.flatMap(Stream.runCollect(input.pipe(Streaming.toArchive())), (archive) =>
              Effect.flatMap(Checkpoint.open(ByteSource.fromUint8Array(concatBytes(Chunk.toReadonlyArray(archive))), { weightsOnly: false }), Summary.ofCheckpoint)))
          ]
          for (const exit of outcomes) {
            if (Exit.isFailure(exit)) assert.isFalse(Cause.isDie(exit.cause), `defect ${Cause.pretty(exit.cause)}`)
          }
        }
      ),
      { numRuns: runs }
    )
  }, timeout)

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
          for (const exit of await outcomes(bytes, true)) {
            if (Exit.isFailure(exit)) assert.isFalse(Cause.isDie(exit.cause), `${modules[which]!.file}: defect ${Cause.pretty(exit.cause)}`)
          }
        }
      ),
      { numRuns: runs }
    )
  }, timeout)

  it("mutated end records, directories and names of zip fixtures: a value or a typed error, opened and scanned", async () => {
    const zips = small.filter((f) => f.format === "zip" || f.format === "torchscript")
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: zips.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        async (which, flips) => {
          const bytes = fixtureBytes(zips[which]!.file).slice()
          // The central directory and the end records: the last kilobyte (names, offsets, counts, comment lengths).
          for (const [at, value] of flips) bytes[bytes.length - 1 - (at % Math.min(bytes.length, 1024))] = value
          const scanned = await Effect.runPromiseExit(Scan.scan(ByteSource.fromUint8Array(bytes, "fuzz")))
          if (Exit.isFailure(scanned)) assert.isFalse(Cause.isDie(scanned.cause), `${zips[which]!.file}: scan defect ${Cause.pretty(scanned.cause)}`)
          for (const exit of await outcomes(bytes, isModuleFixture(zips[which]!))) {
            if (Exit.isFailure(exit)) assert.isFalse(Cause.isDie(exit.cause), `${zips[which]!.file}: defect ${Cause.pretty(exit.cause)}`)
          }
        }
      ),
      { numRuns: runs }
    )
  }, timeout)
})
