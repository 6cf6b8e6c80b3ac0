#!/usr/bin/env node
/**
 * The `torchwire` bin. It loads the bundled CLI (`cli.bundle.cjs`: one file,
 * so no module resolution at start-up) through V8's code cache, so a start
 * does not compile again what an earlier one compiled: on Node 22.1 and
 * later with Node's own module compile cache; on Node 20, which has none,
 * with a `vm.Script`'s cached data kept in `$XDG_CACHE_HOME/torchwire` (or
 * `~/.cache/torchwire`), named by the bundle's SHA-256 (written beside it at
 * build time), Node's version and the architecture (V8 itself checks only
 * the source's length). Measured in BENCHMARKS.md (f).
 *
 * `NODE_DISABLE_COMPILE_CACHE=1` turns the cache off; a cache that cannot be
 * read or written is passed over without a word.
 *
 * @since 0.1.0
 */
import fs = require("node:fs")
import Module = require("node:module")
import os = require("node:os")
import path = require("node:path")
import vm = require("node:vm")

const bundle = path.join(__dirname, "cli.bundle.cjs")
const nodeCache = (Module as { enableCompileCache?: () => unknown }).enableCompileCache

/** Where the cached data lives: the user's own cache folder. */
const cacheDir = (): string => path.join(process.env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache"), "torchwire")

/** Writes `data` to `file` through a temporary file, so a reader never sees half of it. */
const writeQuietly = (file: string, data: Buffer): void => {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
    const temporary = `${file}.${process.pid}.tmp`
    fs.writeFileSync(temporary, data, { mode: 0o600 })
    fs.renameSync(temporary, file)
  } catch {
    // No cache this time.
  }
}

/** Runs the bundle as CommonJS from a vm.Script with V8's cached data, saved at exit if there was none. */
const runCached = (): void => {
  const source = fs.readFileSync(bundle, "utf8")
  const bundleHash = fs.readFileSync(path.join(__dirname, "cli.bundle.sha256"), "utf8").trim().slice(0, 32)
  const file = path.join(cacheDir(), `cli-${bundleHash}-node${process.versions.node}-${process.arch}.v8`)
  let cachedData: Buffer | undefined
  try {
    cachedData = fs.readFileSync(file)
  } catch {
    cachedData = undefined
  }
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n})`
  const script = new vm.Script(wrapper, { filename: bundle, ...(cachedData === undefined ? {} : { cachedData }) })
  if (cachedData === undefined || script.cachedDataRejected === true) {
    // After the run: the data then holds the functions it compiled lazily, not only the top level.
    process.once("exit", () => writeQuietly(file, script.createCachedData()))
  }
  const module = { exports: {} }
  script.runInThisContext()(module.exports, Module.createRequire(bundle), module, bundle, path.dirname(bundle))
}

if (process.env["NODE_DISABLE_COMPILE_CACHE"]) require(bundle)
else if (nodeCache !== undefined) {
  nodeCache()
  require(bundle)
} else runCached()
