/**
 * Interop with torch 2.x as users run it today (the pip torch 2.13 in
 * `.venv-torch`, which `.ci/run` installs): its `torch.load` defaults to
 * weights-only, it maps files with `mmap=True`, writes dtypes torch 1.13
 * lacks, and has the real `_streaming_save`/`_streaming_load`. These tests
 * fail, never skip, when that torch cannot be run.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict } from "@torchwire/core/Value"
import * as NodeSave from "@torchwire/node/NodeSave"
import * as NodeSource from "@torchwire/node/NodeSource"
import type { Json } from "@torchwire/core/Summary"
import { checkpointFixtures, firstDifference, fixturePath, pythonDir, truthOf } from "@torchwire/test-utils"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli } from "./cliHarness.js"

const python = process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")
const oracle = (...args: Array<string>): Array<{ readonly file: string; readonly summary?: { readonly value: Json }; readonly error?: string }> =>
  execFileSync(python, [join(pythonDir, "oracle_torch2.py"), ...args], { encoding: "utf8", maxBuffer: 256 << 20 })
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
const valueOf = (file: string): Json => (truthOf(file) as { readonly value: Json }).value
const summarizeFile = (path: string) =>
  Effect.scoped(Effect.flatMap(NodeSource.open(path), (s) => Effect.flatMap(Checkpoint.open(s), (c) => Summary.ofCheckpoint(c))))

describe("interop with torch 2.13 and its defaults", () => {
  beforeAll(() => {
    try {
      execFileSync(python, [join(pythonDir, "oracle_torch2.py"), "check"], { stdio: "pipe" })
    } catch (e) {
      throw new Error(`torch >= 2.6 is required at ${python} (python3 -m venv .venv-torch && .venv-torch/bin/pip install torch==2.13.0): ${String(e)}`)
    }
  })

  it.effect("the fixtures torch 2.13 wrote (with NumPy 2) still match what it loads, and torchwire matches both", () =>
    Effect.gen(function*() {
      const written = checkpointFixtures.filter((f) => f.torch === "2.13")
      assert.isAtLeast(written.length, 3)
      for (const [i, line] of oracle("load-unsafe", ...written.map((f) => fixturePath(f.file))).entries()) {
        const f = written[i]!
        assert.strictEqual(firstDifference(line.summary!.value, valueOf(f.file)), undefined, `${f.file}: committed truth is stale`)
        const ours = yield* Effect.scoped(Effect.flatMap(NodeSource.open(fixturePath(f.file)), (s) =>
          Effect.flatMap(Checkpoint.open(s, { weightsOnly: false }), (c) => Summary.summarize(c.value))))
        assert.strictEqual(firstDifference(ours, line.summary!.value), undefined, f.file)
      }
    }))

  it.effect("every fixture torch 2.13 loads weights-only, it loads as torchwire converted it, also with mmap=True", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-torch2-"))
      // torch 2.13's weights-only loader refuses some fixtures that 1.13's took (protocol 3-5 opcodes, tar files,
      // frozensets): those that torch itself loads are the ones a conversion must keep loadable.
      const loadable = oracle("load", ...checkpointFixtures.map((f) => fixturePath(f.file))).flatMap((line, i) => ("summary" in line ? [checkpointFixtures[i]!] : []))
      assert.isAtLeast(loadable.length, 12, loadable.map((f) => f.file).join())
      const outputs: Array<string> = []
      for (const f of loadable) {
        const out = join(dir, f.file.replace(/\.\w+$/, "") + ".pt")
        const converted = yield* cli("convert", fixturePath(f.file), out)
        assert.strictEqual(converted.code, 0, `${f.file}: ${converted.err}`)
        outputs.push(out)
      }
      for (const mode of ["load", "load-mmap"]) {
        for (const [i, line] of oracle(mode, ...outputs).entries()) {
          assert.isTrue("summary" in line, `${mode} ${loadable[i]!.file}: ${JSON.stringify(line)}`)
          assert.strictEqual(firstDifference(line.summary!.value, valueOf(loadable[i]!.file)), undefined, `${mode} ${loadable[i]!.file}`)
        }
      }
    }))

  it.effect("tensors of torch 2's dtypes built in TypeScript load in torch 2.13 weights-only, bit for bit", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-torch2-"))
      const path = join(dir, "made_in_ts.pt")
      const value = new OrderedDict([
        ["u16", Torch.tensor(new Uint16Array([0, 1, 65535]), { dtype: "uint16" })],
        ["u32", Torch.tensor(new Uint32Array([7, 2 ** 32 - 1]), { dtype: "uint32" })],
        ["e4m3", Torch.fromBytes(Uint8Array.from([0x00, 0x38, 0x7e, 0xfe]), "float8_e4m3fn", [2, 2])],
        ["bf16", Torch.parameter(Torch.tensor(new Float32Array([1.5, -2, 3.25]), { dtype: "bfloat16" }))]
      ])
      yield* NodeSave.save(value, path)
      const [line] = oracle("load", path)
      const ours = (yield* summarizeFile(path)) as { readonly value: Json }
      assert.strictEqual(firstDifference(line!.summary!.value, ours.value), undefined, JSON.stringify(line))
    }))

  it.effect("torchwire reads torch 2.13's own saves of dtypes 1.13 lacks, as torch loads them", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-torch2-"))
      const [line] = oracle("save-dtypes", join(dir, "dtypes2.pt"))
      const ours = (yield* summarizeFile(line!.file)) as { readonly value: Json }
      assert.strictEqual(firstDifference(ours.value, line!.summary!.value), undefined)
    }))

  it.effect("the real _streaming_load reads torchwire's .stream files, and torchwire reads the real _streaming_save", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-torch2-"))
      const ours = join(dir, "ours.stream")
      assert.strictEqual((yield* cli("convert", fixturePath("training_checkpoint.pt"), ours)).code, 0)
      const [loaded] = oracle("stream-load", ours)
      assert.strictEqual(firstDifference(loaded!.summary!.value, valueOf("training_checkpoint.pt")), undefined)
      const theirs = join(dir, "theirs.stream")
      oracle("stream-save", fixturePath("dtypes.pt"), theirs)
      const back = yield* cli("inspect", "--json", theirs)
      assert.strictEqual(back.code, 0, back.err)
      assert.strictEqual(firstDifference(JSON.parse(back.out).value, valueOf("dtypes.pt")), undefined)
    }))
})
