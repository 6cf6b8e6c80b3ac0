/**
 * safetensors against the real library (safetensors 0.8 with torch 2.13,
 * in .venv-torch): every checkpoint fixture torchwire converts to
 * `.safetensors` is byte for byte what `save_file` writes for the same
 * tensors, and what the library refuses torchwire refuses. Files the library
 * wrote are fixtures checked by Conformance. Fails, never skips, when the
 * library cannot be run.
 */
import { assert, describe, it } from "@effect/vitest"
import { checkpointFixtures, fixturePath, pythonDir } from "@torchwire/test-utils"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { cli } from "./cliHarness.js"

const python = process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")

/** The oracle's JSON lines, without blocking the test worker. */
const oracle = async (...args: Array<string>): Promise<Array<{ readonly file: string; readonly error?: string }>> =>
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
        assert.isTrue(readFileSync(ours).equals(readFileSync(reference.file)), `${file}: not save_file's bytes`)
        identical++
      }
      assert.isAtLeast(identical, 12)
    }), 300_000)
})
