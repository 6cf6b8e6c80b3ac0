/**
 * Mobile modules moved between the lite interpreter's zip (.ptl) and the
 * flatbuffer form (.ff) by `torchwire convert`, checked by running them in
 * real torch: Debian's 1.13 and the pip 2.13 each make modules (a traced
 * ResNet-18 and a scripted MobileNetV3 where torchvision imports, a module
 * with an attribute of every TorchScript type, one with __getstate__ /
 * __setstate__, a traced tensor constant, a BatchNorm in training mode);
 * every conversion loads in both torches with _load_for_lite_interpreter
 * and torch.jit.load, lists the original's parameters, buffers and methods,
 * holds equal attributes, state and extra files, and gives forward's
 * outputs exactly.
 * Fails, never skips, when a torch cannot be run.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Module from "@torchwire/core/Module"
import * as Torch from "@torchwire/core/Torch"
import { pythonDir } from "@torchwire/test-utils"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import * as NodeSave from "../src/NodeSave.js"
import * as NodeSource from "../src/NodeSource.js"
import { cli } from "./cliHarness.js"

const TORCHES = [
  { name: "1.13", python: "/usr/bin/python3" },
  { name: "2.13", python: process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python") }
] as const

interface Made {
  readonly name: string
  readonly ptl: string
  readonly ff: string
  readonly shape: ReadonlyArray<number>
  readonly attributes: ReadonlyArray<string>
}

interface Verdict {
  readonly lite: boolean
  readonly jit: boolean
  readonly parameters: boolean
  readonly buffers: boolean
  readonly state: boolean
  readonly methods: boolean
  readonly attributes: boolean
  readonly extra: boolean
}

/** mobile_oracle.py's JSON lines, without blocking the test worker. */
const oracle = (python: string, ...args: Array<string>): Effect.Effect<Array<unknown>> =>
  Effect.promise(async () =>
    (await promisify(execFile)(python, [join(pythonDir, "mobile_oracle.py"), ...args], { encoding: "utf8", maxBuffer: 64 << 20 })).stdout
      .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
  )

/** Each [original, converted, module] pair compared in one torch process. */
const compare = (python: string, jobs: ReadonlyArray<readonly [string, string, Made]>) =>
  Effect.map(oracle(python, "compare", JSON.stringify(jobs.map(([o, c, m]) => [o, c, m.shape, m.attributes]))), (lines) => lines as Array<Verdict>)

const EVERYTHING_EQUAL: Verdict = { lite: true, jit: true, parameters: true, buffers: true, state: true, methods: true, attributes: true, extra: true }

/** Converts with the CLI, asserting success. */
const convert = (input: string, output: string) =>
  Effect.gen(function*() {
    const r = yield* cli("convert", input, output)
    assert.strictEqual(r.code, 0, r.err)
  })

describe("mobile modules converted .ptl ↔ .ff, run in real torch", () => {
  for (const maker of TORCHES) {
    it.effect(`torch ${maker.name}'s modules: both conversions and a round trip load and run in torch 1.13 and 2.13 as the originals do`, () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "torchwire-mobile-"))
        const made = (yield* oracle(maker.python, "models", dir)) as Array<Made>
        assert.includeMembers(made.map((m) => m.name), ["all_types", "stateful", "trace_constant", "conv_train"])
        if (maker.name === "1.13") assert.includeMembers(made.map((m) => m.name), ["resnet18_traced", "mobilenet_v3_scripted"])
        const jobs: Array<readonly [string, string, Made]> = []
        for (const m of made) {
          const ff = join(dir, `${m.name}.converted.ff`)
          const ptl = join(dir, `${m.name}.converted.ptl`)
          const back = join(dir, `${m.name}.roundtrip.ptl`)
          yield* convert(m.ptl, ff)
          yield* convert(m.ff, ptl)
          yield* convert(ff, back)
          jobs.push([m.ptl, ff, m], [m.ff, ptl, m], [m.ptl, back, m])
        }
        for (const runner of TORCHES) {
          const verdicts = yield* compare(runner.python, jobs)
          assert.strictEqual(verdicts.length, jobs.length, runner.name)
          jobs.forEach(([original, converted], i) =>
            assert.deepStrictEqual(verdicts[i], EVERYTHING_EQUAL, `${converted} against ${original} in torch ${runner.name}`))
        }
      }), 600_000)
  }

  it.effect("the comparison sees a difference: a flatbuffer written with a replaced weight runs differently", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "torchwire-mobile-"))
      const made = ((yield* oracle(TORCHES[1].python, "models", dir)) as Array<Made>).find((m) => m.name === "all_types")!
      const changed = join(dir, "changed.ff")
      yield* Effect.scoped(Effect.gen(function*() {
        const archive = yield* Module.open(yield* NodeSource.open(made.ptl))
        const weight = Module.namedParameters(archive.module).find(([n]) => n === "lin.weight")![1]
        const doubled = Torch.tensor((yield* Torch.toFloat32(weight)).map((x) => x * 2), { shape: weight.shape })
        yield* NodeSave.saveModule(archive, changed, { format: "flatbuffer", replace: new Map([["lin.weight", doubled]]) })
      }))
      for (const runner of TORCHES) {
        const [verdict] = yield* compare(runner.python, [[made.ptl, changed, made]])
        assert.deepStrictEqual(verdict, { ...EVERYTHING_EQUAL, lite: false, jit: false, state: false }, runner.name)
      }
    }), 120_000)
})
