/**
 * A verifier for mobile flatbuffer modules: checks every vtable, offset,
 * length, string terminator and union tag reachable from the root against
 * the schema (flatbuffers/mobile_bytecode.fbs) before any accessor reads
 * the buffer. The flatbuffers npm package has no verifier; this one gives
 * typed errors with the byte offset and the table/field at fault. Each
 * table is verified once (shared subtables cost nothing twice), and depth
 * and table count are bounded.
 *
 * @internal
 */
import { CheckpointError } from "../../Errors.js"

type Field =
  | { readonly k: "scalar"; readonly size: number }
  | { readonly k: "string" }
  | { readonly k: "table"; readonly of: string }
  | { readonly k: "vector"; readonly size: number }
  | { readonly k: "tables"; readonly of: string }
  | { readonly k: "strings" }
  | { readonly k: "unionType" }
  | { readonly k: "union"; readonly typeField: number }

const s = (size: number): Field => ({ k: "scalar", size })
const str: Field = { k: "string" }
const t = (of: string): Field => ({ k: "table", of })
const v = (size: number): Field => ({ k: "vector", size })
const ts = (of: string): Field => ({ k: "tables", of })

/** Field layouts of every table, by field id (schema order). */
const TABLES: Record<string, ReadonlyArray<Field>> = {
  QuantizedSchema: [s(1), s(8), s(4), t("TensorMetadata"), t("TensorMetadata"), s(4)],
  TensorMetadata: [s(4), s(1), s(4), v(4), v(4), s(1), t("QuantizedSchema")],
  String: [str],
  Device: [str],
  List: [v(4), str],
  IntList: [v(8)],
  DoubleList: [v(8)],
  BoolList: [v(1)],
  Tuple: [v(4)],
  Dict: [v(4), v(4), str],
  ObjectType: [str, s(1), { k: "strings" }],
  Object: [s(4), s(4), v(4), s(4)],
  EnumValue: [str, s(4)],
  Operator: [str, str, s(4)],
  Arg: [str, str, s(4)],
  Schema: [ts("Arg"), ts("Arg")],
  DebugInfo: [v(8)],
  Function: [str, v(8), ts("Operator"), v(4), { k: "strings" }, s(4), t("Schema"), t("DebugInfo"), s(4)],
  StorageData: [v(1)],
  IValue: [{ k: "unionType" }, { k: "union", typeField: 0 }],
  ExtraFile: [str, str],
  Module: [s(4), ts("ExtraFile"), v(4), s(4), ts("IValue"), s(4), ts("StorageData"), ts("ObjectType"), ts("ExtraFile"), v(4), s(4), s(4)]
}

/** IValueUnion members by tag: a struct's size, or a table's name. */
const UNION: ReadonlyArray<number | string | undefined> = [
  undefined, 8, 1, 8, 16, "TensorMetadata", "String", "List", "Tuple", "Dict", "Object", "IntList", "DoubleList", "BoolList", "Device", "EnumValue", "Function"
]

/** The flatbuffer file identifier of a module (bytes 4..7). @internal */
export const FLATBUFFER_IDENTIFIER = "PTMF"

/** Limits of the verifier. @internal */
export interface VerifyLimits {
  readonly maxDepth: number
  readonly maxTables: number
}

/**
 * Verifies a whole mobile flatbuffer module. Throws `CheckpointError`
 * naming the table, field and offset of the first problem.
 *
 * @internal
 */
export const verifyModule = (buf: Uint8Array, limits: VerifyLimits = { maxDepth: 64, maxTables: 10_000_000 }): void => {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const len = buf.byteLength
  const fail = (offset: number, where: string, detail: string): never => {
    throw new CheckpointError({ reason: "BadRecord", offset, record: `flatbuffer ${where}`, detail })
  }
  const need = (at: number, n: number, where: string, what: string) => {
    if (!Number.isSafeInteger(at) || at < 0 || at + n > len) fail(at, where, `${what} (${n} bytes at ${at}) lies outside the ${len}-byte buffer`)
  }
  const u32 = (at: number, where: string) => (need(at, 4, where, "offset"), view.getUint32(at, true))
  const seen = new Set<number>()

  const string = (at: number, where: string) => {
    const n = u32(at, where)
    need(at + 4, n + 1, where, "string")
    if (buf[at + 4 + n] !== 0) fail(at + 4 + n, where, "string is not NUL-terminated")
  }
  const vector = (at: number, elem: number, where: string): number => {
    const n = u32(at, where)
    need(at + 4, n * elem, where, `vector of ${n} elements`)
    return n
  }
  const table = (pos: number, name: string, depth: number) => {
    const where = name
    if (depth > limits.maxDepth) fail(pos, where, `tables nest deeper than ${limits.maxDepth}`)
    if (seen.has(pos)) return
    if (seen.size >= limits.maxTables) fail(pos, where, `more than ${limits.maxTables} tables`)
    seen.add(pos)
    need(pos, 4, where, "table")
    const vt = pos - view.getInt32(pos, true)
    need(vt, 4, where, "vtable")
    const vsize = view.getUint16(vt, true)
    const tsize = view.getUint16(vt + 2, true)
    if (vsize < 4 || vsize % 2 !== 0) fail(vt, where, `vtable size ${vsize} is invalid`)
    need(vt, vsize, where, "vtable")
    need(pos, tsize, where, "table body")
    const fields = TABLES[name]!
    const fieldAt = (id: number): number | undefined => {
      const slot = 4 + 2 * id
      if (slot >= vsize) return undefined
      const off = view.getUint16(vt + slot, true)
      return off === 0 ? undefined : pos + off
    }
    fields.forEach((field, id) => {
      const at = fieldAt(id)
      if (at === undefined) return
      const fw = `${name}.field${id}`
      const size = field.k === "scalar" ? field.size : field.k === "unionType" ? 1 : 4
      if (at + size > pos + tsize) fail(at, fw, "field lies outside its table")
      if (field.k === "scalar" || field.k === "unionType") return
      const target = at + view.getUint32(at, true)
      switch (field.k) {
        case "string":
          return string(target, fw)
        case "table":
          return table(target, field.of, depth + 1)
        case "vector":
          return void vector(target, field.size, fw)
        case "strings": {
          const n = vector(target, 4, fw)
          for (let i = 0; i < n; i++) string(target + 4 + 4 * i + view.getUint32(target + 4 + 4 * i, true), fw)
          return
        }
        case "tables": {
          const n = vector(target, 4, fw)
          for (let i = 0; i < n; i++) table(target + 4 + 4 * i + view.getUint32(target + 4 + 4 * i, true), field.of, depth + 1)
          return
        }
        case "union": {
          const typeAt = fieldAt(field.typeField)
          const tag = typeAt === undefined ? 0 : buf[typeAt]!
          const member = UNION[tag]
          if (tag === 0) return fail(at, fw, "union value without a type")
          if (member === undefined) return fail(typeAt!, fw, `unknown union type ${tag}`)
          if (typeof member === "number") return need(target, member, fw, "union struct")
          return table(target, member, depth + 1)
        }
      }
    })
  }

  need(0, 8, "root", "header")
  if (String.fromCharCode(buf[4]!, buf[5]!, buf[6]!, buf[7]!) !== FLATBUFFER_IDENTIFIER) fail(4, "root", `file identifier is not ${FLATBUFFER_IDENTIFIER}`)
  table(view.getUint32(0, true), "Module", 0)
}
