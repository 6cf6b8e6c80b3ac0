/**
 * Distributed checkpoints against real torch 2.13 (.venv-torch): what
 * torchwire reads of a DCP folder is what torch's dcp_to_torch_save makes of
 * it; the .pt and .safetensors torchwire converts a folder to load in torch
 * (weights-only) and safetensors to the same tensors; a folder torchwire
 * writes loads with dcp.load to equal values, and torch's
 * torch_save_to_dcp folders read in torchwire as torch reads them. Fails,
 * never skips, when torch cannot be run.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Json } from "@torchwire/core/Summary"
import { checkpointFixtures, firstDifference, fixturePath, fixturesDir, pythonDir } from "@torchwire/test-utils"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { cli } from "./cliHarness.js"

const python = process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")

interface OracleLine {
  readonly file: string
  readonly error?: string
  readonly summary?: { readonly format: string; readonly value: Json }
  readonly equal?: ReadonlyArray<string>
  readonly different?: ReadonlyArray<string>
  readonly unchecked?: ReadonlyArray<string>
}

/** The oracle's JSON lines, without blocking the test worker. */
const oracle = async (...args: Array<string>): Promise<Array<OracleLine>> =>
  (await promisify(execFile)(python, [join(pythonDir, "oracle_torch2.py"), ...args], { encoding: "utf8", maxBuffer: 64 << 20 })).stdout
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))

const FOLDERS = ["dcp_single", "dcp_2rank", "dcp_4rank_fsdp"]
const folderOf = (name: string) => join(fixturesDir, "dcp", name)
const truthValue = (name: string): Json => (JSON.parse(readFileSync(join(fixturesDir, "dcp", `${name}.truth.json`), "utf8")) as { value: Json }).value

/** A summary's tensors by dotted path (dict keys and list indices), as safetensors names them. */
const tensorsByPath = (value: Json, path = "", out = new Map<string, Json>()): Map<string, Json> => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return out
  const v = value as Record<string, Json>
  const join = (k: Json) => (path === "" ? String(k) : `${path}.${String(k)}`)
  if ("tensor" in v) out.set(path, v["tensor"]!)
  else if ("dict" in v) for (const [k, x] of v["dict"] as Array<[Json, Json]>) tensorsByPath(x, join(k), out)
  else if ("list" in v) (v["list"] as Array<Json>).forEach((x, i) => tensorsByPath(x, join(i), out))
  return out
}

const summaryOf = (json: string): { readonly format: string; readonly value: Json } => JSON.parse(json)

