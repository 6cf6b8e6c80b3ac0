/**
 * Vet a file before anyone loads it in Python: every global referenced by
 * every pickle in it, each classed as allowed (torch's weights-only
 * allowlist), dangerous (code execution, file, process, network or import
 * machinery) or unknown, and a verdict. Nothing is loaded or executed.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ByteSource } from "./ByteSource.js"
import * as Container from "./Container.js"
import type { CheckpointError, TorchwireError } from "./Errors.js"
import { OPCODES } from "./internal/pickle/opcodes.js"
import { translateGlobal } from "./internal/pickle/globals.js"
import { makeStreamScanner, scanPickles } from "./internal/pickle/scanPickle.js"
import { NUMPY_GLOBALS, WEIGHTS_ONLY_ALLOWLIST } from "./internal/torch/globals.js"
import { tarPickleSpans } from "./internal/load/tarCheckpoint.js"
import { repeatedMembers } from "./internal/container/tar.js"
import { sourcePickle } from "./internal/format/pickles.js"
import { operatorCall } from "./internal/format/scriptCalls.js"
import * as Module from "./Module.js"

/**
 * How a global is classed.
 *
 * @since 0.1.0
 * @category models
 */
export type Class = "allowed" | "unknown" | "dangerous"

/**
 * One global found in the file, or a call of a module's code that reaches
 * outside the model (`module` then `torch.ops.<namespace>` or `torch`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Finding {
  /** The module as Python would import it (Python 2 names translated); "?" when computed at run time. */
  readonly module: string
  readonly name: string
  readonly class: Class
  /** The record (zip entry, tar member, "pickle", a `code/` file, ...) it was found in. */
  readonly record: string
  /** Byte offset of the opcode (or the call's text) naming it, in that record. */
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
  /** The file's format (a `safetensors` file holds no code at all). */
  readonly format: Container.Format
  /**
   * The globals found, in file order: every occurrence up to 16 of each
   * global per pickle record, and up to 10,000 per record in all, then only
   * dangerous ones (a 70 MB pickle can name five million).
   */
  readonly globals: ReadonlyArray<Finding>
  /** Occurrences not listed of globals listed (past 16 of one). */
  readonly repeats: number
  /** Occurrences not listed of globals not listed (past 10,000, not dangerous): unclassified, so the file is suspicious. */
  readonly unlisted: number
  /** Pickles that stopped decoding (their globals up to that point are reported). */
  readonly unreadable: ReadonlyArray<string>
  /** Why the file reads differently in different readers (`Container.problems`): each makes it suspicious. */
  readonly problems: ReadonlyArray<Container.Problem>
}

/** Whether a global is dangerous: a scan lists every one it finds, whatever the bounds. */
const isDangerous = (module: string, name: string): boolean => classify(module, name) === "dangerous"

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
  "copyreg.__newobj__", "copyreg.__newobj_ex__", "numpy.load", "numpy.lib.npyio.load",
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
  // NumPy's arrays, scalars and dtypes are data (Numpy.GLOBALS), whatever module lists below might match.
  if (NUMPY_GLOBALS.has(qualified)) return "allowed"
  if (DANGEROUS_NAMES.has(qualified) || DANGEROUS_MODULES.some((d) => m === d || m.startsWith(`${d}.`) || qualified === d)) return "dangerous"
  if (m === "?" || n === "?") return "unknown"
  if (WEIGHTS_ONLY_ALLOWLIST.has(qualified) || isScriptGlobal(m, n)) return "allowed"
  return "unknown"
}

/**
 * The container of `input`. A source in no format torchwire recognizes
 * whose first byte is an opcode is vetted as a pickle: torch.load would
 * unpickle it, running what it reaches before the bytes stop decoding.
 */
const containerOf = (input: ByteSource | Container.Container): Effect.Effect<Container.Container, TorchwireError> =>
  Container.isContainer(input)
    ? Effect.succeed(input)
    : Container.open(input).pipe(
      Effect.catchIf(
        (e): e is CheckpointError => e._tag === "CheckpointError" && e.reason === "UnknownFormat",
        (e) =>
          Effect.flatMap(input.read(0, Math.min(1, input.size)), (head) =>
            head.length === 1 && OPCODES[head[0]!] !== undefined ? Effect.succeed(Container.Container.Pickle({ source: input, format: "pickle" })) : Effect.fail(e))
      )
    )

/**
 * The pickles of a tar file's `storages` and `tensors` members, found by
 * walking them as torch's loader does; a repeated member (which the walk
 * refuses as ambiguous) gives at least its first pickle.
 */
const tarMemberPickles = (container: Container.Container & { readonly _tag: "Tar" }) =>
  Effect.flatMap(tarPickleSpans(container.source, container.members), ({ spans, failure }) => {
    const walked = spans.map((span) => ({ record: span.record, offset: span.start, size: span.end - span.start }))
    const repeated = repeatedMembers(container.members).filter((m) => m.name === "storages" || m.name === "tensors")
    const regions = [...walked, ...repeated.map((m) => ({ record: m.name, offset: m.offset, size: m.size }))]
    // A pickle the walk could not read spans the rest of its member, which may be large: streamed past 256 MiB.
    return Effect.map(
      Effect.forEach(regions, (r) => sourcePickle(container.source, r.offset, r.size, { record: r.record, count: 1 })),
      (pickles) => ({ pickles, failure: failure?.message })
    )
  })

