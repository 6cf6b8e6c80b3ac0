/**
 * Recognize a file once: which of torch's formats it holds (a `torch.save`
 * zip archive, a TorchScript or mobile archive, a flatbuffer module, the
 * legacy or tar format, a `_streaming_save` stream, a bare pickle), with the
 * container opened on the way (a zip's central directory, a tar file's
 * members). `Checkpoint.open`, `Module.open`, `Scan.scan` and the CLI's
 * `inspect` and `dis` all start here, and take an opened container so that
 * nothing is recognized, or read, twice.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type { ByteSource } from "./ByteSource.js"
import type { TorchwireError } from "./Errors.js"
import * as internal from "./internal/format/container.js"
import * as internalPickles from "./internal/format/pickles.js"
import type * as internalScriptCalls from "./internal/format/scriptCalls.js"

/**
 * The file formats torchwire recognizes.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = internal.Format

/**
 * A recognized file: a tagged union (`Zip`, `Tar`, `Stream`, `Legacy`,
 * `Pickle`, `Flatbuffer`), each with its `source` and `format`; `Zip` holds
 * the opened archive (its `format` says `zip`, `torchscript` or `mobile`),
 * `Tar` the members. Match on it with `Container.$match`.
 *
 * @since 0.2.0
 * @category models
 */
export type Container = internal.Container

/**
 * Constructors, `$is` and `$match` for `Container`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const Container = internal.Container

/**
 * True for an opened container (as against a bare `ByteSource`).
 *
 * @since 0.2.0
 * @category guards
 */
export const isContainer = (input: ByteSource | Container): input is Container => "_tag" in input && "format" in input

/**
 * A container as it is, or a source recognized: what `Checkpoint.open`,
 * `Module.open` and `Scan.scan` start from.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromInput = (input: ByteSource | Container, options?: OpenOptions): Effect.Effect<Container, TorchwireError> =>
  isContainer(input) ? Effect.succeed(input) : internal.recognize(input, options)

/**
 * Options of `open`.
 *
 * @since 0.2.0
 * @category options
 */
export type OpenOptions = internal.RecognizeOptions

/**
 * Recognizes a source's format from its first bytes (and a zip archive's
 * record names), opening its container: reads the first 512 bytes, and the
 * central directory of a zip archive or the member headers of a tar file.
 * An unknown file fails with `CheckpointError(UnknownFormat)`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const open: (source: ByteSource, options?: OpenOptions) => Effect.Effect<Container, TorchwireError> = internal.recognize

/**
 * Bytes that hold pickles, with the record they come from and how many
 * pickles lie back to back in them.
 *
 * @since 0.2.0
 * @category models
 */
export type PickleBytes = internalPickles.PickleBytes

/**
 * Every pickle a loader of the container's format would unpickle (a zip
 * archive's `pkl` records in any case, a tar file's `pickle` and `sys_info`,
 * a stream's header and `pkl` records, a legacy file's five leading
 * pickles, a bare pickle, the pickles of a zip archive hidden behind a
 * pickle, and a flatbuffer module's bytes, best effort, as torch.load would
 * unpickle them). The pickles inside a tar file's `storages` and `tensors`
 * members are found by walking them (`Scan` does).
 *
 * @since 0.2.0
 * @category getters
 */
export const pickles: (container: Container) => Effect.Effect<Array<PickleBytes>, TorchwireError> = internalPickles.picklesOf

/**
 * Why a file reads differently in different readers: a record, an offset
 * and a detail.
 *
 * @since 0.2.0
 * @category models
 */
export type Problem = internalPickles.Problem

/**
 * What makes a container read differently in different readers: a zip
 * archive's second end record or directory, names that repeat once case is
 * folded (torch's reader ignores case) and records outside the archive
 * folder; a tar file's repeated member names.
 *
 * @since 0.2.0
 * @category getters
 */
export const problems: (container: Container) => Array<Problem> = internalPickles.problemsOf

/**
 * A call in a module's code that reaches outside the model: a file-reading
 * operator (`dangerous`: `torch.from_file`, `aten::from_file`) or an
 * operator or class of a namespace torch does not define (`unknown`: a
 * custom library's), with the record and byte offset where it is written.
 *
 * @since 0.2.0
 * @category models
 */
export type ScriptCall = internalScriptCalls.ScriptCall & { readonly record: string }

/**
 * The calls of a TorchScript or mobile archive's printed code (`code/`)
 * that reach outside the model: code runs at `torch.jit.load`
 * (`__setstate__`), so `Scan` vets it too. None for other formats.
 *
 * @since 0.2.0
 * @category getters
 */
export const sourceCalls: (container: Container) => Effect.Effect<Array<ScriptCall>, TorchwireError> = internalPickles.sourceCallsOf

/**
 * The pickle of one record (default: `data.pkl` of a zip archive, `pickle`
 * of a tar file; legacy files give their five leading pickles, bare pickles
 * and streams the file). A missing record fails with `MissingRecord`.
 *
 * @since 0.2.0
 * @category getters
 */
export const recordPickle: (container: Container, record?: string) => Effect.Effect<PickleBytes, TorchwireError> = internalPickles.recordPickle

/**
 * True for formats that hold a module (open them with `Module.open`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isModuleFormat = (format: Format): format is "torchscript" | "mobile" | "flatbuffer" =>
  format === "torchscript" || format === "mobile" || format === "flatbuffer"
