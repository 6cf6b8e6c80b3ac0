/**
 * Malformed input: every case yields a typed failure that names the record
 * and byte offset, never a defect (thrown TypeError) or a hang.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import type { TorchwireError } from "@torchwire/core/Errors"
import * as Pickle from "@torchwire/core/Pickle"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import * as Zip from "@torchwire/core/Zip"
import { fixtureBytes } from "@torchwire/test-utils"
import { crc32 } from "node:zlib"

/**
 * The bytes with the CRC-32 of every STORED pickle record rewritten to match its (edited) data, where the bytes
 * are a zip archive: pickles' CRCs are always checked, and these tests edit pickles to reach what lies past them.
 */
const withPickleCrcs = (bytes: Uint8Array) =>
  Zip.open(ByteSource.fromUint8Array(bytes)).pipe(
    Effect.flatMap((archive) =>
      Effect.forEach(archive.entries.filter((e) => e.name.endsWith(".pkl") && e.method === 0), (e) =>
        Effect.map(archive.dataOffset(e), (at) => {
          const crc = crc32(bytes.subarray(at, at + e.compressedSize)) >>> 0
          const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
          view.setUint32(e.localHeaderOffset + 14, crc, true)
          view.setUint32(e.centralOffset + 16, crc, true)
        }))),
    Effect.as(bytes),
    Effect.orElseSucceed(() => bytes)
  )

/** Opens and fully summarizes bytes (reading every tensor), returning the typed failure. */
const failure = (bytes: Uint8Array) =>
  Effect.gen(function*() {
    const fixed = yield* withPickleCrcs(bytes.slice())
    const exit = yield* Effect.exit(
      Effect.flatMap(Checkpoint.open(ByteSource.fromUint8Array(fixed, "bad.pt"), { weightsOnly: false }), (c) => Summary.ofCheckpoint(c))
    )
    assert.isTrue(Exit.isFailure(exit), "expected a failure")
    const cause = (exit as Exit.Failure<unknown, TorchwireError>).cause
    assert.isFalse(Cause.isDie(cause), `expected a typed failure, got a defect: ${Cause.pretty(cause)}`)
    return Option.getOrThrow(Cause.failureOption(cause))
  })

/** Offset of a zip record's data, and the record's bytes. */
const recordOf = (bytes: Uint8Array, name: string) =>
  Effect.gen(function*() {
    const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
    const entry = archive.entries.find((e) => e.name.endsWith(name))!
    return { entry, at: yield* archive.dataOffset(entry), data: yield* archive.read(entry) }
  })

/** linear.pt with the weight storage's declared element count (12) replaced. */
const withWeightNumel = (numel: number) =>
  Effect.gen(function*() {
    const bytes = fixtureBytes("linear.pt").slice()
    const { at, data } = yield* recordOf(bytes, "data.pkl")
    const declared = Pickle.unsafeOpcodes(data).find((o) => o.name === "BININT1" && o.arg === 12)!
    bytes[at + declared.offset + 1] = numel
    return bytes
  })

const replaceAll = (bytes: Uint8Array, from: string, to: string): Uint8Array => {
  const out = bytes.slice()
  const f = new TextEncoder().encode(from)
  const t = new TextEncoder().encode(to)
  for (let i = 0; i + f.length <= out.length; i++) {
    if (f.every((b, j) => out[i + j] === b)) out.set(t, i)
  }
  return out
}

