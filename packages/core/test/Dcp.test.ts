/**
 * Distributed checkpoints (torch.distributed.checkpoint folders) written by
 * real torch 2.13 (python/dcp_checkpoints.py): opened from memory, each must
 * summarize exactly as what torch's dcp_to_torch_save makes of it; malformed
 * folders end in typed errors naming the file, the item and the offset.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Directory from "@torchwire/core/Directory"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import { firstDifference, fixturesDir, type Json } from "@torchwire/test-utils"
import { Effect } from "effect"
import * as fc from "fast-check"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { copyChunk } from "../src/internal/load/dcpCheckpoint.js"

const FOLDERS = ["dcp_single", "dcp_2rank", "dcp_4rank_fsdp"]

/** A fixture folder's files, in memory. */
const filesOf = (name: string): Map<string, Uint8Array> =>
  new Map(readdirSync(join(fixturesDir, "dcp", name)).map((f) => [f, new Uint8Array(readFileSync(join(fixturesDir, "dcp", name, f)))]))

const truth = (name: string): Json => JSON.parse(readFileSync(join(fixturesDir, "dcp", `${name}.truth.json`), "utf8"))

const open = (files: Map<string, Uint8Array>, options: Checkpoint.OpenOptions = {}) => Checkpoint.open(Directory.fromEntries(files, "dcp"), options)

describe("distributed checkpoints", () => {
  for (const name of FOLDERS) {
    it.effect(`${name} reads as dcp_to_torch_save + torch.load see it`, () =>
      Effect.gen(function*() {
        const checkpoint = yield* open(filesOf(name), { weightsOnly: false })
        assert.strictEqual(checkpoint.format, "dcp")
        assert.strictEqual(checkpoint.dcpVersion, "1.0.0")
        assert.strictEqual(firstDifference(yield* Summary.ofCheckpoint(checkpoint), truth(name)), undefined)
      }))
  }

  it.effect("weights-only (the default) loads the values saved as bytes of every fixture", () =>
    Effect.gen(function*() {
      for (const name of FOLDERS) {
        const checkpoint = yield* open(filesOf(name))
        assert.strictEqual(firstDifference(yield* Summary.ofCheckpoint(checkpoint), truth(name)), undefined, name)
      }
    }))

  it.effect("opening reads .metadata and the values saved as bytes, no tensor", () =>
    Effect.gen(function*() {
      const files = filesOf("dcp_2rank")
      const read: Array<string> = []
      const base = Directory.fromEntries(files, "dcp")
      const dir: Directory.Directory = {
        ...base,
        file: (f) => Effect.map(base.file(f), (s) => ({ ...s, read: (o: number, n: number) => (read.push(`${f}:${o}+${n}`), s.read(o, n)) }))
      }
      const checkpoint = yield* Checkpoint.open(dir)
      const bytesItems = read.filter((r) => !r.startsWith(".metadata"))
      // meta.world and meta.tag, each a small torch.save: no read reaches a tensor's item.
      assert.isTrue(bytesItems.every((r) => r.startsWith("__1_0.distcp:") && Number(r.split(":")[1]!.split("+")[0]) < 2522), bytesItems.join(" "))
      const rows = Checkpoint.tensors(checkpoint.value).find(([n]) => n === "rows")![1]
      assert.deepStrictEqual(rows.shape, [6, 4])
    }))

  it.effect("a missing rank file is MissingRecord naming it", () =>
    Effect.gen(function*() {
      const files = filesOf("dcp_2rank")
      files.delete("__1_0.distcp")
      const error = yield* Effect.flip(open(files))
      assert.strictEqual(error._tag, "CheckpointError")
      assert.include(error.message, "MissingRecord")
      assert.include(error.message, "__1_0.distcp")
    }))

  it.effect("an item past the end of its file is Truncated with the item and offset", () =>
    Effect.gen(function*() {
      const files = filesOf("dcp_2rank")
      files.set("__0_0.distcp", files.get("__0_0.distcp")!.subarray(0, 3000))
      const error = yield* Effect.flip(open(files))
      assert.strictEqual(error._tag, "CheckpointError")
      assert.strictEqual(error.reason, "Truncated")
      assert.strictEqual(error.offset, 1577)
      assert.include(error.message, "cols")
    }))

  it.effect("no folder without .metadata", () =>
    Effect.gen(function*() {
      const files = filesOf("dcp_single")
      files.delete(".metadata")
      const error = yield* Effect.flip(open(files))
      assert.strictEqual(error.reason, "UnknownFormat")
    }))

  it("places chunks as torch does (property: any split of a tensor along any dimension)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 8 }), (shape, dimSeed, cutSeed, itemSize) => {
        const total = shape.reduce((a, b) => a * b, 1) * itemSize
        const whole = Uint8Array.from({ length: total }, (_, i) => (i * 7 + 3) & 0xff)
        const d = dimSeed % shape.length
        const cut = cutSeed % (shape[d]! + 1)
        const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1))
        const out = new Uint8Array(total)
        for (const [start, size] of [[0, cut], [cut, shape[d]! - cut]] as const) {
          const sizes = shape.map((s, i) => (i === d ? size : s))
          const offsets = shape.map((_, i) => (i === d ? start : 0))
          // The chunk's elements in row-major order, gathered from the whole.
          const n = sizes.reduce((a, b) => a * b, 1)
          const src = new Uint8Array(n * itemSize)
          for (let k = 0; k < n; k++) {
            let rest = k
            let at = 0
            for (let i = sizes.length - 1; i >= 0; i--) {
              at += ((rest % sizes[i]!) + offsets[i]!) * strides[i]!
              rest = Math.floor(rest / sizes[i]!)
            }
            src.set(whole.subarray(at * itemSize, (at + 1) * itemSize), k * itemSize)
          }
          copyChunk(out, shape, itemSize, { offsets, sizes }, src)
        }
        assert.deepStrictEqual(out, whole)
      })
    )
  })

  it.effect("the 2-rank tensors assemble to torch's values", () =>
    Effect.gen(function*() {
      const checkpoint = yield* open(filesOf("dcp_2rank"))
      const cols = Checkpoint.tensors(checkpoint.value).find(([n]) => n === "cols")![1]
      assert.deepStrictEqual([...(yield* Torch.toTypedArray(cols)) as Float32Array], Array.from({ length: 24 }, (_, i) => i))
    }))
})
