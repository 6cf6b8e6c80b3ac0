/**
 * Vet a file before anyone loads it in Python: every global referenced by
 * every pickle in it, each classed as allowed (torch's weights-only
 * allowlist), dangerous (code execution, file, process, network or import
 * machinery) or unknown, and a verdict. Nothing is loaded or executed.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { ByteSource } from "./ByteSource.js"
import * as Checkpoint from "./Checkpoint.js"
import { translateGlobal } from "./internal/pickle/globals.js"
import { scanPickles } from "./internal/pickle/scanPickle.js"
import { defaultLimits, parseHeader } from "./internal/streaming/streamingFormat.js"
import { WEIGHTS_ONLY_ALLOWLIST } from "./internal/torch/globals.js"
import * as Tar from "./Tar.js"
import * as Zip from "./Zip.js"

/**
 * How a global is classed.
 *
 * @since 0.1.0
 * @category models
 */
export type Class = "allowed" | "unknown" | "dangerous"

/**
 * One global found in the file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Finding {
  /** The module as Python would import it (Python 2 names translated); "?" when computed at run time. */
  readonly module: string
  readonly name: string
  readonly class: Class
  /** The record (zip entry, tar member, "pickle", ...) it was found in. */
  readonly record: string
  /** Byte offset of the opcode naming it, in that record. */
  readonly offset: number
}

/**
 * The outcome of a scan.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly verdict: "safe" | "suspicious" | "dangerous"
  readonly globals: ReadonlyArray<Finding>
  /** Pickles that stopped decoding (their globals up to that point are reported). */
  readonly unreadable: ReadonlyArray<string>
}

/** Modules whose every member is dangerous to call from a pickle. */
const DANGEROUS_MODULES = [
  "os", "posix", "nt", "subprocess", "sys", "runpy", "pty", "socket", "webbrowser", "importlib", "ctypes", "shutil",
  "code", "codeop", "commands", "multiprocessing", "asyncio", "pickle", "_pickle", "marshal", "dill", "cloudpickle",
  "shelve", "tempfile", "pathlib", "io", "urllib", "http", "ftplib", "smtplib", "telnetlib", "ssl", "signal",
  "threading", "_thread", "platform", "builtins.__import__", "torch.hub", "torch.utils.cpp_extension", "torch._C",
  "torch.ops", "torch._dynamo", "torch.jit._script", "torch.fx", "numpy.testing", "pydoc", "timeit", "trace", "pdb",
  "bdb", "profile", "cProfile", "zipimport", "site", "sysconfig", "distutils", "setuptools", "pip", "venv", "glob",
  "fileinput", "linecache", "gc", "inspect", "types"
]

/** Single globals that run code, touch files or reach anything (getattr chains). */
const DANGEROUS_NAMES = new Set([
  "builtins.eval", "builtins.exec", "builtins.compile", "builtins.getattr", "builtins.setattr", "builtins.delattr",
  "builtins.__import__", "builtins.open", "builtins.breakpoint", "builtins.input", "builtins.globals",
  "builtins.locals", "builtins.vars", "builtins.help", "builtins.memoryview", "builtins.type", "builtins.object",
  "builtins.super", "builtins.classmethod", "builtins.staticmethod", "builtins.property", "builtins.apply",
  "builtins.execfile", "builtins.file", "builtins.reload",
  "operator.attrgetter", "operator.methodcaller", "operator.itemgetter", "operator.call",
  "functools.partial", "functools.reduce", "pkgutil.resolve_name", "pkgutil.get_importer", "copyreg._reconstructor",
  "copyreg.__newobj__", "copyreg.__newobj_ex__", "numpy.load", "numpy.lib.npyio.load", "numpy.core.multiarray._reconstruct",
  "torch.load", "torch.serialization.load", "torch.jit.load", "torch.package.PackageImporter", "torch.classes.load_library",
  "torch.ops.load_library", "torch.storage._load_from_bytes", "torch.distributed.rpc.rpc_sync"
])

/** Globals of TorchScript pickles and stream headers, which name no Python code. */
const isScriptGlobal = (module: string, name: string): boolean =>
  module === "__torch__" || module.startsWith("__torch__.") || module === "torch.jit._pickle" ||
  (module === "torch.distributed._serialization" && name === "_Entry")

/**
 * Classes one global (after Python 2 → 3 name translation).
 *
 * @since 0.1.0
 * @category utils
 */
