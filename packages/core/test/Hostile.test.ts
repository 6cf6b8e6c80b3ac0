/**
 * Hostile structures: each ends in a value or a typed error, quickly, and
 * never in a JS stack overflow, a hang or an unbounded allocation.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Module from "@torchwire/core/Module"
import * as Pickle from "@torchwire/core/Pickle"
import * as Summary from "@torchwire/core/Summary"
import * as Zip from "@torchwire/core/Zip"
import { fixtureBytes } from "@torchwire/test-utils"
import { zipOf } from "@torchwire/test-utils/differentials"

/** PROTO 2, `depth` empty lists each appended into the one below: a list nested `depth` deep. */
const deepList = (depth: number): Uint8Array => {
  const out = new Uint8Array(2 + 2 * depth)
  out.set([0x80, 2])
  out.fill(0x5d, 2, 2 + depth) // EMPTY_LIST
  out.fill(0x61, 2 + depth, 1 + 2 * depth) // APPEND
  out[1 + 2 * depth] = 0x2e // STOP
  return out
}

/** A list holding the previous list twice, `levels` times: 2^levels leaves in a few hundred bytes. */
const laughs = (levels: number): Uint8Array => {
  const ops: Array<number> = [0x80, 2, 0x5d, 0x72, 0, 0, 0, 0] // EMPTY_LIST LONG_BINPUT 0
  for (let i = 1; i <= levels; i++) {
    ops.push(0x5d, 0x6a, i - 1, 0, 0, 0, 0x61, 0x6a, i - 1, 0, 0, 0, 0x61, 0x72, i, 0, 0, 0) // [] get get append append put
  }
  ops.push(0x2e)
  return Uint8Array.from(ops)
}

