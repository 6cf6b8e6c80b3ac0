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
import * as Dcp from "@torchwire/core/Dcp"
import * as Save from "@torchwire/core/Save"
import { Stream } from "effect"
import { PyGlobal, PyObject, PyTuple, type PyValue } from "@torchwire/core/Value"
import { copyChunk } from "../src/internal/load/dcpCheckpoint.js"
import { unpickle } from "../src/internal/pickle/unpickler.js"
import { pickle } from "../src/internal/pickle/pickler.js"
import { makeTorchFindClass } from "../src/internal/torch/globals.js"
import { reduceTorchValue } from "../src/internal/torch/pickle.js"
import { TorchSize } from "../src/internal/torch/model.js"

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

  describe("malformed .metadata", () => {
    /** A fixture's files with its .metadata unpickled, changed by `edit`, and pickled again. */
    const edited = (name: string, edit: (metadata: PyObject) => void) => {
      const files = filesOf(name)
      const value = unpickle(files.get(".metadata")!, 0, { findClass: makeTorchFindClass({ weightsOnly: false }) }).value as PyObject
      edit(value)
      files.set(".metadata", pickle(value, { protocol: 4, reduce: reduceTorchValue }))
      return files
    }
    const field = (o: PyValue | undefined, key: string) => ((o as PyObject).state as Map<PyValue, PyValue>).get(key)
    const chunksOf = (m: PyObject, fqn: string) => field((field(m, "state_dict_metadata") as Map<PyValue, PyValue>).get(fqn), "chunks") as Array<PyObject>

    it.effect("re-pickled unchanged, it reads as before (the edits below are the only difference)", () =>
      Effect.gen(function*() {
        const checkpoint = yield* open(edited("dcp_2rank", () => {}))
        assert.strictEqual(firstDifference(yield* Summary.ofCheckpoint(checkpoint), truth("dcp_2rank")), undefined)
      }))

    it.effect("overlapping chunks are BadRecord naming the tensor and both chunks", () =>
      Effect.gen(function*() {
        const files = edited("dcp_2rank", (m) => {
          const second = chunksOf(m, "rows")[1]!
          ;(second.state as Map<PyValue, PyValue>).set("offsets", new TorchSize([2, 0]))
        })
        const error = yield* Effect.flip(open(files))
        assert.strictEqual(error._tag, "CheckpointError")
        assert.strictEqual(error._tag === "CheckpointError" && error.reason, "BadRecord")
        assert.strictEqual(error._tag === "CheckpointError" && error.record, "rows")
        assert.include(error.message, "[0,0] and [2,0] overlap")
      }))

    it.effect("a missing chunk is BadRecord counting the elements held", () =>
      Effect.gen(function*() {
        const files = edited("dcp_2rank", (m) => void chunksOf(m, "cols").pop())
        const error = yield* Effect.flip(open(files))
        assert.strictEqual(error.reason, "BadRecord")
        assert.include(error.message, "hold 12 of its 24 elements")
      }))

    it.effect("a chunk without a storage entry is MissingRecord naming the tensor and its offsets", () =>
      Effect.gen(function*() {
        const files = edited("dcp_2rank", (m) => {
          const data = field(m, "storage_data") as Map<PyValue, PyValue>
          const key = [...data.keys()].find((k) => field(k, "fqn") === "rows" && (field(k, "offset") as TorchSize).dims[0] === 3)!
          data.delete(key)
        })
        const error = yield* Effect.flip(open(files))
        assert.strictEqual(error._tag === "CheckpointError" && error.reason, "MissingRecord")
        assert.strictEqual(error._tag === "CheckpointError" && error.record, "rows")
        assert.include(error.message, "at offsets [3,0] has no storage entry")
      }))

    it.effect("a chunk outside its tensor is BadRecord", () =>
      Effect.gen(function*() {
        const files = edited("dcp_2rank", (m) => {
          ;(chunksOf(m, "uneven")[1]!.state as Map<PyValue, PyValue>).set("sizes", new TorchSize([3, 3]))
        })
        const error = yield* Effect.flip(open(files))
        assert.strictEqual(error.reason, "BadRecord")
        assert.include(error.message, "is not inside its shape [5,3]")
      }))

    it.effect("an item in a file outside the folder is refused", () =>
      Effect.gen(function*() {
        const files = edited("dcp_single", (m) => {
          const info = [...(field(m, "storage_data") as Map<PyValue, PyValue>).values()][0] as PyObject
          ;(info.state as Map<PyValue, PyValue>).set("relative_path", "../../etc/passwd")
        })
        const error = yield* Effect.flip(open(files))
        assert.strictEqual(error.reason, "BadRecord")
        assert.include(error.message, "not a file inside the folder")
      }))

    it.effect("a global outside the allowlist is a ForbiddenGlobal PickleError, even with weightsOnly: false", () =>
      Effect.gen(function*() {
        const files = edited("dcp_single", (m) => {
          const meta = field(m, "storage_meta") as PyObject
          ;(meta.state as Map<PyValue, PyValue>).set("load_id", new PyObject(new PyGlobal("os", "system"), ["echo pwned"], "reduce"))
        })
        const error = yield* Effect.flip(open(files, { weightsOnly: false }))
        assert.strictEqual(error._tag, "PickleError")
        assert.include(error.message, "ForbiddenGlobal")
        assert.include(error.message, "os.system")
      }))

    it("corrupt .metadata bytes fail typed, never thrown (property)", async () => {
      const files = filesOf("dcp_2rank")
      const original = files.get(".metadata")!
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), async (flips) => {
          const bytes = original.slice()
          for (const [at, b] of flips) bytes[at] = b
          const broken = new Map(files).set(".metadata", bytes)
          const result = await Effect.runPromise(Effect.either(Effect.flatMap(open(broken), (c) => Summary.ofCheckpoint(c))))
          if (result._tag === "Left") assert.include(["PickleError", "CheckpointError", "SourceError", "ZipError"], result.left._tag)
        }),
        { numRuns: 200 }
      )
    })
  })

  describe("writing", () => {
    /** Dcp.save's files, in memory. */
    const saved = (value: PyValue) =>
      Effect.gen(function*() {
        const files = yield* Dcp.save(value, { saveId: "test" })
        const data = yield* Stream.runCollect(files.data)
        const bytes = new Uint8Array([...data].reduce((n, c) => n + c.length, 0))
        let at = 0
        for (const c of data) bytes.set(c, (at += c.length) - c.length)
        return new Map([[files.dataFile, bytes], [Dcp.METADATA_FILE, yield* files.metadata]])
      })

    for (const name of FOLDERS) {
      it.effect(`${name} read, written as one process does, reads back the same`, () =>
        Effect.gen(function*() {
          const checkpoint = yield* open(filesOf(name))
          const again = yield* open(yield* saved(checkpoint.value))
          assert.deepStrictEqual(again.records, [Dcp.DATA_FILE])
          assert.strictEqual(firstDifference(yield* Summary.ofCheckpoint(again), truth(name)), undefined)
        }))
    }

    it.effect("the metadata is made only after the data", () =>
      Effect.gen(function*() {
        const files = yield* Dcp.save(new Map<PyValue, PyValue>([["a", 1]]))
        const error = yield* Effect.flip(files.metadata)
        assert.include(error.message, "0 of 1 items")
      }))

    it.effect("a state that is not a dict, and names that collide, are refused", () =>
      Effect.gen(function*() {
        assert.include((yield* Effect.flip(Dcp.save([1, 2]))).message, "not one")
        const colliding = new Map<PyValue, PyValue>([["a.b", 1], ["a", new Map<PyValue, PyValue>([["b", 2]])]])
        assert.include((yield* Effect.flip(Dcp.save(colliding))).message, "two values flatten to the name \"a.b\"")
      }))

    it.effect("each item is the torch.save archive of its value", () =>
      Effect.gen(function*() {
        const value = new Map<PyValue, PyValue>([["t", new PyTuple([1, "x"])]])
        const files = yield* saved(value)
        assert.deepStrictEqual(files.get(Dcp.DATA_FILE), yield* Save.toBytes(new PyTuple([1, "x"]), { prefix: "archive" }))
      }))
  })
})
