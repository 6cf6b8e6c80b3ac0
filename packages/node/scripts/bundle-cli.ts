/**
 * `pnpm build`'s second step: bundles the CLI (`src/bin.ts` and everything
 * it imports, Effect and @effect/cli included) into one CommonJS file,
 * `dist/cli.bundle.cjs`, which the `torchwire` bin (`src/torchwire.cts`)
 * loads through V8's code cache. One file means no module resolution at
 * start-up; CommonJS means `vm.Script` can cache its compiled code on
 * Node 20, where Node has no compile cache of its own. Beside it go the
 * licenses of the bundled packages (`dist/cli.bundle.LICENSES.txt`) and its
 * SHA-256 (`dist/cli.bundle.sha256`), which names its code cache.
 *
 * Libraries importing `@torchwire/node` get the unbundled ES modules of
 * `tsc` instead, sharing the application's copy of Effect.
 */
import { build, type Metafile } from "esbuild"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(import.meta.dirname, "..")

/** The folder of the package a bundled input file belongs to, and its package.json. */
const packageOf = (file: string): { readonly dir: string; readonly manifest: { name: string; version: string; license?: string } } | undefined => {
  for (let dir = dirname(join(root, file)); dir !== dirname(dir); dir = dirname(dir)) {
    const manifestPath = join(dir, "package.json")
    if (existsSync(manifestPath)) {
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8"))
      if (typeof manifest.name === "string" && typeof manifest.version === "string") return { dir, manifest }
    }
  }
  return undefined
}

/** Every third-party package in the bundle, with its license text. */
const licenses = (metafile: Metafile): string => {
  const seen = new Map<string, string>()
  for (const input of Object.keys(metafile.inputs)) {
    if (!input.includes("node_modules")) continue
    const pkg = packageOf(input)
    if (pkg === undefined || seen.has(pkg.manifest.name)) continue
    const licenseFile = readdirSync(pkg.dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
    const text = licenseFile === undefined ? `(no license file; package.json says ${pkg.manifest.license ?? "nothing"})` : readFileSync(join(pkg.dir, licenseFile), "utf8").trim()
    seen.set(pkg.manifest.name, `${pkg.manifest.name}@${pkg.manifest.version} (${pkg.manifest.license ?? "?"})\n\n${text}\n`)
  }
  return [...seen.keys()].sort().map((name) => seen.get(name)!).join("\n" + "-".repeat(78) + "\n\n")
}

/**
 * Bundles `entry` into `outDir/cli.bundle.cjs` as the bin expects it, with its licenses and SHA-256 beside it.
 * The start-up benchmark bundles its floor (a bare @effect/cli program) the same way.
 */
export const bundleCli = async (entry: string, outDir: string): Promise<string> => {
  const outfile = join(outDir, "cli.bundle.cjs")
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // Less source to read and V8 code to deserialize at every start: 20 ms of about 240 (2026-12-05). No message
    // depends on a function's or class's name.
    minify: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    banner: { js: "/* torchwire CLI bundle: the licenses of the packages it includes are in cli.bundle.LICENSES.txt */" }
  })
  writeFileSync(join(outDir, "cli.bundle.LICENSES.txt"), licenses(result.metafile))
  // The bin names its code cache by this hash (hashing the bundle at every start took 5 ms).
  writeFileSync(join(outDir, "cli.bundle.sha256"), createHash("sha256").update(readFileSync(outfile)).digest("hex") + "\n")
  return outfile
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outfile = await bundleCli(join(root, "src", "bin.ts"), join(root, "dist"))
  process.stderr.write(`bundled ${outfile} (${(readFileSync(outfile).length / 1024).toFixed(0)} KiB)\n`)
}
