/**
 * Bundles the benchmark workers into plain ES modules with esbuild, so each
 * measurement runs compiled JavaScript as a deployed service would: no
 * TypeScript loader in the process's time or memory.
 */
import { build } from "esbuild"
import { join } from "node:path"

/** Bundles `bench/<name>.ts` (and everything it imports) to `<outDir>/<name>.mjs`; returns the path. */
export const bundleWorker = async (name: string, outDir: string): Promise<string> => {
  const outfile = join(outDir, `${name}.mjs`)
  await build({
    entryPoints: [join(import.meta.dirname, `${name}.ts`)],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    // Bundled CommonJS dependencies call require(); give the ES module one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
  })
  return outfile
}
