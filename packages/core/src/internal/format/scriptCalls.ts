/**
 * Calls in a TorchScript archive's code that reach outside the model: the
 * printed sources of `code/` (`torch.from_file(...)`, `ops.myns.op(...)`,
 * `torch.classes.myns.Cls`) and the operators of mobile bytecode and
 * flatbuffer modules, as decoded (`aten::from_file`, `myns::op`). TorchScript runs at
 * `torch.jit.load` (`__setstate__`) and at every call, so a file-reading op
 * is dangerous and an operator from a namespace torch does not define (a
 * custom library's) is unknown. Nothing is compiled or run: this is a text
 * search over what the archive prints.
 *
 * @internal
 */

/** A call found in code or an operator table. @internal */
export interface ScriptCall {
  /** `torch.ops.<namespace>` (or `torch.classes.<namespace>`). */
  readonly module: string
  readonly name: string
  readonly class: "dangerous" | "unknown"
  /** Byte offset of the call's text in the record (latin-1 decoded, so bytes and characters agree). */
  readonly offset: number
}

/** Namespaces of operators and classes torch itself defines. */
const TORCH_NAMESPACES = new Set([
  "aten", "prim", "quantized", "_quantized", "quantized_decomposed", "prepacked", "xnnpack", "profiler", "_caffe2",
  "cuda", "mkldnn", "mkldnn_prepacked", "onednn", "sparse", "vulkan", "vulkan_prepack", "fbgemm", "mkl", "_nnapi",
  "__torch__", "torch", "rngprim", "_test", "inductor", "debugprims", "prims", "quantized_ops", "c10d", "dist_c10d",
  "_TorchScriptTesting", "upgraders", "sparse_quantized"
])

/** Operators of torch's own namespaces that read or write files. */
const FILE_OPERATORS = new Set(["from_file"])

const classOf = (namespace: string, name: string): ScriptCall["class"] | undefined =>
  FILE_OPERATORS.has(name) && (namespace === "aten" || namespace === "torch") ? "dangerous" : TORCH_NAMESPACES.has(namespace) ? undefined : "unknown"

/** A pattern's matches as calls (group 1 the namespace, group 2 the name). */
const callsOf = (text: string, pattern: RegExp, module: (namespace: string) => string): Array<ScriptCall> => {
  const out: Array<ScriptCall> = []
  for (const m of text.matchAll(pattern)) {
    const [, namespace, name] = m as unknown as [string, string, string]
    const c = classOf(namespace, name)
    if (c !== undefined) out.push({ module: module(namespace), name, class: c, offset: m.index! })
  }
  return out
}

const decoder = new TextDecoder("latin1")

/**
 * The calls in a `code/` source: `torch.<op>(` for file operators,
 * `ops.<namespace>.<op>` and `torch.classes.<namespace>.<class>` outside
 * torch's namespaces.
 *
 * @internal
 */
export const sourceCalls = (bytes: Uint8Array): Array<ScriptCall> => {
  const text = decoder.decode(bytes)
  return [
    ...callsOf(text, /(?<![\w.])(torch)\.([A-Za-z_]\w*)\s*\(/g, () => "torch").filter((c) => c.class === "dangerous"),
    ...callsOf(text, /(?<![\w.])ops\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)/g, (ns) => `torch.ops.${ns}`),
    ...callsOf(text, /(?<![\w.])torch\.classes\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)/g, (ns) => `torch.classes.${ns}`)
  ].sort((a, b) => a.offset - b.offset)
}

/**
 * An operator of a mobile module's operator table (`aten::from_file`,
 * `myns::op`), as a call when it reaches outside the model.
 *
 * @internal
 */
export const operatorCall = (operator: string): ScriptCall | undefined => {
  const m = /^([A-Za-z_]\w*)::([A-Za-z_]\w*)/.exec(operator)
  if (m === null) return undefined
  const c = classOf(m[1]!, m[2]!)
  return c === undefined ? undefined : { module: `torch.ops.${m[1]}`, name: m[2]!, class: c, offset: 0 }
}
