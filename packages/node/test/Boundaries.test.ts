/**
 * The package's boundaries, checked on the sources' imports: the library
 * (`@torchwire/node`'s entry and its modules) never reaches the CLI, so an
 * app that imports `NodeSource` loads no CLI code; only the CLI uses
 * `@effect/cli`, which is bundled into the bin and not a dependency; the
 * HTTP server stack loads on first use.
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"

const src = join(import.meta.dirname, "..", "src")
const files = (readdirSync(src, { recursive: true }) as Array<string>).filter((f) => /\.c?ts$/.test(f)).map((f) => join(src, f))
/** The specifiers a file imports statically (`import ... from "x"`, `export ... from "x"`). */
const staticImports = (file: string): Array<string> =>
  [...readFileSync(file, "utf8").matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/gm)].map((m) => m[1]!)
const isCli = (file: string) => /^(cli\/|bin\.ts$|torchwire\.cts$)/.test(relative(src, file))

describe("boundaries", () => {
  it("the library imports nothing of the CLI, and only the CLI imports @effect/cli", () => {
    const library = files.filter((f) => !isCli(f))
    assert.isAbove(library.length, 5)
    for (const file of library) {
      for (const spec of staticImports(file)) {
        assert.notMatch(spec, /(^|\/)cli\/|^@effect\/cli/, `${relative(src, file)} imports ${spec}`)
      }
    }
    const manifest = JSON.parse(readFileSync(join(src, "..", "package.json"), "utf8"))
    assert.notProperty(manifest.dependencies, "@effect/cli", "the bin bundles it")
  })

  it("modules import @effect/platform-node's modules one by one, and its HTTP stack only on first use", () => {
    for (const file of files) {
      for (const spec of staticImports(file)) {
        assert.notStrictEqual(spec, "@effect/platform-node", `${relative(src, file)} imports the whole of @effect/platform-node`)
        assert.notMatch(spec, /NodeHttp(Server|Client)$/, `${relative(src, file)} loads the HTTP stack up front`)
      }
    }
  })
})
