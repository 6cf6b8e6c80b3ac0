/**
 * The JSON the CLI prints: indented as `JSON.stringify(_, null, 2)` writes
 * it, refused before it is written when it would be longer than a string can
 * be, and `dis --json` made in pieces, one opcode at a time.
 *
 * @internal
 */
import { CheckpointError } from "@torchwire/core/Errors"
import * as Pickle from "@torchwire/core/Pickle"
import * as Summary from "@torchwire/core/Summary"
import * as Effect from "effect/Effect"

/** The longest JSON `inspect --json` and `dis --json` print: 256 Mi characters (V8's strings end at 512 Mi). @internal */
export const MAX_JSON_CHARS = 2 ** 28

/**
 * The length of `value` as `JSON.stringify(value, null, 2)` writes it, or
 * `Infinity` once past `budget`: the walk stops there, so a deep or wide
 * value costs at most the budget, not the string.
 */
const jsonLength = (value: unknown, budget: number): number => {
  let total = 0
  const walk = (v: unknown, depth: number): void => {
    if (total > budget) return
    if (v === null || typeof v !== "object") {
      total += typeof v === "string" ? JSON.stringify(v).length : String(JSON.stringify(v) ?? "null").length
      return
    }
    const entries = Array.isArray(v) ? v.map((x) => [undefined, x] as const) : Object.entries(v).filter(([, x]) => x !== undefined)
    if (entries.length === 0) return void (total += 2)
    // "[" or "{", each item on its own line (indented, "," between), then the closing bracket indented.
    total += 2 + 2 * depth + 1 + entries.length * (2 * (depth + 1) + 2) - 1
    for (const [key, x] of entries) {
      if (key !== undefined) total += JSON.stringify(key).length + 2
      walk(x, depth + 1)
    }
  }
  walk(value, 0)
  return total > budget ? Infinity : total
}

/**
 * A value as JSON indented by two spaces, with a final newline; a typed
 * failure for a value whose JSON would be longer than `MAX_JSON_CHARS`
 * (deep nesting multiplies the indentation), found before it is written.
 *
 * @internal
 */
export const prettyJson = (value: unknown): Effect.Effect<string, CheckpointError> =>
  jsonLength(value, MAX_JSON_CHARS) === Infinity
    ? Effect.fail(new CheckpointError({ reason: "LimitExceeded", offset: 0, detail: `the JSON would be longer than ${MAX_JSON_CHARS} characters (its values nest too deep or are too many)` }))
    : Effect.sync(() => JSON.stringify(value, null, 2) + "\n")

/**
 * One pickle of `dis --json`, in pieces, as `JSON.stringify(_, null, 2)`
 * would write it at its depth, made one opcode at a time; a
 * `CheckpointError(LimitExceeded)` once the text outgrows `budget`.
 */
export const pickleJson = (p: { readonly record: string; readonly bytes: Uint8Array; readonly start: number }, budget: { left: number }): Array<string> => {
  const chunks = [`    {\n      "record": ${JSON.stringify(p.record)},\n      "offset": ${p.start},\n      "opcodes": [`]
  const lines: Array<string> = []
  let kept = 0
  let more = 0
  for (const op of Pickle.unsafeIterateOpcodes(p.bytes, { record: p.record, start: p.start })) {
    if (kept === MAX_JSON_OPCODES) {
      more++
      continue
    }
    const arg = opArgJson(op.arg)
    const argText = arg !== null && typeof arg === "object" ? JSON.stringify(arg, null, 2).replace(/\n/g, "\n          ") : JSON.stringify(arg)
    const line = `        {\n          "offset": ${op.offset},\n          "name": "${op.name}",\n          "arg": ${argText}\n        }`
    if ((budget.left -= line.length + 2) < 0) {
      throw new CheckpointError({ reason: "LimitExceeded", offset: op.offset, record: p.record, detail: `the JSON would be longer than ${MAX_JSON_CHARS} characters` })
    }
    lines.push(line)
    // Joined every few thousand: a million small strings cost more than their text.
    if (++kept % 8192 === 0) chunks.push((kept === 8192 ? "\n" : ",\n") + lines.splice(0).join(",\n"))
  }
  if (lines.length > 0) chunks.push((kept <= 8192 ? "\n" : ",\n") + lines.join(",\n"))
  chunks.push(kept === 0 ? "]" : "\n      ]")
  if (more > 0) chunks.push(`,\n      "more": ${more}`)
  chunks.push("\n    }")
  return chunks
}

/** Most opcodes `dis --json` lists per pickle; the rest are counted in `more`. */
const MAX_JSON_OPCODES = 1_000_000

const opArgJson = (arg: Pickle.PickleOp["arg"]): unknown => {
  if (typeof arg === "bigint") return { int: arg.toString() }
  if (arg instanceof Uint8Array) return { bytes: Summary.base64(arg) }
  if (typeof arg === "number" && !Number.isFinite(arg)) return { float: Number.isNaN(arg) ? "nan" : arg > 0 ? "inf" : "-inf" }
  return arg
}