describe("distributed checkpoints against real torch 2.13", () => {
  it.effect("inspect --json of each folder is what dcp_to_torch_save + torch.load make of it", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-dcp-"))
      const theirs = yield* Effect.promise(() => oracle("dcp-to-torch", ...FOLDERS.flatMap((f) => [folderOf(f), join(dir, `${f}.pt`)])))
      for (const [i, name] of FOLDERS.entries()) {
        const inspected = yield* cli("inspect", "--json", folderOf(name))
        assert.strictEqual(inspected.code, 0, inspected.err)
        assert.strictEqual(firstDifference(summaryOf(inspected.out).value, theirs[i]!.summary!.value), undefined, name)
      }
    }), 120_000)

  it.effect("convert of each folder to .pt loads in torch 2.13 (weights-only) and 1.13 to torch's values", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-dcp-"))
      const outputs = FOLDERS.map((f) => join(dir, `${f}.pt`))
      for (const [i, name] of FOLDERS.entries()) {
        const converted = yield* cli("convert", folderOf(name), outputs[i]!)
        assert.strictEqual(converted.code, 0, converted.err)
      }
      const loaded = yield* Effect.promise(() => oracle("load", ...outputs))
      // Debian's torch 1.13 has no torch.distributed.checkpoint, but loads what it converts to.
      const old = (yield* Effect.promise(() => promisify(execFile)("/usr/bin/python3", [join(pythonDir, "oracle.py"), "summarize", ...outputs], { encoding: "utf8", maxBuffer: 64 << 20 })))
        .stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as OracleLine)
      for (const [i, name] of FOLDERS.entries()) {
        assert.isUndefined(loaded[i]!.error, name)
        assert.strictEqual(firstDifference(loaded[i]!.summary!.value, truthValue(name)), undefined, name)
        assert.strictEqual(firstDifference(old[i]!.summary!.value, truthValue(name)), undefined, `${name} in torch 1.13`)
      }
    }), 120_000)

  it.effect("folders the fixtures' generator writes now, on 1, 2 and 4 ranks, read as dcp_to_torch_save sees them", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-dcp-"))
      yield* Effect.promise(() => promisify(execFile)(python, [join(pythonDir, "dcp_checkpoints.py"), dir], { encoding: "utf8", maxBuffer: 64 << 20 }))
      for (const name of FOLDERS) {
        const truth = (JSON.parse(readFileSync(join(dir, `${name}.truth.json`), "utf8")) as { value: Json }).value
        // The values are seeded: the fresh truth is the committed one.
        assert.strictEqual(firstDifference(truth, truthValue(name)), undefined, name)
        const inspected = yield* cli("inspect", "--json", join(dir, name))
        assert.strictEqual(inspected.code, 0, inspected.err)
        assert.strictEqual(firstDifference(summaryOf(inspected.out).value, truth), undefined, name)
      }
    }), 180_000)

  it.effect("convert of each folder to .safetensors (values that are not tensors dropped) loads in safetensors to torch's tensors", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-dcp-"))
      const outputs = FOLDERS.map((f) => join(dir, `${f}.safetensors`))
      for (const [i, name] of FOLDERS.entries()) {
        const converted = yield* cli("convert", "--drop-non-tensors", folderOf(name), outputs[i]!)
        assert.strictEqual(converted.code, 0, converted.err)
      }
      const loaded = yield* Effect.promise(() => oracle("st-load", ...outputs))
      for (const [i, name] of FOLDERS.entries()) {
        const expected = tensorsByPath(truthValue(name))
        const actual = tensorsByPath(loaded[i]!.summary!.value)
        assert.deepStrictEqual([...actual.keys()].sort(), [...expected.keys()].sort(), name)
        for (const [path, t] of expected) assert.deepStrictEqual(actual.get(path), t, `${name}: ${path}`)
      }
    }), 120_000)

  // The fixtures torch's weights-only load accepts and whose value is a dict: the states a DCP folder holds.
  const states = checkpointFixtures.filter((f) => f.weightsOnly && f.format !== "pickle" && f.format !== "safetensors").map((f) => f.file)

  it.effect("a folder torchwire writes loads with dcp.load to equal values, and reads in torch as in torchwire", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-dcp-"))
      const written: Array<string> = []
      for (const file of states) {
        const out = join(dir, `${file}.dcp`) + "/"
        const converted = yield* cli("convert", fixturePath(file), out)
        if (file === "views.pt" || file === "dtypes.pt") {
          // A meta tensor has no data, and torch copies no quint4x2 tensor: its torch_save_to_dcp fails on these too (below).
          assert.include(converted.err, file === "views.pt" ? "\"meta\" is a meta tensor" : "\"quint4x2\" is a quint4x2 tensor", file)
          continue
        }
        assert.strictEqual(converted.code, 0, `${file}: ${converted.err}`)
        written.push(file)
      }
      const loads = yield* Effect.promise(() => oracle("dcp-load", ...written.flatMap((f) => [join(dir, `${f}.dcp`), fixturePath(f)])))
      for (const [i, file] of written.entries()) {
        assert.deepStrictEqual(loads[i]!.different, [], file)
        assert.isAbove(loads[i]!.equal!.length, 0, file)
        assert.deepStrictEqual(loads[i]!.unchecked, [], file)
      }
      const checked = loads.flatMap((l) => l.equal!)
      assert.isAtLeast(checked.length, 200)
      const theirs = yield* Effect.promise(() => oracle("dcp-to-torch", ...written.flatMap((f) => [join(dir, `${f}.dcp`), join(dir, `${f}.back.pt`)])))
      for (const [i, file] of written.entries()) {
        assert.isUndefined(theirs[i]!.error, file)
        const ours = yield* cli("inspect", "--json", join(dir, `${file}.dcp`))
        assert.strictEqual(firstDifference(summaryOf(ours.out).value, theirs[i]!.summary!.value), undefined, file)
      }
    }), 300_000)

  it.effect("folders torch's torch_save_to_dcp writes read in torchwire as torch reads them", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-dcp-"))
      const made = yield* Effect.promise(() => oracle("torch-to-dcp", ...states.flatMap((f) => [fixturePath(f), join(dir, `${f}.dcp`)])))
      // torch cannot write dtypes.pt's quint4x2 tensor ("copy_kernel" not implemented) nor views.pt's meta tensor; every other state it writes.
      assert.deepStrictEqual(states.filter((_, i) => made[i]!.error !== undefined), ["dtypes.pt", "views.pt"])
      const ok = states.filter((_, i) => made[i]!.error === undefined)
      const theirs = yield* Effect.promise(() => oracle("dcp-to-torch", ...ok.flatMap((f) => [join(dir, `${f}.dcp`), join(dir, `${f}.back.pt`)])))
      for (const [i, file] of ok.entries()) {
        const ours = yield* cli("inspect", "--json", join(dir, `${file}.dcp`))
        assert.strictEqual(ours.code, 0, `${file}: ${ours.err}`)
        assert.strictEqual(firstDifference(summaryOf(ours.out).value, theirs[i]!.summary!.value), undefined, file)
      }
    }), 300_000)
})
