/**
 * The lite interpreter's `bytecode.pkl` (mobile zip archives): a typed,
 * Schema-validated model of the bytecode version and, per method, its
 * instructions (opcode names checked against torch's list), operators,
 * constants, types, register size and schema (format-facts §11.1-11.2).
 * `decode` validates an unpickled `bytecode.pkl`; the schemas are
 * `Bytecode`, `Method`, `Instruction`, `Operator` and `Argument`, and
 * `OPCODES` lists the instruction names by opcode number.
 *
 * @since 0.1.0
 */
export { Argument, Bytecode, decode, Instruction, Method, OPCODES, Operator } from "./internal/module/bytecode.js"
