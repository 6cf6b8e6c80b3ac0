/**
 * Test helpers: the committed fixtures, their truth summaries, and the
 * comparison rules of docs/summary-json.md.
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** A JSON value (the shape of a summary). */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** Folder of the committed fixtures. */
export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures")

/** Folder of the Python scripts (generator and summarizer). */
export const pythonDir = join(dirname(fileURLToPath(import.meta.url)), "..", "python")

/** One fixture of manifest.json. */
export interface Fixture {
  readonly file: string
  readonly format: string
  /** "torch": truth is what torch.load returns; "emulated": what was written (see the generator). */
  readonly truth: "torch" | "emulated"
  /** Whether torch's weights-only allowlist accepts the file. */
  readonly weightsOnly: boolean
  readonly note: string
  /** The torch that wrote the file and whose load is its truth: 1.13 when absent, "2.13" (with NumPy 2) when not. */
  readonly torch?: "2.13"
}

/** Every fixture, in generation order. */
export const fixtures: ReadonlyArray<Fixture> = JSON.parse(readFileSync(join(fixturesDir, "manifest.json"), "utf8"))

/** TorchScript, mobile and flatbuffer modules (loaded with Module.open, summarized as modules). */
export const isModuleFixture = (f: Fixture): boolean => f.format === "torchscript" || f.format === "mobile" || f.format === "flatbuffer"

/** Fixtures torch.load reads: everything but TorchScript and mobile archives. */
export const checkpointFixtures: ReadonlyArray<Fixture> = fixtures.filter((f) => !isModuleFixture(f))

/** TorchScript and mobile fixtures. */
export const moduleFixtures: ReadonlyArray<Fixture> = fixtures.filter(isModuleFixture)

/** Absolute path of a fixture. */
export const fixturePath = (file: string): string => join(fixturesDir, file)

/** The bytes of a fixture. */
export const fixtureBytes = (file: string): Uint8Array => new Uint8Array(readFileSync(fixturePath(file)))

/** The committed truth summary of a fixture. */
export const truthOf = (file: string): Json => JSON.parse(readFileSync(fixturePath(file) + ".truth.json", "utf8"))

const isRecord = (j: Json): j is { readonly [k: string]: Json } => j !== null && typeof j === "object" && !Array.isArray(j)

/**
 * Normalizes a summary for comparison: sets and frozensets sorted by their
 * items' JSON, objects reduced to their name (NumPy's kept whole), module parameters and buffers
 * sorted, requires_grad dropped inside module summaries.
 */
export const normalize = (j: Json, inModule = false): Json => {
  if (Array.isArray(j)) return j.map((x) => normalize(x, inModule))
  if (!isRecord(j)) return j
  // Other objects compare by name; NumPy's arrays, scalars and dtypes by what they hold too (docs/summary-json.md).
  if ("object" in j && typeof j.object === "string") {
    if (!j.object.startsWith("numpy.")) return { object: j.object }
    return Object.fromEntries(Object.entries(j).map(([k, v]) => [k, normalize(v, inModule)]))
  }
  const out: Record<string, Json> = {}
  for (const [k, v] of Object.entries(j)) {
    if (inModule && k === "requires_grad") continue
    const child = normalize(v, inModule || k === "module")
    out[k] = (k === "set" || k === "frozenset" || (inModule && (k === "parameters" || k === "buffers"))) && Array.isArray(child)
      ? [...child].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
      : child
  }
  return out
}

/**
 * The first difference between two summaries, as a JSON path and both
 * sides, or undefined when they match under the spec's rules.
 */
export const firstDifference = (actual: Json, expected: Json): string | undefined => {
  const walk = (a: Json, e: Json, path: string): string | undefined => {
    if (Array.isArray(a) && Array.isArray(e)) {
      if (a.length !== e.length) return `${path}: length ${a.length} != ${e.length}`
      for (let i = 0; i < a.length; i++) {
        const d = walk(a[i]!, e[i]!, `${path}[${i}]`)
        if (d !== undefined) return d
      }
      return undefined
    }
    if (isRecord(a) && isRecord(e)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(e)])
      for (const k of keys) {
        if (!(k in a)) return `${path}.${k}: missing (expected ${JSON.stringify(e[k])})`
        if (!(k in e)) return `${path}.${k}: unexpected ${JSON.stringify(a[k])}`
        const d = walk(a[k]!, e[k]!, `${path}.${k}`)
        if (d !== undefined) return d
      }
      return undefined
    }
    return Object.is(a, e) || a === e ? undefined : `${path}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`
  }
  return walk(normalize(actual), normalize(expected), "$")
}

/** One malicious sample of fixtures/malicious/manifest.json. */
export interface MaliciousSample {
  readonly file: string
  /** Dangerous globals (module.name, Python 3 names) a scanner must report. */
  readonly expect: ReadonlyArray<string>
  readonly verdict: "dangerous"
  /** What torch.load unpickles is benign, so a weights-only load succeeds (scan still flags the file). */
  readonly weightsOnlyLoads: boolean
  readonly note: string
}

/** The malicious samples (generated by python/generate_malicious.py). */
export const maliciousSamples: ReadonlyArray<MaliciousSample> = JSON.parse(readFileSync(join(fixturesDir, "malicious", "manifest.json"), "utf8"))
