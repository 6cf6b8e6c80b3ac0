/**
 * The differentials of issue 25 against real torch: each file whose payload
 * torchwire must find is one that torch 1.13 and torch 2.13 really run (in
 * a fresh temporary working directory, with weights_only=False), and
 * `torchwire scan` never calls one safe. Fails, never skips, when a torch
 * cannot be run.
 */
import { assert, describe, it } from "@effect/vitest"
import { pythonDir } from "@torchwire/test-utils"
import { differentials } from "@torchwire/test-utils/differentials"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { cli } from "./cliHarness.js"

const torches = {
  "torch 1.13": process.env.TORCHWIRE_PYTHON ?? "/usr/bin/python3",
  "torch 2.13": process.env.TORCHWIRE_PYTHON2 ?? join(import.meta.dirname, "..", "..", "..", ".venv-torch", "bin", "python")
}

describe("differentials against real torch", () => {
  const dir = mkdtempSync(join(tmpdir(), "torchwire-differentials-"))
  const cases = differentials()
  for (const d of cases) writeFileSync(join(dir, d.file), d.bytes)

  for (const [label, python] of Object.entries(torches)) {
    it(`${label} runs the payload of each file torchwire must flag`, () => {
      const ran: Record<string, boolean> = JSON.parse(
        execFileSync(python, [join(pythonDir, "executes.py"), ...cases.map((d) => join(dir, d.file))], { encoding: "utf8" })
      )
      for (const d of cases) {
        if (d.torchExecutes !== undefined) assert.strictEqual(ran[d.file], d.torchExecutes, `${label}: ${d.file} (${d.note})`)
      }
    }, 120_000)
  }

  for (const [label, python] of Object.entries(torches)) {
    it.effect(`a TorchScript module whose __setstate__ reads a file (${label} runs it at torch.jit.load) scans dangerous, and so does its lite-interpreter export`, () =>
      Effect.gen(function*() {
        const secret = join(dir, "secret.txt")
        writeFileSync(secret, "SECRET")
        const module = join(dir, `reads_at_load_${label.replace(/\W/g, "")}.pt`)
        const ran = JSON.parse(execFileSync(python, [join(pythonDir, "script_from_file.py"), module, secret], { encoding: "utf8" }))
        assert.strictEqual(ran.read, "SECRET", "torch.jit.load ran __setstate__, which read the file")
        const { code, out } = yield* cli("scan", module)
        assert.strictEqual(code, 1, out)
        assert.match(out, /dangerous +torch\.from_file/)
        const lite = yield* cli("scan", `${module}l`)
        assert.strictEqual(lite.code, 1, lite.out)
        assert.match(lite.out, /dangerous +torch\.ops\.aten\.from_file/)
      }), 120_000)
  }

  it.effect("torchwire scan calls every one dangerous (exit 1)", () =>
    Effect.gen(function*() {
      for (const d of cases) {
        const { code, out } = yield* cli("scan", join(dir, d.file))
        assert.strictEqual(code, 1, `${d.file}: ${out}`)
        assert.include(out, "DANGEROUS", d.file)
      }
    }))
})
