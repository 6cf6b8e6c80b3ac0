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
import { decodeLatin1, decodeOp, makeCursor, type OpArg, OPCODES } from "./internal/pickle/opcodes.js"
import { reprBytes, reprFloat, reprStr } from "./internal/pickle/pyrepr.js"
import { pythonGlobals } from "./internal/pickle/globals.js"
import { pickle } from "./internal/pickle/pickler.js"
import { reduceTorchValue } from "./internal/torch/pickle.js"
import type { UnpickleOptions } from "./internal/pickle/hooks.js"
import { unpickle } from "./internal/pickle/unpickler.js"
import { decodeWith, isDataFirst } from "./internal/pushDecoder.js"
import type { PyValue } from "./Value.js"

/**
 * One decoded opcode.
 *
 * @since 0.1.0
 * @category models
 */
export interface PickleOp {
  /** Byte offset of the opcode in the pickle. */
  readonly offset: number
  /** The opcode byte. */
  readonly code: number
  /** pickletools' name: `BINUNICODE`, `GLOBAL`, ... */
  readonly name: string
  /** The inline argument (GLOBAL/INST give `[module, name]`). */
  readonly arg: OpArg
  /** The protocol that introduced the opcode. */
  readonly proto: number
}

const opAt = (c: ReturnType<typeof makeCursor>): PickleOp => {
  const info = OPCODES[c.code]!
  return { offset: c.base + c.start, code: c.code, name: info.name, arg: c.arg, proto: info.proto }
}

/**
 * Decodes the opcodes of one pickle, up to and including STOP. Throws
 * `PickleError` on malformed input or if the bytes end before STOP.
 *
 * @since 0.1.0
 * @category decoding
 */
export const unsafeOpcodes = (bytes: Uint8Array, options: { readonly record?: string; readonly start?: number } = {}): Array<PickleOp> => {
  const c = makeCursor(bytes, options.start ?? 0, bytes.byteLength, options.record)
  const ops: Array<PickleOp> = []
  for (;;) {
    if (!decodeOp(c)) {
      throw new PickleError({
        reason: "Truncated",
        offset: c.pos,
        detail: "pickle ends before STOP",
        ...(options.record === undefined ? {} : { record: options.record })
      })
    }
    ops.push(opAt(c))
    if (c.code === 0x2e) return ops
  }
}

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
 * they complete. Buffering is amortized O(n): a long argument spanning many
 * chunks is not re-concatenated per chunk.
 *
 * @since 0.1.0
 * @category decoding
 */
export interface OpcodeDecoder {
  /** Decodes what `chunk` completes. Throws `PickleError`. */
  readonly push: (chunk: Uint8Array) => Array<PickleOp>
  /** Fails with `Truncated` if an opcode is incomplete (or STOP was never seen). */
  readonly end: () => void
}

/**
 * Creates an incremental opcode decoder for a stream of pickles (several
 * pickles may follow each other; each ends with STOP).
 *
 * @since 0.1.0
 * @category decoding
 */
export const makeOpcodeDecoder = (options: {
  readonly record?: string
  readonly initialCapacity?: number
  /** Stop at the first STOP: later bytes are not opcodes (they are ignored). */
  readonly untilStop?: boolean
} = {}): OpcodeDecoder => {
  let stopped = false
  let buf = new Uint8Array(options.initialCapacity ?? 64 * 1024)
  let start = 0
  let end = 0
  let consumed = 0 // bytes dropped from the front of buf
  let sawStop = true
  const append = (chunk: Uint8Array) => {
    if (end + chunk.length > buf.length) {
      const live = end - start
      if (live + chunk.length > buf.length / 2) {
        const grown = new Uint8Array(Math.max(buf.length * 2, live + chunk.length))
        grown.set(buf.subarray(start, end))
        buf = grown
      } else {
        buf.copyWithin(0, start, end)
      }
      consumed += start
      end = live
      start = 0
    }
    buf.set(chunk, end)
    end += chunk.length
  }
  return {
    push: (chunk) => {
      if (stopped) return []
      append(chunk)
      const c = makeCursor(buf, start, end, options.record, consumed)
      const out: Array<PickleOp> = []
      while (decodeOp(c)) {
        out.push({ ...opAt(c), arg: copyArg(c.arg) })
        sawStop = c.code === 0x2e
        if (sawStop && options.untilStop) {
          stopped = true
          break
        }
      }
      start = c.pos
      return out
    },
    end: () => {
      if (!stopped && (start < end || !sawStop)) {
        throw new PickleError({
          reason: "Truncated",
          offset: consumed + start,
          detail: start < end ? "stream ends inside an opcode" : "stream ends before STOP",
          ...(options.record === undefined ? {} : { record: options.record })
        })
      }
    }
  }
}

