/**
 * Container: every fixture is recognized as the format its generator wrote,
 * in one place, and what recognizing opened is not read again by the
 * readers that take the container (the central directory is read once).
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Container from "@torchwire/core/Container"
import * as Module from "@torchwire/core/Module"
import * as Scan from "@torchwire/core/Scan"
import * as Streaming from "@torchwire/core/Streaming"
import * as Summary from "@torchwire/core/Summary"
import { fixtureBytes, fixtures, isModuleFixture } from "@torchwire/test-utils"
import { concatBytes } from "../src/internal/bytes.js"

/** A source over `bytes` that records every read as [offset, length]. */
const countingSource = (bytes: Uint8Array, name: string) => {
  const inner = ByteSource.fromUint8Array(bytes, name)
  const reads: Array<readonly [number, number]> = []
  const source: ByteSource.ByteSource = {
    name,
    size: inner.size,
    read: (offset, length) => Effect.sync(() => reads.push([offset, length])).pipe(Effect.zipRight(inner.read(offset, length)))
  }
  return { source, reads }
}

/** How many reads touched the last `tail` bytes (a zip's end records and central directory). */
const readsOfTail = (reads: ReadonlyArray<readonly [number, number]>, size: number, tail: number) =>
  reads.filter(([offset, length]) => offset + length > size - tail).length

const zipFixtures = fixtures.filter((f) => ["zip", "torchscript", "mobile"].includes(f.format))

describe("Container", () => {
  it.effect("recognizes every fixture as the format its generator wrote", () =>
    Effect.gen(function*() {
      for (const f of fixtures) {
        const container = yield* Container.open(ByteSource.fromUint8Array(fixtureBytes(f.file), f.file))
        assert.strictEqual(container.format, f.format, f.file)
        assert.strictEqual(container._tag === "Zip", zipFixtures.includes(f), f.file)
      }
    }))

  it.effect("recognizes a _streaming_save stream", () =>
    Effect.gen(function*() {
      const { value } = yield* Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes("linear.pt")))
      const bytes = concatBytes(Chunk.toReadonlyArray(yield* Stream.runCollect(Streaming.encode(value))))
      const container = yield* Container.open(ByteSource.fromUint8Array(bytes))
      assert.strictEqual(container._tag, "Stream")
      assert.deepStrictEqual((yield* Container.pickles(container)).map((p) => p.record), ["stream header", "data.pkl"])
    }))

  it.effect("readers given the container read a zip's central directory once: Checkpoint.open, Module.open, Scan.scan", () =>
    Effect.gen(function*() {
      for (const f of zipFixtures) {
        const bytes = fixtureBytes(f.file)
        const { source, reads } = countingSource(bytes, f.file)
        const container = yield* Container.open(source)
        const opened = readsOfTail(reads, bytes.length, 22)
        assert.strictEqual(opened, 1, `${f.file}: recognizing reads the end record once`)
        if (isModuleFixture(f)) yield* Effect.flatMap(Module.open(container), (m) => Summary.ofModule(m))
        else yield* Effect.flatMap(Checkpoint.open(container, { weightsOnly: false }), (c) => Summary.ofCheckpoint(c))
        yield* Scan.scan(container)
        assert.strictEqual(readsOfTail(reads, bytes.length, 22), opened, `${f.file}: no reader opened the archive again`)
      }
    }))

  it.effect("a container opened without CRC checks is reopened only when open asks for them", () =>
    Effect.gen(function*() {
      const bytes = fixtureBytes("linear.pt")
      const { source, reads } = countingSource(bytes, "linear.pt")
      const container = yield* Container.open(source)
      yield* Checkpoint.open(container, { checkCrc: false })
      assert.strictEqual(readsOfTail(reads, bytes.length, 22), 1)
      yield* Checkpoint.open(container, { checkCrc: true })
      assert.strictEqual(readsOfTail(reads, bytes.length, 22), 2)
    }))

  it.effect("a checkpoint is not a module, and a module is not a checkpoint: typed errors that say which to use", () =>
    Effect.gen(function*() {
      const legacy = yield* Effect.flip(Module.open(ByteSource.fromUint8Array(fixtureBytes("legacy.pt"))))
      assert.strictEqual(legacy._tag, "CheckpointError")
      assert.include(legacy.message, "Checkpoint.open")
      const mobile = fixtures.find((f) => f.format === "mobile")!
      const module = yield* Effect.flip(Checkpoint.open(ByteSource.fromUint8Array(fixtureBytes(mobile.file))))
      assert.include(module.message, "Module.open")
    }))

  it.effect("recordPickle finds a record by full name or name under the folder, and lists the records when it is missing", () =>
    Effect.gen(function*() {
      const container = yield* Container.open(ByteSource.fromUint8Array(fixtureBytes("linear.pt")))
      assert.strictEqual((yield* Container.recordPickle(container)).record, "linear/data.pkl")
      assert.strictEqual((yield* Container.recordPickle(container, "linear/data.pkl")).record, "linear/data.pkl")
      const missing = yield* Effect.flip(Container.recordPickle(container, "nope.pkl"))
      assert.include(missing.message, "linear/data.pkl")
    }))

  it("formats are recognized in one place: the signature checks are used by internal/format/container.ts alone", () => {
    const src = join(__dirname, "..", "src")
    const files = (dir: string): Array<string> =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []))
    const signatures = [/\bisTarHeader\(/, /\blooksLikeStream\(/, /=== LEGACY_MAGIC/, /"PTMF"|FLATBUFFER_IDENTIFIER\b/, /"PYTORCH1"/]
    const users = files(src).filter((file) => !file.includes("/internal/fbs/")).flatMap((file) => {
      const text = readFileSync(file, "utf8")
      return signatures.filter((s) => s.test(text)).map((s) => `${relative(src, file)} ${s.source}`)
    })
    // The definitions, the tar lister checking each member header, the flatbuffer verifier checking its identifier
    // (which it defines) and the flatbuffer writer writing it.
    assert.deepStrictEqual(users.sort(), [
      "internal/container/fbVerify.ts \"PTMF\"|FLATBUFFER_IDENTIFIER\\b",
      "internal/module/fbWriter.ts \"PTMF\"|FLATBUFFER_IDENTIFIER\\b",
      "internal/container/tar.ts \\bisTarHeader\\(",
      "internal/format/container.ts \"PTMF\"|FLATBUFFER_IDENTIFIER\\b",
      "internal/format/container.ts \"PYTORCH1\"",
      "internal/format/container.ts === LEGACY_MAGIC",
      "internal/format/container.ts \\bisTarHeader\\(",
      "internal/format/container.ts \\blooksLikeStream\\(",
    ].sort())
  })
})