describe("malformed input", () => {
  it.effect("a corrupt data.pkl fails CrcMismatch (its CRC is always checked), not with what its garbage seems to say", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const { at } = yield* recordOf(bytes, "data.pkl")
      bytes[at + 2] ^= 0xff
      const e = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(bytes, "bad.pt"), { weightsOnly: false }))
      assert.strictEqual(e._tag === "ZipError" && e.reason, "CrcMismatch")
      assert.strictEqual(e._tag === "ZipError" && e.record, "linear/data.pkl")
    }))

  it.effect("a truncated zip: ZipError naming the end record", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt")
      const e = yield* failure(bytes.subarray(0, Math.floor(bytes.length / 2)))
      assert.strictEqual(e._tag, "ZipError")
      assert.strictEqual(e._tag === "ZipError" && e.reason, "NotAZip")
      assert.include(e.message, "end of central directory")
      assert.include(e.message, "byte ")
    }))

  it.effect("a truncated legacy file: the storage that runs past the end", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("legacy.pt")
      const e = yield* failure(bytes.subarray(0, bytes.length - 10))
      assert.strictEqual(e._tag, "CheckpointError")
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "StorageTooShort")
      assert.match(e.message, /record "storage \d+", byte \d+/)
    }))

  it.effect("a truncated bare pickle: PickleError(Truncated) at the end", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("plain_protocol2.pkl")
      const e = yield* failure(bytes.subarray(0, 40))
      assert.strictEqual(e._tag, "PickleError")
      assert.strictEqual(e._tag === "PickleError" && e.reason, "Truncated")
      assert.include(e.message, "record \"pickle\"")
    }))

  it.effect("a protocol 1 pickle is known by its opcodes, even with no STOP byte in its first 512 bytes", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("plain_protocol1.pkl").subarray(0, 600)
      assert.notInclude([...bytes.subarray(0, 512)], 0x2e)
      const e = yield* failure(bytes)
      assert.strictEqual(e._tag === "PickleError" && e.reason, "Truncated")
    }))

  it.effect("not a checkpoint: UnknownFormat naming the file", () =>
    Effect.gen(function*() {
      const e = yield* failure(new TextEncoder().encode("this is not a checkpoint at all\n"))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "UnknownFormat")
      assert.include(e.message, "bad.pt")
    }))

  it.effect("an empty file", () =>
    Effect.gen(function*() {
      const e = yield* failure(new Uint8Array(0))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "UnknownFormat")
    }))

  it.effect("missing data.pkl: MissingRecord naming it", () =>
    Effect.gen(function*() {
      const e = yield* failure(replaceAll(fixtureBytes("linear.pt"), "linear/data.pkl", "linear/data.pkx"))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "MissingRecord")
      assert.include(e.message, "record \"linear/data.pkl\"")
    }))

  it.effect("missing version record", () =>
    Effect.gen(function*() {
      const e = yield* failure(replaceAll(fixtureBytes("linear.pt"), "linear/version", "linear/versioX"))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "MissingRecord")
      assert.include(e.message, "linear/version")
    }))

  it.effect("corrupt central directory: ZipError at the entry's offset", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const second = archive.entries[1]!
      bytes[second.centralOffset] = 0x00 // break the PK\1\2 signature
      const e = yield* failure(bytes)
      assert.strictEqual(e._tag === "ZipError" && e.reason, "BadCentralDirectory")
      assert.strictEqual(e.offset, second.centralOffset)
      assert.include(e.message, "central directory entry 1")
    }))

  it.effect("a local header pointing past the file", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      const entry = archive.entries.find((x) => x.name.endsWith("data.pkl"))!
      new DataView(bytes.buffer).setUint32(entry.centralOffset + 42, bytes.length + 100, true)
      const e = yield* failure(bytes)
      assert.strictEqual(e._tag === "ZipError" && e.reason, "BadLocalHeader")
      assert.include(e.message, "linear/data.pkl")
    }))

  it.effect("a bad opcode in data.pkl: PickleError naming data.pkl and the offset", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const { at } = yield* recordOf(bytes, "data.pkl")
      bytes[at + 2] = 0xff // the opcode after PROTO 2
      const e = yield* failure(bytes)
      assert.strictEqual(e._tag === "PickleError" && e.reason, "UnknownOpcode")
      assert.strictEqual(e.offset, 2)
      assert.include(e.message, "record \"linear/data.pkl\", byte 2")
    }))

  it.effect("data.pkl cut before STOP", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt").slice()
      const { at, data } = yield* recordOf(bytes, "data.pkl")
      bytes[at + data.length - 1] = 0x4e // STOP becomes NONE
      const e = yield* failure(bytes)
      assert.strictEqual(e._tag === "PickleError" && e.reason, "Truncated")
      assert.include(e.message, "linear/data.pkl")
    }))

  it.effect("storage shorter than its tensor: StorageTooShort naming the storage record", () =>
    Effect.gen(function*() {
      // The 3x4 weight's storage is declared with 5 elements.
      const e = yield* failure(yield* withWeightNumel(5))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "StorageTooShort")
      assert.include(e.message, "record \"linear/data/0\"")
      assert.include(e.message, "needs 48 bytes")
    }))

  it.effect("a storage record shorter than the persistent id declares", () =>
    Effect.gen(function*() {
      const e = yield* failure(yield* withWeightNumel(200))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "StorageTooShort")
      assert.include(e.message, "linear/data/0")
      assert.include(e.message, "needs 800 bytes, the record holds 48")
    }))

  it.effect("an invalid persistent id", () =>
    Effect.gen(function*() {
      const e = yield* failure(replaceAll(fixtureBytes("linear.pt"), "storageq", "storagXq"))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "BadPersistentId")
      assert.include(e.message, "linear/data.pkl")
    }))

  it.effect("an invalid byteorder record", () =>
    Effect.gen(function*() {
      const e = yield* failure(replaceAll(fixtureBytes("big_endian.pt"), "big", "bog"))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "BadRecord")
      assert.include(e.message, "byteorder")
    }))

  it.effect("a stride-0 view claiming 2^40 elements is refused, not allocated", () =>
    Effect.gen(function*() {
      const f32 = Torch.dtypes.get("float32")!
      const storage = new Torch.Storage({ key: "0", dtype: f32, record: "a/data/0", bytes: Torch.RecordBytes.Computed({ read: Effect.succeed(new Uint8Array(4)), size: 4 }) })
      const huge = new Torch.Tensor(f32, [2 ** 40], [0], 0, storage, false)
      const e = yield* Effect.flip(Torch.bytes(huge))
      assert.strictEqual(e._tag === "CheckpointError" && e.reason, "BadTensor")
      assert.include(e.message, "a/data/0")
      const fine = new Torch.Tensor(f32, [5], [0], 0, storage, false)
      assert.strictEqual((yield* Torch.bytes(fine)).length, 20)
    }))

  it.effect("a legacy file with a wrong magic number", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("legacy.pt").slice()
      bytes[5] ^= 0x01
      const e = yield* failure(bytes)
      assert.strictEqual(e._tag, "CheckpointError")
    }))
})