const copyArg = (arg: OpArg): OpArg => (arg instanceof Uint8Array ? arg.slice() : arg)

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
  decodeWith(self, () => makeOpcodeDecoder(options), PickleError))

const MARK = 0x28

/**
 * Disassembles one pickle the way `python -m pickletools` prints it:
 * offsets, opcode bytes, mark-level indentation, Python reprs of the
 * arguments, `(MARK at N)` notes and the highest protocol.
 *
 * @since 0.1.0
 * @category decoding
 */
export const unsafeDisassemble = (bytes: Uint8Array, options: { readonly record?: string; readonly start?: number } = {}): string => {
  const lines: Array<string> = []
  const markStack: Array<number> = []
  const memo = new Set<unknown>()
  let maxProto = 0
  for (const op of unsafeOpcodes(bytes, options)) {
    // repr() of the opcode character without its quotes (no opcode is a quote or a backslash).
    const codeRepr = op.code < 0x20 || op.code >= 0x7f ? `\\x${op.code.toString(16).padStart(2, "0")}` : String.fromCharCode(op.code)
    let line = `${String(op.offset).padStart(5)}: ${codeRepr.padEnd(4)} ${"    ".repeat(markStack.length)}${op.name}`
    maxProto = Math.max(maxProto, op.proto)
    let markMsg: string | undefined
    if (OPCODES[op.code]!.popsMark) {
      const at = markStack.pop()
      markMsg = at === undefined ? "no MARK exists on stack" : `(MARK at ${at})`
    }
    if (op.code === MARK) markStack.push(op.offset)
    if (op.name === "MEMOIZE") {
      markMsg = `(as ${memo.size})`
      memo.add(memo.size)
    } else if (op.name === "PUT" || op.name === "BINPUT" || op.name === "LONG_BINPUT") {
      memo.add(op.arg)
    }
    if (op.arg !== null || markMsg !== undefined) {
      line += " ".repeat(Math.max(0, 10 - op.name.length))
      if (op.arg !== null) line += " " + reprArg(op)
      if (markMsg !== undefined) line += " " + markMsg
    }
    lines.push(line)
  }
  lines.push(`highest protocol among opcodes = ${maxProto}`)
  return lines.join("\n") + "\n"
}

const reprArg = (op: PickleOp): string => {
  const arg = op.arg
  if (typeof arg === "string") return reprStr(arg)
  if (typeof arg === "boolean") return arg ? "True" : "False"
  if (typeof arg === "bigint") return arg.toString()
  if (typeof arg === "number") return op.name === "BINFLOAT" || op.name === "FLOAT" ? reprFloat(arg) : String(arg)
  if (arg instanceof Uint8Array) {
    // pickletools decodes Python 2 strings as latin-1 text.
    if (op.name === "BINSTRING" || op.name === "SHORT_BINSTRING") return reprStr(decodeLatin1(arg))
    return op.name === "BYTEARRAY8" ? `bytearray(${reprBytes(arg)})` : reprBytes(arg)
  }
  if (Array.isArray(arg)) return reprStr(`${arg[0]} ${arg[1]}`)
  return String(arg)
}

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
  /** Most memo entries and stack values (defaults 5,000,000 and 10,000,000). */
  readonly maxMemo?: number
  readonly maxStack?: number
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
        ...(options.maxStack === undefined ? {} : { maxStack: options.maxStack })
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