describe("hostile input", () => {
  it.effect("a pickle that makes more values than maxValues (50,000,000 by default) fails LimitExceeded, however its stack stays", () =>
    Effect.gen(function*() {
      // EMPTY_LIST, then MARK, 600 x BININT1 0, APPENDS, ten times: 6,000 values, never more than 600 on the stack.
      const batch = [0x28, ...Array.from({ length: 600 }, () => [0x4b, 0]).flat(), 0x65]
      const bytes = Uint8Array.from([0x80, 2, 0x5d, ...Array.from({ length: 10 }, () => batch).flat(), 0x2e])
      assert.lengthOf((yield* Pickle.load(bytes, { maxValues: 6002 })) as Array<number>, 6000)
      const error = yield* Effect.flip(Pickle.load(bytes, { maxValues: 5000 }))
      assert.strictEqual(error.reason, "LimitExceeded")
      assert.include(error.message, "more than 5000 values")
    }))

  it.effect("a pickle whose values would take more memory than maxValueBytes (64 x its size, 64 MiB to 1 GiB) fails LimitExceeded as it makes them", () =>
    Effect.gen(function*() {
      // EMPTY_LIST, then MARK, 1,000 x EMPTY_DICT, APPENDS: a V8 Map (about 190 bytes) per byte of pickle.
      const flood = (batches: number) => {
        const batch = [0x28, ...Array<number>(1000).fill(0x7d), 0x65]
        return Uint8Array.from([0x80, 2, 0x5d, ...Array.from({ length: batches }, () => batch).flat(), 0x2e])
      }
      const small = flood(20)
      assert.lengthOf((yield* Pickle.load(small)) as Array<unknown>, 20_000)
      const lowered = yield* Effect.flip(Pickle.load(small, { maxValueBytes: 1 << 20 }))
      assert.strictEqual(lowered.reason, "LimitExceeded")
      assert.include(lowered.message, "more than 1 MiB (estimated")
      // 1 MB of pickle: a million Maps, 190 MB, past the default's floor of 64 MiB.
      const error = yield* Effect.flip(Pickle.load(flood(1000)))
      assert.strictEqual(error.reason, "LimitExceeded")
      assert.isBelow(error.offset, 500_000, "stopped once the estimate passed 64 MiB, at about a third of the pickle")
      // Checkpoint.open takes the option too.
      const zip = zipOf([["archive/data.pkl", small], ["archive/version", new TextEncoder().encode("3\n")]])
      const opened = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(zip), { maxValueBytes: 1 << 20 }))
      assert.strictEqual(opened._tag === "PickleError" && opened.reason, "LimitExceeded")
    }))

  it.effect("a million-deep nesting loads iteratively; summarizing and re-pickling it fail typed", () =>
    Effect.gen(function*() {
      const bytes = deepList(1_000_000)
      const value = yield* Pickle.load(bytes)
      assert.isTrue(Array.isArray(value))
      const summary = yield* Effect.flip(Summary.summarize(value))
      assert.strictEqual(summary._tag === "CheckpointError" && summary.reason, "LimitExceeded")
      const dumped = yield* Effect.flip(Pickle.dump(value))
      assert.strictEqual(dumped.reason, "LimitExceeded")
      const opened = yield* Checkpoint.open(ByteSource.fromUint8Array(bytes), { weightsOnly: false })
      assert.strictEqual((yield* Effect.flip(Summary.ofCheckpoint(opened)))._tag, "CheckpointError")
    }))

  it.effect("a billion-laughs pickle: shared references re-pickle compactly; summaries stop at their node budget", () =>
    Effect.gen(function*() {
      const bytes = laughs(60)
      assert.isBelow(bytes.length, 1200)
      const value = yield* Pickle.load(bytes)
      const again = yield* Pickle.dump(value)
      assert.isBelow(again.length, 2000, "memoized references stay references")
      const started = Date.now()
      const e = yield* Effect.flip(Summary.summarize(value, { maxNodes: 200_000 }))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "LimitExceeded")
      assert.isBelow(Date.now() - started, 5000)
    }))

  it.effect("memo and stack bombs stop at their limits", () =>
    Effect.gen(function*() {
      // EMPTY_LIST, then BINPUT to a fresh key again and again.
      const memo = [0x80, 2, 0x5d]
      for (let i = 0; i < 1000; i++) memo.push(0x72, i & 255, i >> 8, 0, 0)
      memo.push(0x2e)
      const m = yield* Effect.flip(Pickle.load(Uint8Array.from(memo), { maxMemo: 500 }))
      assert.strictEqual(m.reason, "LimitExceeded")
      const dups = new Uint8Array(2003).fill(0x32) // DUP
      dups.set([0x80, 2, 0x4e]) // PROTO 2, NONE
      dups[2002] = 0x2e
      const s = yield* Effect.flip(Pickle.load(dups, { maxStack: 1000 }))
      assert.strictEqual(s.reason, "LimitExceeded")
      assert.strictEqual(yield* Pickle.load(dups), null, "under the default limits the same pickle loads")
    }))

  it.effect("zip entries whose declared sizes lie: a bomb claim, too large, too small", () =>
    Effect.gen(function*() {
      const original = fixtureBytes("deflated.pt")
      const entryOf = (bytes: Uint8Array) => Effect.map(Zip.open(ByteSource.fromUint8Array(bytes)), (a) => ({ a, e: a.entries.find((x) => x.name.endsWith("data.pkl"))! }))
      const { e } = yield* entryOf(original)
      const withSize = (size: number) => {
        const b = original.slice()
        new DataView(b.buffer).setUint32(e.centralOffset + 24, size, true)
        return b
      }
      const bomb = yield* entryOf(withSize(1 << 30))
      assert.strictEqual((yield* Effect.flip(bomb.a.read(bomb.e))).reason === "LimitExceeded", true)
      const big = yield* entryOf(withSize(e.uncompressedSize + 10))
      assert.strictEqual((yield* Effect.flip(big.a.read(big.e)))._tag, "ZipError")
      const small = yield* entryOf(withSize(e.uncompressedSize - 10))
      const tooSmall = yield* Effect.flip(small.a.read(small.e))
      assert.strictEqual(tooSmall._tag === "ZipError" && tooSmall.reason, "InflateFailed")
      // And the same through Checkpoint.open: a typed failure, no huge allocation.
      const opened = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(withSize(1 << 30))))
      assert.strictEqual(opened._tag, "ZipError")
    }))

  it.effect("regression (found by pnpm fuzz): a flatbuffer tensor with a negative size is a typed BadTensor", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("flatbuffer_trace_constant.ff").slice()
      const n = Math.min(bytes.length, 4096)
      bytes[1138586507 % n] = 128
      bytes[38653578 % n] = 0
      const e = yield* Effect.flip(Effect.flatMap(Module.open(ByteSource.fromUint8Array(bytes)), (a) => Summary.ofModule(a)))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "BadTensor")
    }))
})
