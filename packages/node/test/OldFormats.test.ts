/**
 * Old TorchScript archives against real torch 1.13 and 2.13 (issue 26): an
 * archive of version 1 (torch ~1.3, six-item storage ids) loads in both as
 * in torchwire; a model.json archive (torch 1.0-1.2) loads in neither, and
 * torchwire says so, while still printing its code. Fails, never skips,
 * when a torch cannot be run.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Module from "@torchwire/core/Module"
import { fixturePath } from "@torchwire/test-utils"
import { zipOf } from "@torchwire/test-utils/differentials"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { cli } from "./cliHarness.js"

const torches = {
  "torch 1.13": process.env.TORCHWIRE_PYTHON ?? "/usr/bin/python3",
  "torch 2.13": process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")
}

/** torch.jit.load of a file in `python` (not blocking the test worker): its parameters' names, or the error's last line. */
const jitLoad = async (python: string, file: string): Promise<{ readonly parameters?: Array<string>; readonly error?: string }> =>
  JSON.parse((await run(python, ["-c", `
import json, sys, torch
try:
    m = torch.jit.load(sys.argv[1])
    print(json.dumps({"parameters": [n for n, _ in m.named_parameters()]}))
except Exception as e:
    print(json.dumps({"error": str(e).strip().splitlines()[-1]}))
`, file], { encoding: "utf8" })).stdout)

const run = promisify(execFile)

const text = (s: string) => new TextEncoder().encode(s)

/** A TorchScript archive as torch 1.0-1.2 wrote it: model.json (protobuf JSON), tensors/, attributes.pkl, code/. */
const modelJsonArchive = (): Uint8Array =>
  zipOf([
    ["legacy_model/version", text("1\n")],
    ["legacy_model/model.json", text(JSON.stringify({
      protoVersion: "5",
      mainModule: { name: "model", parameters: [{ isBuffer: false, tensorId: "0", name: "weight" }], torchscriptArena: { key: "code/model.py" } },
      tensors: [{ dims: ["2", "2"], offset: "0", strides: ["2", "1"], requiresGrad: true, dataType: "FLOAT", data: { key: "tensors/0" }, device: "cpu" }],
      producerName: "pytorch",
      producerVersion: "1.0"
    }))],
    ["legacy_model/tensors/0", new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer)],
    ["legacy_model/attributes.pkl", Uint8Array.from([0x80, 0x02, 0x29, 0x2e])], // ()
    ["legacy_model/code/model.py", text("op_version_set = 0\ndef forward(self,\n    x: Tensor) -> Tensor:\n  return torch.mm(x, self.weight)\n")]
  ])

describe("old TorchScript archives against real torch", () => {
  const dir = mkdtempSync(join(tmpdir(), "torchwire-old-formats-"))
  const modelJson = join(dir, "legacy_model.pt")
  writeFileSync(modelJson, modelJsonArchive())

  for (const [label, python] of Object.entries(torches)) {
    it(`${label} loads the version-1 fixture as torchwire does, and refuses a model.json archive`, async () => {
      assert.deepStrictEqual(await jitLoad(python, fixturePath("script_version1.pt")), await jitLoad(python, fixturePath("script_sequential.pt")))
      assert.include((await jitLoad(python, modelJson)).error, "Legacy model format is not supported", label)
    }, 60_000)
  }

  it.effect("torchwire refuses a model.json archive with a message that says what it is, and prints its code", () =>
    Effect.gen(function*() {
      const bytes = modelJsonArchive()
      const source = ByteSource.fromUint8Array(bytes)
      for (const opened of [Effect.asVoid(Checkpoint.open(source)), Effect.asVoid(Module.open(source))]) {
        const e = yield* Effect.flip(opened)
        assert.strictEqual(e._tag === "CheckpointError" && e.reason, "UnsupportedFormat")
        assert.include(e.message, "torch 1.0-1.2 (model.json")
      }
      const code = yield* cli("code", modelJson)
      assert.strictEqual(code.code, 0, code.err)
      assert.include(code.out, "# code/model.py\nop_version_set = 0")
    }))
})
