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
import * as Container from "./Container.js"
import type { TorchwireError } from "./Errors.js"
import { translateGlobal } from "./internal/pickle/globals.js"
import { scanPickles } from "./internal/pickle/scanPickle.js"
import { WEIGHTS_ONLY_ALLOWLIST } from "./internal/torch/globals.js"

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

/**
 * Scans a file (a source, or a container `Container.open` recognized): the
 * globals of every pickle in it (`Container.pickles`). Fails only when the
 * file cannot be read at all (not a format torchwire recognizes, or an I/O
 * error).
 *
 * @since 0.1.0
 * @category constructors
 */
export const scan = (input: ByteSource | Container.Container): Effect.Effect<Report, TorchwireError> =>
  Effect.gen(function*() {
    const container = yield* Container.fromInput(input)
    const globals: Array<Finding> = []
    const unreadable: Array<string> = []
    for (const { record, bytes, count } of yield* Container.pickles(container)) {
      const result = scanPickles(bytes, record, count)
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
