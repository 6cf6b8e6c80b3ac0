/**
 * Python pickles, protocols 0-5: opcodes (as arrays or Effect Streams, with
 * byte offsets), a `pickletools.dis`-compatible disassembler, and `load`,
 * which builds a `PyValue` without executing anything.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Stream from "effect/Stream"
import { attempt, PickleError } from "./Errors.js"
import * as disassemble from "./internal/pickle/disassemble.js"
import * as opcodeStream from "./internal/pickle/opcodeStream.js"
import { pythonGlobals } from "./internal/pickle/globals.js"
import { pickle } from "./internal/pickle/pickler.js"
import { reduceTorchValue } from "./internal/torch/pickle.js"
import type { UnpickleOptions } from "./internal/pickle/hooks.js"
import { unpickle } from "./internal/pickle/unpickler.js"
import { decodeWith, isDataFirst } from "./internal/pushDecoder.js"
import type { PyValue } from "./Value.js"

/**
 * One decoded opcode: its byte offset, code, pickletools' name, inline
 * argument (GLOBAL and INST give `[module, name]`) and the protocol that
 * introduced it.
 *
 * @since 0.1.0
 * @category models
 */
export type PickleOp = opcodeStream.PickleOp

/**
 * Decodes the opcodes of one pickle, up to and including STOP. Throws
 * `PickleError` on malformed input or if the bytes end before STOP.
 *
 * @since 0.1.0
 * @category decoding
 */
export const unsafeOpcodes: (bytes: Uint8Array, options?: { readonly record?: string; readonly start?: number }) => Array<PickleOp> = opcodeStream.unsafeOpcodes

/**
 * The opcodes of one pickle, up to and including STOP, one at a time, kept
 * by no one (a hostile pickle may hold tens of millions). Iterating throws
 * `PickleError` on malformed input or if the bytes end before STOP.
 *
 * @since 0.2.0
 * @category decoding
 */
export const unsafeIterateOpcodes: (bytes: Uint8Array, options?: { readonly record?: string; readonly start?: number }) => Generator<PickleOp, void> =
  opcodeStream.iterateOpcodes

/**
 * The opcodes of one pickle held in memory, as a Stream.
 *
 * @since 0.1.0
 * @category decoding
 */
export const opcodes = (bytes: Uint8Array, options: { readonly record?: string } = {}): Stream.Stream<PickleOp, PickleError> =>
  Stream.unwrap(
    Effect.map(
      attempt(() => unsafeOpcodes(bytes, options), PickleError),
      (ops) => Stream.fromIterable(ops)
    )
  )

/**
 * An incremental opcode decoder: push chunks as they arrive, get the opcodes
 * they complete (`push` throws `PickleError`); `end` fails with `Truncated`
 * if an opcode is incomplete or STOP was never seen. Buffering is amortized
 * O(n): a long argument spanning many chunks is not re-concatenated per
 * chunk.
 *
 * @since 0.1.0
 * @category decoding
 */
export type OpcodeDecoder = opcodeStream.OpcodeDecoder

/**
 * Creates an incremental opcode decoder for a stream of pickles (several
 * pickles may follow each other; each ends with STOP; with `untilStop`,
 * bytes after the first STOP are ignored).
 *
 * @since 0.1.0
 * @category decoding
 */
export const makeOpcodeDecoder = opcodeStream.makeOpcodeDecoder

/**
 * Decodes a stream of byte chunks into a stream of opcodes, incrementally.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeStream: {
  (options?: { readonly record?: string }): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<PickleOp, E | PickleError, R>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>, options?: { readonly record?: string }): Stream.Stream<PickleOp, E | PickleError, R>
} = dual(isDataFirst, <E, R>(self: Stream.Stream<Uint8Array, E, R>, options: { readonly record?: string } = {}): Stream.Stream<PickleOp, E | PickleError, R> =>
  decodeWith(self, () => opcodeStream.makeOpcodeDecoder(options), PickleError))

/**
 * Disassembles one pickle the way `python -m pickletools` prints it:
 * offsets, opcode bytes, mark-level indentation, Python reprs of the
 * arguments, `(MARK at N)` notes and the highest protocol. Output stops at
 * `maxOutputBytes` (64 MiB) with a line saying how many opcodes are left,
 * and an argument over 1 MiB is shown cut (hostile nesting would make
 * pickletools' indentation take terabytes). Throws `PickleError` on
 * malformed input.
 *
 * @since 0.1.0
 * @category decoding
 */
export const unsafeDisassemble: (
  bytes: Uint8Array,
  options?: { readonly record?: string; readonly start?: number; readonly maxOutputBytes?: number }
) => string = disassemble.unsafeDisassemble

/**
 * Options of `load`.
 *
 * @since 0.1.0
 * @category options
 */
export interface LoadOptions {
  /** Record name for error messages. */
  readonly record?: string
  /** Offset of the pickle in `bytes`. */
  readonly start?: number
  /** How Python 2 strings decode (default utf-8, as torch.load). */
  readonly encoding?: UnpickleOptions["encoding"]
  /** The copyreg extension registry for EXT1/2/4 opcodes. */
  readonly extensions?: ReadonlyMap<number, readonly [string, string]>
  /** Resolves persistent ids; without it they are an error. */
  readonly persistentLoad?: (pid: PyValue) => PyValue
  /** Most memo entries, stack values and values pushed in all (defaults 5,000,000, 10,000,000 and 50,000,000). */
  readonly maxMemo?: number
  readonly maxStack?: number
  readonly maxValues?: number
  /** Most memory the values may take, as estimated while they are made (default: 64 times the pickle's size, at least 64 MiB, at most 1 GiB). */
  readonly maxValueBytes?: number
}

/**
 * Unpickles a bare pickle into the value model. Python builtins that are
 * plain data (`set`, `frozenset`, `bytearray`, `complex`, `_codecs.encode`,
 * `collections.OrderedDict`) are modelled; every other global becomes an
 * opaque `PyGlobal`/`PyObject`. Nothing is executed.
 *
 * @since 0.1.0
 * @category decoding
 */
export const load = (bytes: Uint8Array, options: LoadOptions = {}): Effect.Effect<PyValue, PickleError> =>
  attempt(
    () =>
      unpickle(bytes, options.start ?? 0, {
        findClass: (module, name) => pythonGlobals(module, name),
        ...(options.persistentLoad === undefined ? {} : { persistentLoad: (pid: PyValue) => options.persistentLoad!(pid) }),
        ...(options.record === undefined ? {} : { record: options.record }),
        ...(options.encoding === undefined ? {} : { encoding: options.encoding }),
        ...(options.extensions === undefined ? {} : { extensions: options.extensions }),
        ...(options.maxMemo === undefined ? {} : { maxMemo: options.maxMemo }),
        ...(options.maxStack === undefined ? {} : { maxStack: options.maxStack }),
        ...(options.maxValues === undefined ? {} : { maxValues: options.maxValues }),
        ...(options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes })
      }).value,
    PickleError
  )

/**
 * Pickles a value as CPython's pickler would pickle the corresponding Python
 * object (protocol 2 by default, 0-5 on request). A value loaded with `load`
 * re-pickles to the same bytes: string identities read from the original
 * memo are kept. Tensors and storages need `Save` (data.pkl of a checkpoint).
 *
 * @since 0.1.0
 * @category encoding
 */
export const dump = (value: PyValue, options: { readonly protocol?: number } = {}): Effect.Effect<Uint8Array, PickleError> =>
  attempt(() => pickle(value, { protocol: options.protocol ?? 2, reduce: reduceTorchValue }), PickleError)