export const classify = (module: string, name: string): Class => {
  const [m, n] = translateGlobal(module, name)
  const qualified = `${m}.${n}`
  if (DANGEROUS_NAMES.has(qualified) || DANGEROUS_MODULES.some((d) => m === d || m.startsWith(`${d}.`) || qualified === d)) return "dangerous"
  if (m === "?" || n === "?") return "unknown"
  if (WEIGHTS_ONLY_ALLOWLIST.has(qualified) || isScriptGlobal(m, n)) return "allowed"
  return "unknown"
}

/** The pickles of one file, as (record name, bytes, how many pickles to read). */
const picklesOf = (source: ByteSource, format: Checkpoint.Format) =>
  Effect.gen(function*() {
    const out: Array<{ readonly record: string; readonly bytes: Uint8Array; readonly max?: number }> = []
    const head = (n: number) => source.read(0, Math.min(source.size, n))
    const zipRecords = Effect.gen(function*() {
      const archive = yield* Zip.open(source)
      for (const e of archive.entries) {
        if (/pkl$/.test(e.name) && e.uncompressedSize <= defaultLimits.maxHeaderBytes * 64) out.push({ record: e.name, bytes: yield* archive.read(e) })
      }
    })
    switch (format) {
      case "zip":
      case "torchscript":
      case "mobile":
        yield* zipRecords
        break
      case "tar":
        for (const m of yield* Tar.list(source)) {
          if (m.name === "pickle" || m.name === "sys_info") out.push({ record: m.name, bytes: yield* source.read(m.offset, m.size) })
        }
        break
      case "stream": {
        const bytes = yield* head(defaultLimits.maxHeaderBytes)
        out.push({ record: "stream header", bytes, max: 1 })
        const parsed = yield* Effect.option(Effect.try(() => parseHeader(bytes, defaultLimits)))
        if (parsed._tag === "Some") {
          let at = parsed.value.end
          for (const entry of parsed.value.entries) {
            if (entry.key.endsWith("pkl") && at + entry.length <= source.size) out.push({ record: entry.key, bytes: yield* source.read(at, entry.length) })
            at += entry.length
          }
        }
        break
      }
      case "legacy": {
        // The five pickles before the storages: read a window that grows until they fit.
        let window = Math.min(source.size, 1 << 20)
        for (;;) {
          const bytes = yield* head(window)
          const result = scanPickles(bytes, "pickle", 5)
          if (result.error === undefined || window >= Math.min(source.size, 1 << 30)) {
            out.push({ record: "pickle", bytes: bytes.subarray(0, result.error === undefined ? result.end : bytes.length), max: 5 })
            break
          }
          window = Math.min(window * 4, source.size, 1 << 30)
        }
        yield* Effect.ignore(zipRecords) // a zip hidden behind the pickles (a polyglot)
        break
      }
      case "pickle":
        out.push({ record: "pickle", bytes: yield* head(1 << 30) })
        yield* Effect.ignore(zipRecords)
        break
      case "flatbuffer":
        break // flatbuffer modules hold no pickles
    }
    return out
  })

/**
 * Scans a file. Fails only when the file cannot be read at all (not a
 * format torchwire recognizes, or an I/O error).
 *
 * @since 0.1.0
 * @category constructors
 */
export const scan = (source: ByteSource) =>
  Effect.gen(function*() {
    const format = yield* Checkpoint.detect(source)
    const globals: Array<Finding> = []
    const unreadable: Array<string> = []
    for (const { record, bytes, max } of yield* picklesOf(source, format)) {
      const result = scanPickles(bytes, record, max)
      for (const g of result.globals) {
        // Reported as Python would import it (its 2 -> 3 renames applied: `commands` is `subprocess`).
        const [module, name] = g.module === "?" || g.name === "?" ? [g.module, g.name] : translateGlobal(g.module, g.name)
        globals.push({ module, name, class: classify(g.module, g.name), record, offset: g.offset })
      }
      if (result.error !== undefined) unreadable.push(result.error)
    }
    // A pickle that stops decoding may hide more: never call that safe.
    const verdict = globals.some((g) => g.class === "dangerous") ? "dangerous" as const
      : globals.some((g) => g.class === "unknown") || unreadable.length > 0 ? "suspicious" as const
      : "safe" as const
    return { verdict, globals, unreadable } satisfies Report
  })
