/**
 * A pickle's opcodes with their byte offsets and arguments: decoded from
 * bytes in memory, or incrementally from chunks as they arrive (several
 * pickles may follow each other). `Pickle` is the public facade.
 *
 * @internal
 */
import { PickleError } from "../../Errors.js"
import { decodeOp, makeCursor, type OpArg, OPCODES } from "./opcodes.js"

/**
 * One decoded opcode.
 *
 * @internal
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
 * The opcodes of one pickle, up to and including STOP, one at a time (a
 * hostile pickle may hold tens of millions). Throws `PickleError` on
 * malformed input or if the bytes end before STOP.
 *
 * @internal
 */
export function* iterateOpcodes(bytes: Uint8Array, options: { readonly record?: string; readonly start?: number } = {}): Generator<PickleOp, void> {
  const c = makeCursor(bytes, options.start ?? 0, bytes.byteLength, options.record)
  for (;;) {
    if (!decodeOp(c)) {
      throw new PickleError({
        reason: "Truncated",
        offset: c.pos,
        detail: "pickle ends before STOP",
        ...(options.record === undefined ? {} : { record: options.record })
      })
    }
    yield opAt(c)
    if (c.code === 0x2e) return
  }
}

/**
 * Decodes the opcodes of one pickle, up to and including STOP. Throws
 * `PickleError` on malformed input or if the bytes end before STOP.
 *
 * @internal
 */
export const unsafeOpcodes = (bytes: Uint8Array, options: { readonly record?: string; readonly start?: number } = {}): Array<PickleOp> =>
  [...iterateOpcodes(bytes, options)]

/**
 * An incremental opcode decoder: push chunks as they arrive, get the opcodes
 * they complete. Buffering is amortized O(n): a long argument spanning many
 * chunks is not re-concatenated per chunk.
 *
 * @internal
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
 * @internal
 */
export const makeOpcodeDecoder = (options: {
  readonly record?: string
  readonly initialCapacity?: number
  /** Stop at the first STOP: later bytes are not opcodes (they are ignored). */
  readonly untilStop?: boolean
  /**
   * Visit each opcode as it is decoded, instead of returning them from
   * `push` (which then returns none): the opcodes before a malformed one in
   * the same chunk are seen before `push` throws. Returning false stops the
   * decoder (later bytes are ignored).
   */
  readonly onOp?: (op: PickleOp) => boolean
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
      try {
        while (decodeOp(c)) {
          const op = { ...opAt(c), arg: copyArg(c.arg) }
          sawStop = c.code === 0x2e
          if (options.onOp === undefined) out.push(op)
          else if (!options.onOp(op)) stopped = true
          if ((sawStop && options.untilStop) || stopped) {
            stopped = true
            break
          }
        }
      } finally {
        start = c.pos
      }
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

