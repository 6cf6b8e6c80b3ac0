/**
 * Interop with real PyTorch (Debian's python3-torch 1.13). These tests fail,
 * never skip, when torch cannot be imported: CI installs it.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Module from "@torchwire/core/Module"
import * as Save from "@torchwire/core/Save"
import * as Summary from "@torchwire/core/Summary"
import * as Torch from "@torchwire/core/Torch"
import { OrderedDict, PyFloat, type PyValue } from "@torchwire/core/Value"
import { runCli } from "./cliHarness.js"
import * as Inspect from "@torchwire/node/Inspect"
import * as NodeSave from "@torchwire/node/NodeSave"
import * as NodeSource from "@torchwire/node/NodeSource"
import { checkpointFixtures, firstDifference, fixturePath, fixtures, isModuleFixture, pythonDir, truthOf } from "@torchwire/test-utils"
import type { Json } from "@torchwire/core/Summary"

const python = process.env.TORCHWIRE_PYTHON ?? "/usr/bin/python3"
const oracle = (...args: Array<string>): Array<Record<string, unknown>> =>
  execFileSync(python, [join(pythonDir, "oracle.py"), ...args], { encoding: "utf8", maxBuffer: 256 << 20 })
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))

const summarizeFile = (path: string) =>
  Effect.scoped(Effect.flatMap(NodeSource.open(path), (s) => Effect.flatMap(Checkpoint.open(s, { weightsOnly: false }), (c) => Summary.ofCheckpoint(c))))

describe("interop with real torch", () => {
  beforeAll(() => {
    try {
      execFileSync(python, [join(pythonDir, "oracle.py"), "check"], { stdio: "pipe" })
    } catch (e) {
      throw new Error(`real torch is required for the interop tests (apt-get install -y python3-torch python3-torchvision): ${String(e)}`)
    }
  })

  it.effect("every committed fixture still matches what real torch loads, and torchwire matches both", () =>
    Effect.gen(function*() {
      const real = fixtures.filter((f) => f.truth === "torch" && f.torch === undefined)
      const lines = oracle("summarize", ...real.map((f) => fixturePath(f.file)))
      assert.strictEqual(lines.length, real.length)
      for (const [i, f] of real.entries()) {
        const fromTorch = lines[i]!.summary as Json
        assert.strictEqual(firstDifference(fromTorch, truthOf(f.file)), undefined, `${f.file}: committed truth is stale`)
        const ours = isModuleFixture(f)
          ? yield* Effect.scoped(Effect.flatMap(NodeSource.open(fixturePath(f.file)), (s) => Effect.flatMap(Module.open(s), (a) => Summary.ofModule(a))))
          : yield* summarizeFile(fixturePath(f.file))
        assert.strictEqual(firstDifference(ours, fromTorch), undefined, f.file)
      }
    }))

  it.effect("freshly written random checkpoints (zip and legacy, protocols 2-4) read like torch.load", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-interop-"))
      const seed = String(Number(process.env.TORCHWIRE_SEED ?? Date.now() % 100000))
      const lines = oracle("random", dir, seed, "25")
      assert.strictEqual(lines.length, 25)
      for (const line of lines) {
        const diff = firstDifference(yield* summarizeFile(line.file as string), line.summary as Json)
        assert.strictEqual(diff, undefined, `${line.file as string} (seed ${seed})`)
      }
      rmSync(dir, { recursive: true })
    }))

  it.effect("torch.load reads every fixture as torchwire converted it; Python's zipfile verifies CRCs and alignment", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-convert-"))
      // torch 1.13 has no uint16/float8 dtypes to rebuild v3_dtypes.pt with; core's tests cover its round trip.
      const convertible = checkpointFixtures.filter((f) => f.file !== "v3_dtypes.pt" && f.torch === undefined)
      const outputs: Array<string> = []
      for (const f of convertible) {
        const out = join(dir, f.file.replace(/\.\w+$/, "") + ".pt")
        const { code } = yield* runCli(["convert", fixturePath(f.file), out], { onErr: (e) => assert.fail(e) })
        assert.strictEqual(code, 0, f.file)
        outputs.push(out)
      }
      const loaded = oracle("summarize", ...outputs)
      for (const [i, f] of convertible.entries()) {
        const summary = loaded[i]!.summary as { readonly format: string; readonly value: Json }
        assert.strictEqual(summary.format, "zip")
        assert.strictEqual(firstDifference(summary.value, (truthOf(f.file) as { readonly value: Json }).value), undefined, f.file)
      }
      for (const check of oracle("zipcheck", ...outputs)) {
        assert.isTrue(check.crc_ok, `${check.file as string}: CRC`)
        assert.isTrue(check.aligned, `${check.file as string}: alignment`)
        const names = check.names as Array<string>
        assert.include(names.join(","), "/.format_version")
        assert.strictEqual(names[names.length - 1]!.endsWith("/.data/serialization_id"), true)
      }
      rmSync(dir, { recursive: true })
    }))

  it.effect("tensors built in TypeScript load in torch with the same values", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-new-"))
      const path = join(dir, "made_in_ts.pt")
      const f32 = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i) * 100)
      const value = new OrderedDict([
        ["weight", Torch.parameter(Torch.tensor(f32, { shape: [4, 6] }))],
        ["half", Torch.tensor(f32, { dtype: "float16", shape: [2, 12] })],
        ["bf16", Torch.tensor(f32, { dtype: "bfloat16" })],
        ["steps", Torch.tensor(new BigInt64Array([1n, 2n ** 40n]))],
        ["mask", Torch.tensor([1, 0, 1], { dtype: "bool" })],
        ["meta", new Map<PyValue, PyValue>([["epoch", 3], ["lr", new PyFloat(0.001)], ["name", "ts"]])]
      ])
      yield* NodeSave.save(value, path)
      const [line] = oracle("summarize", path)
      const ours = yield* summarizeFile(path)
      assert.strictEqual(firstDifference(ours, line!.summary as Json), undefined)
      // torch's compute_crc32=False: every CRC is 0, and torch (which never checks CRCs) loads the same values.
      const noCrc = join(dir, "no_crc.pt")
      yield* NodeSave.save(value, noCrc, { computeCrc32: false })
      const [check] = oracle("zipcheck", noCrc)
      assert.deepStrictEqual(new Set(check!.crcs as Array<number>), new Set([0]))
      assert.isFalse(check!.crc_ok)
      const [noCrcLine] = oracle("summarize", noCrc)
      assert.strictEqual(firstDifference(noCrcLine!.summary as Json, line!.summary as Json), undefined)
      rmSync(dir, { recursive: true })
    }))

  it.live("a 40 MiB save written through the writer thread (after its first writes) loads in torch with the same values; Python's zipfile verifies its CRCs", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-thread-"))
      const path = join(dir, "big.pt")
      const big = new Float32Array(10 << 20)
      for (let i = 0; i < big.length; i++) big[i] = Math.sin(i) * 100
      const value = new OrderedDict([["big", Torch.tensor(big, { shape: [2560, 4096] })], ["small", Torch.tensor(new Float64Array([1, 2, 3]))]])
      // NodeSave.save's archive, paused at its third chunk for longer than the writer thread takes to start (50 to
      // 70 ms here): the thread starts at the first write and makes the writes after the pause.
      const archive = Save.toStream(value, { prefix: Save.prefixFor(path), ...(NodeSave.crc32 ? { crc32: NodeSave.crc32 } : {}) }).pipe(
        Stream.zipWithIndex,
        Stream.mapEffect(([chunk, i]) => i === 2 ? Effect.as(Effect.sleep("500 millis"), chunk) : Effect.succeed(chunk))
      )
      yield* NodeSave.writeAtomically(archive, path, { threadAfter: 0, writerThread: "always" })
      const [line] = oracle("summarize", path)
      const ours = yield* summarizeFile(path)
      assert.strictEqual(firstDifference(ours, line!.summary as Json), undefined)
      const [check] = oracle("zipcheck", path)
      assert.isTrue(check!.crc_ok)
      assert.isTrue(check!.aligned)
      rmSync(dir, { recursive: true })
    }))

  it.effect("a TorchScript module re-saved with replaced weights loads in torch.jit.load and computes what torch computes", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-jit-"))
      const cases = [
        { file: "script_custom.pt", input: [2, 3], names: ["inner.lin.weight", "scale", "inner.running"] },
        { file: "trace_resblocks.pt", input: [1, 3, 8, 8], names: ["1.conv1.weight", "2.bn2.running_mean"] }
      ]
      for (const { file, input, names } of cases) {
        const archive = yield* Module.open(ByteSource.fromUint8Array(new Uint8Array(readFileSync(fixturePath(file)))))
        const current = new Map([...Module.namedParameters(archive.module), ...Module.namedBuffers(archive.module)])
        const replacements: Record<string, Array<number>> = {}
        const replace = new Map(names.map((name, k) => {
          const old = current.get(name)!
          const values = Array.from({ length: old.numel }, (_, i) => Math.round(Math.sin(i + k) * 1000) / 1000)
          replacements[name] = values
          return [name, Torch.tensor(new Float32Array(values), { shape: old.shape })] as const
        }))
        const out = join(dir, file)
        yield* NodeSave.writeAtomically(Module.save(archive, { replace }), out)
        const [result] = oracle("jit-compare", fixturePath(file), out, JSON.stringify(replacements), JSON.stringify(input))
        assert.deepStrictEqual(result, { equal: true, max_abs_diff: 0, state_equal: true }, file)
      }
      rmSync(dir, { recursive: true })
    }))

  it.effect("a traced torchvision ResNet-18 (45 MB, made on the fly) reads like torch.jit.load in all three formats", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-resnet-"))
      const files = oracle("resnet", dir).map((l) => l.file as string)
      const truths = oracle("summarize", ...files)
      for (const [i, file] of files.entries()) {
        const ours = yield* Effect.scoped(Effect.flatMap(NodeSource.open(file), (s) => Effect.flatMap(Module.open(s), (a) => Summary.ofModule(a))))
        assert.strictEqual(firstDifference(ours, truths[i]!.summary as Json), undefined, file)
      }
      rmSync(dir, { recursive: true })
    }), 120_000)

  it.effect("bytecode.pkl decodes to what Python's pickle reads", () =>
    Effect.gen(function*() {
      const [expected] = oracle("bytecode", fixturePath("mobile_custom.ptl"))
      const archive = yield* Module.open(ByteSource.fromUint8Array(new Uint8Array(readFileSync(fixturePath("mobile_custom.ptl")))))
      const bytecode = archive.bytecode!
      assert.strictEqual(bytecode.version, expected!.version)
      assert.deepStrictEqual(bytecode.methods.map((m) => ({
        name: m.name,
        instructions: m.instructions.map((i) => [i.op, i.x, i.n]),
        operators: m.operators.map((o) => (o.numArgs === undefined ? [o.name, o.overloadName] : [o.name, o.overloadName, o.numArgs])),
        types: m.types,
        register_size: m.registerSize
      })), expected!.methods)
      assert.strictEqual(bytecode.methods[0]!.schema!.arguments[0]!.name, "self")
    }))

  it.effect("dis prints exactly what pickletools.dis prints", () =>
    Effect.gen(function*() {
      const files = fixtures.filter((f) => f.format === "zip" || f.format === "pickle").map((f) => fixturePath(f.file))
      const lines = oracle("dis", ...files)
      for (const line of lines) {
        const ours = yield* Effect.scoped(Effect.flatMap(NodeSource.open(line.file as string), (s) => Inspect.dis(s)))
        assert.strictEqual(ours, line.text, line.file as string)
      }
    }))
})
