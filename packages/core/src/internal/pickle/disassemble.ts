/**
 * The disassembler: one pickle printed as `python -m pickletools` prints it.
 *
 * @internal
 */
import { iterateOpcodes, type PickleOp } from "./opcodeStream.js"
import { decodeLatin1, OPCODES } from "./opcodes.js"
import { reprBytes, reprFloat, reprStr } from "./pyrepr.js"

const MARK = 0x28

/** Most output `unsafeDisassemble` makes, by default: hostile nesting makes pickletools' indentation quadratic. */
const MAX_OUTPUT = 64 << 20

/** Longest argument shown whole; a longer one is shown cut, with its length. */
const MAX_ARGUMENT = 1 << 20

/**
 * Disassembles one pickle the way `python -m pickletools` prints it:
 * offsets, opcode bytes, mark-level indentation, Python reprs of the
 * arguments, `(MARK at N)` notes and the highest protocol. Output stops at
 * `maxOutputBytes` (64 MiB) with a line saying how many opcodes are left,
 * and an argument over 1 MiB is shown cut: pickletools' own output of a
 * hostile pickle (a million nested MARKs) would take terabytes.
 *
 * @internal
 */
export const unsafeDisassemble = (
  bytes: Uint8Array,
  options: { readonly record?: string; readonly start?: number; readonly maxOutputBytes?: number } = {}
): string => {
  const budget = options.maxOutputBytes ?? MAX_OUTPUT
  let written = 0
  const ops = iterateOpcodes(bytes, options)
  const blocks: Array<string> = []
  const lines: Array<string> = []
  const markStack: Array<number> = []
  const memo = new Set<unknown>()
  let maxProto = 0
  for (const op of ops) {
    if (written > budget) {
      // The rest counted, not kept: a hostile pickle may hold tens of millions of opcodes.
      let more = 1
      maxProto = Math.max(maxProto, op.proto)
      for (const rest of ops) {
        more++
        maxProto = Math.max(maxProto, rest.proto)
      }
      lines.push(`... output stopped after ${written} bytes: ${more} more opcodes`)
      break
    }
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
    written += line.length + 1
    // Joined every few thousand lines: a line built piece by piece is a rope of many strings until flattened.
    if (lines.length === 8192) blocks.push(lines.splice(0).join("\n"))
  }
  lines.push(`highest protocol among opcodes = ${maxProto}`)
  blocks.push(lines.join("\n"))
  return blocks.join("\n") + "\n"
}

const reprArg = (op: PickleOp): string => {
  const arg = op.arg
  if ((typeof arg === "string" || arg instanceof Uint8Array) && arg.length > MAX_ARGUMENT) {
    return `${reprArg({ ...op, arg: arg.slice(0, MAX_ARGUMENT) })}... (${arg.length} in all)`
  }
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

