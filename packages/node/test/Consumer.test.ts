/**
 * torchwire as an outside user gets it: the publishable packages packed
 * (`pnpm pack`, as `pnpm publish` would), installed with npm into a fresh
 * project outside the workspace, then imported by plain node, type-checked
 * by a consumer's tsc (strict, and `tsc --init`'s defaults), and the
 * installed `torchwire` bin run.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fixturePath } from "@torchwire/test-utils"

const root = join(import.meta.dirname, "..", "..", "..")
const here = join(import.meta.dirname, "consumer")

/** pnpm as the workspace pins it (the one running the tests, when it is). */
const pnpm = (args: ReadonlyArray<string>, cwd: string): string => {
  const execPath = process.env["npm_execpath"]
  const [command, prefix] = execPath !== undefined && /pnpm/.test(execPath)
    ? [process.execPath, [execPath]]
    : ["npx", ["-y", JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager]]
  return execFileSync(command, [...prefix, ...args], { cwd, encoding: "utf8" })
}
const run = (command: string, args: ReadonlyArray<string>, cwd: string): string =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

describe("the packed packages, installed with npm outside the workspace", () => {
  it("import in plain node, type-check in a consumer's tsc, and run the torchwire bin", () => {
    const packs = mkdtempSync(join(tmpdir(), "torchwire-packs-"))
    for (const pkg of ["core", "node"]) pnpm(["pack", "--pack-destination", packs], join(root, "packages", pkg))
    const tarballs = readdirSync(packs).map((f) => join(packs, f)).sort()
    assert.deepStrictEqual(tarballs.map((t) => t.slice(packs.length + 1)), ["torchwire-core-0.1.0.tgz", "torchwire-node-0.1.0.tgz"])
    for (const tarball of tarballs) {
      const files = run("tar", ["tzf", tarball], packs).trim().split("\n")
      assert.isTrue(files.includes("package/LICENSE") && files.includes("package/README.md"), tarball)
      assert.deepStrictEqual(files.filter((f) => !/^package\/(dist\/|LICENSE$|README\.md$|package\.json$)/.test(f)), [], "dist, README and LICENSE only")
      assert.isFalse(files.some((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts")), "no TypeScript sources")
    }

    const project = mkdtempSync(join(tmpdir(), "torchwire-consumer-"))
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
    for (const f of ["consumer.mjs", "consumer.ts"]) copyFileSync(join(here, f), join(project, f))
    copyFileSync(join(root, "examples", "checkpoint.pt"), join(project, "checkpoint.pt"))
    copyFileSync(fixturePath("mobile_stateful.ptl"), join(project, "model.ptl"))
    run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs, "typescript@~5.9.3", "@types/node@^20.19.0"], project)
    const installed = (name: string) => JSON.parse(readFileSync(join(project, "node_modules", name, "package.json"), "utf8")).version as string
    assert.match(installed("effect"), /^3\./, "npm planned Effect 3 for the peer range")
    assert.isFalse(existsSync(join(project, "node_modules", "@effect", "cli")), "the CLI's dependencies are bundled into its bin")

    // (a) plain node imports both packages and opens the example checkpoint.
    assert.strictEqual(run("node", ["consumer.mjs"], project), "zip safe; 27 tensors; model.0.weight has 216 values\nmobile → flatbuffer; weight\n")
    // (b) a consumer's tsc: strict with every declaration file checked, and tsc --init's defaults.
    writeFileSync(join(project, "tsconfig.strict.json"), JSON.stringify({
      compilerOptions: { strict: true, module: "nodenext", target: "es2022", noEmit: true, types: ["node"], skipLibCheck: false },
      files: ["consumer.ts"]
    }))
    run("npx", ["tsc", "-p", "tsconfig.strict.json"], project)
    run("npx", ["tsc", "--init"], project)
    run("npx", ["tsc", "--noEmit", "-p", "tsconfig.json"], project)
    // (c) the installed bin.
    const bin = join(project, "node_modules", ".bin", "torchwire")
    assert.strictEqual(run(bin, ["--version"], project), "0.1.0\n")
    assert.include(run(bin, ["inspect", "checkpoint.pt"], project), "27 tensors, 9,413 elements, 36.8 KiB of tensor data")
    assert.include(run(bin, ["convert", "model.ff", "back.ptl"], project), "back.ptl: flatbuffer → mobile")
  }, 300_000)
})
