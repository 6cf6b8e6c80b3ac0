/**
 * The lite interpreter's `bytecode.pkl` (mobile zip archives): a typed,
 * Schema-validated model of the bytecode version and, per method, its
 * instructions (opcode names checked against torch's list), operators,
 * constants, types, register size and schema (format-facts §11.1-11.2).
 * `Bytecode` is the public facade.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { CheckpointError } from "../../Errors.js"
import { PyTuple, type PyValue } from "../../Value.js"

/**
 * Instruction opcodes, in the order whose position is the numeric opcode
 * (torch/csrc/jit/runtime/instruction.h, 1.13).
 *
 * @since 0.1.0
 * @category constants
 */
export const OPCODES = [
  "OP", "OPN", "LOAD", "MOVE", "STOREN", "STORE", "DROP", "DROPR", "LOADC", "JF", "JMP", "LOOP", "RET", "WAIT",
  "CALL", "GUARD", "TYPECHECK", "FAIL_GUARD", "PROFILE_OP", "TAIL_CALL", "INTERFACE_CALL", "GET_ATTR", "SET_ATTR",
  "LIST_UNPACK", "TUPLE_CONSTRUCT", "NAMED_TUPLE_CONSTRUCT", "LIST_CONSTRUCT", "DICT_CONSTRUCT", "CREATE_OBJECT",
  "ISINSTANCE", "TUPLE_SLICE", "TUPLE_INDEX", "RAISE_EXCEPTION", "DICT_INDEX", "UNCHECKED_CAST", "__IS__",
  "UN_INITIALIZED", "__ISNOT__", "FORMAT", "DEVICE", "DTYPE", "DIM", "__NOT__", "TO_LIST", "NUM_TO_TENSOR",
  "IS_CUDA", "FORK", "WARN", "ENTER", "EXIT"
] as const

const Int = Schema.Number.pipe(Schema.int())
const Value = Schema.Unknown as Schema.Schema<PyValue>

/**
 * One instruction: opcode name, X and N operands.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Instruction = Schema.Struct({ op: Schema.Literal(...OPCODES), x: Int, n: Int })

/**
 * One operator: `aten::add` with overload `Tensor`, and (bytecode v6+) how
 * many arguments were serialized.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Operator = Schema.Struct({ name: Schema.String, overloadName: Schema.String, numArgs: Schema.optional(Int) })

/**
 * One schema argument.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Argument = Schema.Struct({ name: Schema.String, type: Schema.String, defaultValue: Value })

/**
 * One method.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Method = Schema.Struct({
  name: Schema.String,
  instructions: Schema.Array(Instruction),
  operators: Schema.Array(Operator),
  constants: Schema.Array(Value),
  types: Schema.Array(Schema.String),
  registerSize: Int.pipe(Schema.nonNegative()),
  /** Debug handles, one per instruction (flatbuffer modules keep them; a zip's bytecode.pkl does not). */
  debugHandles: Schema.optional(Schema.Array(Int)),
  schema: Schema.optional(Schema.Struct({ arguments: Schema.Array(Argument), returns: Schema.Array(Argument) }))
})

/**
 * The decoded `bytecode.pkl`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Bytecode = Schema.Struct({ version: Int.pipe(Schema.between(4, 9)), methods: Schema.Array(Method) })

/**
 * The decoded `bytecode.pkl`.
 *
 * @since 0.1.0
 * @category models
 */
export type Bytecode = typeof Bytecode.Type

const items = (v: PyValue | undefined): ReadonlyArray<PyValue> => (v instanceof PyTuple ? v.items : Array.isArray(v) ? v : [])

/** The value of a `(name, value)` pair, checking the name as the loader does ("Expected X found Y"). */
const pair = (v: PyValue | undefined, name: string, where: string): PyValue => {
  const [key, value] = items(v)
  if (key !== name) throw new CheckpointError({ reason: "BadRecord", offset: 0, record: "bytecode.pkl", detail: `${where}: expected ${name}, found ${String(key)}` })
  return value ?? null
}

const argument = (a: PyValue) => {
  const [n, t, d] = items(a)
  return { name: pair(n, "name", "argument"), type: pair(t, "type", "argument"), defaultValue: pair(d, "default_value", "argument") }
}

/**
 * Decodes the unpickled `bytecode.pkl` tuple into the typed model, failing
 * with a `CheckpointError` that names what is wrong.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (value: PyValue): Bytecode => {
  const [version, ...methods] = items(value)
  const input = {
    version,
    methods: methods.map((m) => {
      const [name, code, schema] = items(m)
      const [instructions, operators, constants, types, registerSize] = items(code)
      const schemaItems = items(schema)
      return {
        name,
        instructions: items(pair(instructions, "instructions", String(name))).map((i) => {
          const [op, x, n, ...rest] = items(i)
          return rest.length > 0 || n === undefined ? { op: "?", x, n } : { op, x, n }
        }),
        operators: items(pair(operators, "operators", String(name))).map((o) => {
          const [opName, overloadName, numArgs] = items(o)
          return numArgs === undefined ? { name: opName, overloadName } : { name: opName, overloadName, numArgs }
        }),
        constants: items(pair(constants, "constants", String(name))),
        types: items(pair(types, "types", String(name))),
        registerSize: pair(registerSize, "register_size", String(name)),
        ...(schemaItems.length === 0 ? {} : {
          schema: {
            arguments: items(pair(schemaItems[0], "arguments", String(name))).map(argument),
            returns: items(pair(schemaItems[1], "returns", String(name))).map(argument)
          }
        })
      }
    })
  }
  const result = Schema.decodeUnknownEither(Bytecode)(input)
  if (Either.isRight(result)) return result.right
  throw new CheckpointError({ reason: "BadRecord", offset: 0, record: "bytecode.pkl", detail: ParseResult.TreeFormatter.formatErrorSync(result.left) })
}