/** Scans a pickle too large to hold as its chunks arrive, stopping the stream once the scan is over. */
const scanChunks = (chunks: Stream.Stream<Uint8Array, TorchwireError>, record: string, count: number) =>
  Effect.suspend(() => {
    const scanner = makeStreamScanner(record, count, isDangerous)
    return chunks.pipe(
      Stream.takeWhile((chunk) => scanner.push(chunk)),
      Stream.runDrain,
      Effect.map(() => scanner.end()),
      Effect.catchAll((e) => Effect.succeed({ ...scanner.end(), error: e.message }))
    )
  })

/**
 * The operators of a mobile or flatbuffer module that reach outside the
 * model, from its decoded bytecode; or why the module does not decode.
 */
const operatorCallsOf = (container: Container.Container): Effect.Effect<{ readonly calls: Array<Container.ScriptCall>; readonly error?: string }> =>
  container.format !== "mobile" && container.format !== "flatbuffer"
    ? Effect.succeed({ calls: [] })
    : Module.open(container).pipe(
      Effect.map((archive) => ({
        calls: (archive.bytecode?.methods ?? []).flatMap((method) =>
          method.operators.flatMap((o) => {
            const call = operatorCall(o.name)
            return call === undefined ? [] : [{ ...call, record: `operators of ${method.name}` }]
          })
        )
      })),
      Effect.catchAll((e) => Effect.succeed({ calls: [], error: e.message }))
    )

/**
 * Scans a file (a source, or a container `Container.open` recognized): the
 * globals of every pickle torch would unpickle from it (`Container.pickles`,
 * and for tar files the pickles inside `storages` and `tensors`), the calls
 * of a module's code that reach outside the model (`Container.sourceCalls`
 * and a mobile module's operators: TorchScript runs at load), and the
 * container's problems (`Container.problems`). A file in no format
 * torchwire recognizes that starts with an opcode is vetted as a pickle.
 * Fails only when the file cannot be read at all (an I/O error, a zip
 * archive whose directory does not parse, a file in no format at all).
 *
 * @since 0.1.0
 * @category constructors
 */
export const scan = (input: ByteSource | Container.Container): Effect.Effect<Report, TorchwireError> =>
  Effect.gen(function*() {
    const container = yield* containerOf(input)
    const globals: Array<Finding> = []
    const unreadable: Array<string> = []
    let repeats = 0
    let unlisted = 0
    const pickles: Array<Container.PickleBytes> = yield* Container.pickles(container)
    if (container._tag === "Tar") {
      const walked = yield* tarMemberPickles(container)
      pickles.push(...walked.pickles)
      if (walked.failure !== undefined) unreadable.push(walked.failure)
    }
    for (const { record, bytes, count, bestEffort, error, chunks } of pickles) {
      if (error !== undefined) {
        unreadable.push(error)
        continue
      }
      const result = chunks === undefined ? scanPickles(bytes, record, count, isDangerous) : yield* scanChunks(chunks, record, count)
      repeats += result.repeats
      unlisted += result.unlisted
      for (const g of result.globals) {
        // Reported as Python would import it (its 2 -> 3 renames applied: `commands` is `subprocess`).
        const [module, name] = g.module === "?" || g.name === "?" ? [g.module, g.name] : translateGlobal(g.module, g.name)
        globals.push({ module, name, class: classify(g.module, g.name), record, offset: g.offset })
      }
      if (result.error !== undefined && !bestEffort) unreadable.push(result.error)
    }
    const operators = yield* operatorCallsOf(container)
    if (operators.error !== undefined) unreadable.push(operators.error)
    for (const call of [...yield* Container.sourceCalls(container), ...operators.calls]) {
      globals.push({ module: call.module, name: call.name, class: call.class, record: call.record, offset: call.offset })
    }
    const problems = Container.problems(container)
    return { verdict: verdictOf({ globals, unlisted, unreadable, problems }), format: container.format, globals, repeats, unlisted, unreadable, problems } satisfies Report
  })

/**
 * The verdict of a report's findings: dangerous with a dangerous global;
 * suspicious with an unknown or unlisted one, a pickle that stopped
 * decoding (it may hide more) or a problem (an ambiguous file may hide a
 * payload); else safe.
 *
 * @since 0.3.0
 * @category utils
 */
export const verdictOf = (report: Pick<Report, "globals" | "unlisted" | "unreadable" | "problems">): Report["verdict"] =>
  report.globals.some((g) => g.class === "dangerous") ? "dangerous"
    : report.globals.some((g) => g.class === "unknown") || report.unlisted > 0 || report.unreadable.length > 0 || report.problems.length > 0 ? "suspicious"
    : "safe"
