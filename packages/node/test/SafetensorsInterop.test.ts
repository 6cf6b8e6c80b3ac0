/**
 * safetensors against the real library (safetensors 0.8 with torch 2.13,
 * in .venv-torch): every checkpoint fixture torchwire converts to
 * `.safetensors` is byte for byte what `save_file` writes for the same
 * tensors, and what the library refuses torchwire refuses. Files the library
 * wrote are fixtures checked by Conformance. Fails, never skips, when the
 * library cannot be run.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Zip from "@torchwire/core/Zip"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Summary from "@torchwire/core/Summary"
import type { Json } from "@torchwire/core/Summary"
import * as NodeSource from "@torchwire/node/NodeSource"
import { checkpointFixtures, firstDifference, fixturePath, pythonDir } from "@torchwire/test-utils"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { cli } from "./cliHarness.js"

const python = process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")

/** The oracle's JSON lines, without blocking the test worker. */
const oracle = async (...args: Array<string>): Promise<Array<{ readonly file?: string; readonly error?: string; readonly files?: Array<string>; readonly summary?: Json }>> =>
  (await promisify(execFile)(python, [join(pythonDir, "oracle_torch2.py"), ...args], { encoding: "utf8", maxBuffer: 64 << 20 })).stdout
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))

describe("safetensors against the real library", () => {
  it.effect("convert writes save_file's bytes for every fixture's tensors, and refuses what it cannot hold", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-safetensors-"))
      const inputs = checkpointFixtures.map((f) => f.file)
      const theirs = yield* Effect.promise(() =>
        oracle("st-save", ...inputs.flatMap((file, i) => [fixturePath(file), join(dir, `theirs-${i}.safetensors`)])))
      let identical = 0
      for (const [i, file] of inputs.entries()) {
        const ours = join(dir, `ours-${i}.safetensors`)
        const converted = yield* cli("convert", fixturePath(file), ours)
        const reference = theirs[i]!
        if (reference.error !== undefined) {
          // Torch cannot load it (a NumPy 1 pickle under NumPy 2), or some leaf is no tensor: torchwire refuses the latter.
          if (reference.error.includes("not tensors")) assert.strictEqual(converted.code, 1, `${file}: ${converted.out}`)
          continue
        }
        assert.strictEqual(converted.code, 0, `${file}: ${converted.err}`)
        assert.isTrue(readFileSync(ours).equals(readFileSync(reference.file!)), `${file}: not save_file's bytes`)
        identical++
      }
      assert.isAtLeast(identical, 12)
    }), 300_000)

  it.effect("a file of 30,000 tensors the real library wrote (a 3 MB header) reads as load_file reads it", () =>
    Effect.gen(function*() {
      const file = join(mkdtempSync(join(tmpdir(), "torchwire-safetensors-")), "many.safetensors")
      const [written] = yield* Effect.promise(() => oracle("st-many", file, "30000"))
      const ours = yield* Effect.scoped(Effect.flatMap(NodeSource.open(file), (s) => Effect.flatMap(Checkpoint.open(s), (c) => Summary.ofCheckpoint(c))))
      assert.strictEqual(firstDifference(ours, written!.summary!), undefined)
    }), 120_000)

  it.effect("convert to an index writes huggingface_hub's shards and index: safetensors byte for byte, torch.save shards record for record", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-shards-"))
      const cases = [["st_dtypes.safetensors", 200], ["st_linear.safetensors", 100], ["linear.pt", 40], ["mobilenet_v2_w025.pt", 20_000]] as const
      for (const [file, max] of cases) {
        for (const [safe, index] of [["1", "model.safetensors.index.json"], ["0", "pytorch_model.bin.index.json"]] as const) {
          const theirs = join(dir, `${file}-${safe}-hub`)
          const ours = join(dir, `${file}-${safe}-torchwire`)
          const [listed] = yield* Effect.promise(() => oracle("hub-save", fixturePath(file), theirs, String(max), safe))
          const files = listed!.files!
          assert.isAtLeast(files.length, 3, `${file}: sharded`)
          const converted = yield* cli("convert", fixturePath(file), join(ours, index), "--max-shard-size", String(max))
          assert.strictEqual(converted.code, 0, converted.err)
          assert.deepStrictEqual(readdirSync(ours).sort(), files)
          for (const name of files) {
            const [a, b] = [readFileSync(join(ours, name)), readFileSync(join(theirs, name))]
            // torch.save gives each file a random .data/serialization_id: its shards compare record by record.
            if (safe === "1" || name.endsWith(".json")) assert.isTrue(a.equals(b), `${file}: ${name}`)
            else assert.deepStrictEqual(yield* records(a), yield* records(b), `${file}: ${name}`)
          }
          const opened = yield* cli("inspect", "--json", join(theirs, index))
          assert.strictEqual(opened.code, 0, opened.err)
          assert.strictEqual(JSON.parse(opened.out).format, "sharded")
        }
      }
    }), 300_000)
})

/** A zip's records but torch's random `.data/serialization_id`, by name, in hex. */
const records = (zip: Buffer) =>
  Effect.gen(function*() {
    const archive = yield* Zip.open(ByteSource.fromUint8Array(new Uint8Array(zip)))
    const out: Record<string, string> = {}
    for (const e of archive.entries) if (!e.name.endsWith("serialization_id")) out[e.name] = Buffer.from(yield* archive.read(e)).toString("hex")
    return out
  })
