/**
 * What the CLI prints: a readable tree of a checkpoint (keys, dtypes,
 * shapes, element counts, totals), its canonical JSON summary, and pickle
 * disassembly. Files are described, never executed: opaque globals are
 * shown by name.
 *
 * @since 0.1.0
 */
import type { ByteSource } from "@torchwire/core/ByteSource"
import * as Checkpoint from "@torchwire/core/Checkpoint"
import * as Container from "@torchwire/core/Container"
import { attempt, CheckpointError, type TorchwireError } from "@torchwire/core/Errors"
import * as Module from "@torchwire/core/Module"
import * as Pickle from "@torchwire/core/Pickle"
import type * as Scan from "@torchwire/core/Scan"
import * as Summary from "@torchwire/core/Summary"
import { Device, DType, Parameter, Tensor, TorchSize } from "@torchwire/core/Torch"
import {
  OrderedDict,
  PyByteArray,
  PyComplex,
  PyFloat,
  PyFrozenSet,
  PyGlobal,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  typeName
} from "@torchwire/core/Value"
import * as Effect from "effect/Effect"

/**
 * Human-readable byte count (`1.5 MiB`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatBytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`
}

const group = (n: number): string => n.toLocaleString("en-US")

const tensorLine = (t: Tensor): string => {
  const kind = t instanceof Parameter ? "parameter" : "tensor"
  const flags = [
    t.requiresGrad ? "requires_grad" : undefined,
    t.quantization ? t.quantization.scheme : undefined,
    t.storage === undefined ? "meta" : undefined,
    t.storage !== undefined && t.storage.location !== "cpu" ? t.storage.location : undefined
  ].filter(Boolean)
  return `${kind} ${t.dtype.name} [${t.shape.join(", ")}]  ${group(t.numel)} el, ${formatBytes(t.nbytes)}${flags.length ? `  (${flags.join(", ")})` : ""}`
}

const scalar = (v: PyValue): string | undefined => {
  if (v === null) return "None"
  if (typeof v === "boolean") return v ? "True" : "False"
  if (typeof v === "number" || typeof v === "bigint") return String(v)
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? v.slice(0, 77) + "..." : v)
  if (v instanceof PyFloat) return Number.isInteger(v.value) ? v.value.toFixed(1) : String(v.value)
  if (v instanceof PyComplex) return `(${v.re}${v.im < 0 ? "-" : "+"}${Math.abs(v.im)}j)`
  if (v instanceof Uint8Array) return `bytes (${v.length})`
  if (v instanceof PyByteArray) return `bytearray (${v.bytes.length})`
  if (v instanceof Tensor) return tensorLine(v)
  if (v instanceof DType) return `torch.${v.name}`
  if (v instanceof Device) return `device(${JSON.stringify(v.toString())})`
  if (v instanceof TorchSize) return `torch.Size([${v.dims.join(", ")}])`
  if (v instanceof PyGlobal) return `<global ${v.qualifiedName}>`
  return undefined
}

const keyLabel = (k: PyValue): string => (typeof k === "string" ? k : scalar(k) ?? typeName(k))

const children = (v: PyValue): Array<readonly [string, PyValue]> | undefined => {
  if (v instanceof Map) return [...v].map(([k, x]) => [keyLabel(k), x])
  if (Array.isArray(v)) return v.map((x, i) => [`[${i}]`, x])
  if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) return v.items.map((x, i) => [`[${i}]`, x])
  if (v instanceof PyObject) {
    const out: Array<readonly [string, PyValue]> = []
    if (v.state instanceof Map) for (const [k, x] of v.state) out.push([keyLabel(k), x])
    else if (v.state !== undefined) out.push(["(state)", v.state])
    v.listItems.forEach((x, i) => out.push([`[${i}]`, x]))
    for (const [k, x] of v.dictItems) out.push([keyLabel(k), x])
    return out
  }
  return undefined
}

const header = (v: PyValue, n: number): string => {
  const name = v instanceof PyObject ? `${v.cls.qualifiedName} (opaque object)` : typeName(v)
  const attrs = v instanceof OrderedDict && v.attrs.size > 0 ? `  {${[...v.attrs.keys()].join(", ")}}` : ""
  return `${name} (${group(n)} item${n === 1 ? "" : "s"})${attrs}`
}

/**
 * Options of `renderTree`.
 *
 * @since 0.1.0
 * @category options
 */
export interface TreeOptions {
  /** Items shown per container before "... N more" (default 50). */
  readonly maxItems?: number
  /** Deepest level shown (default 12). */
  readonly maxDepth?: number
  /** Most lines printed (default 5000): shared references would otherwise repeat without end. */
  readonly maxLines?: number
}

/**
 * Renders a value as an indented tree, one line per item.
 *
 * @since 0.1.0
 * @category formatting
 */
export const renderTree = (value: PyValue, options: TreeOptions = {}): Array<string> => {
  const maxItems = options.maxItems ?? 50
  const maxDepth = options.maxDepth ?? 12
  const maxLines = options.maxLines ?? 5000
  const lines: Array<string> = []
  const walk = (v: PyValue, indent: string, depth: number) => {
    if (lines.length >= maxLines) return
    const kids = children(v) ?? []
    const shown = kids.slice(0, maxItems)
    shown.forEach(([k, x], i) => {
      const last = i === shown.length - 1 && kids.length <= maxItems
      const branch = last ? "└─ " : "├─ "
      const s = scalar(x)
      const sub = children(x)
      if (s !== undefined || sub === undefined) {
        lines.push(`${indent}${branch}${k}: ${s ?? typeName(x)}`)
      } else {
        lines.push(`${indent}${branch}${k}: ${header(x, sub.length)}`)
        if (depth + 1 < maxDepth) walk(x, indent + (last ? "   " : "│  "), depth + 1)
        else if (sub.length > 0) lines.push(`${indent}${last ? "   " : "│  "}└─ ...`)
      }
    })
    if (kids.length > maxItems) lines.push(`${indent}└─ ... ${group(kids.length - maxItems)} more`)
  }
  const s = scalar(value)
  const top = children(value)
  if (s !== undefined || top === undefined) lines.push(s ?? typeName(value))
  else {
    lines.push(header(value, top.length))
    walk(value, "", 0)
  }
  if (lines.length > maxLines) {
    lines.length = maxLines
    lines.push(`... (output stops at ${maxLines} lines)`)
  }
  return lines
}

/**
 * Totals over the distinct tensors of a value.
 *
 * @since 0.1.0
 * @category formatting
 */
export const totals = (value: PyValue): { readonly tensors: number; readonly elements: number; readonly bytes: number } => {
  const unique = new Set(Checkpoint.tensors(value).map(([, t]) => t))
  let elements = 0
  let bytes = 0
  for (const t of unique) {
    elements += t.numel
    bytes += t.nbytes
  }
  return { tensors: unique.size, elements, bytes }
}

/**
 * The `inspect` report for an open checkpoint.
 *
 * @since 0.1.0
 * @category formatting
 */
export const report = (checkpoint: Checkpoint.Checkpoint, options: TreeOptions = {}): string => {
  const c = checkpoint
  const facts = [
    `${c.format} checkpoint`,
    formatBytes(c.source.size),
    c.prefix === undefined ? undefined : `archive "${c.prefix}"`,
    c.version === undefined ? undefined : `version ${c.version}`,
    `${c.byteOrder}-endian`,
    c.formatVersion === undefined ? undefined : `format_version ${c.formatVersion}`,
    c.storageAlignment === undefined ? undefined : `alignment ${c.storageAlignment}`
  ].filter(Boolean)
  const t = totals(c.value)
  return [
    `${c.source.name}: ${facts.join(", ")}`,
    ...renderTree(c.value, options),
    `${group(t.tensors)} tensors, ${group(t.elements)} elements, ${formatBytes(t.bytes)} of tensor data`
  ].join("\n") + "\n"
}

/**
 * Opens a source as `inspect` does (describing, not policing: globals
 * outside the allowlist become opaque objects).
 *
 * @since 0.1.0
 * @category constructors
 */
export const openForInspect = (input: ByteSource | Container.Container) => Checkpoint.open(input, { weightsOnly: false })

/**
 * `inspect --json`: the canonical summary.
 *
 * @since 0.1.0
 * @category constructors
 */
export const json = (input: ByteSource | Container.Container, progress?: (done: number, total: number) => void): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(Container.fromInput(input), (container) =>
    Container.isModuleFormat(container.format)
      ? Effect.flatMap(Module.open(container), (archive) => {
        const tensors = [...Module.namedParameters(archive.module), ...Module.namedBuffers(archive.module)]
        const total = tensors.reduce((n, [, t]) => n + t.nbytes, 0)
        let done = 0
        const onTensor = progress === undefined ? undefined : (nbytes: number) => progress((done += nbytes), total)
        return Effect.map(Summary.ofModule(archive, onTensor === undefined ? {} : { onTensor }), (s) => JSON.stringify(s, null, 2) + "\n")
      })
      : checkpointJson(container, progress))

const checkpointJson = (container: Container.Container, progress?: (done: number, total: number) => void): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(openForInspect(container), (c) => {
    const total = progress === undefined ? 0 : Checkpoint.tensors(c.value).reduce((n, [, t]) => n + t.nbytes, 0)
    let done = 0
    const onTensor = progress === undefined ? undefined : (nbytes: number) => progress((done += nbytes), total)
    return Effect.map(Summary.ofCheckpoint(c, onTensor === undefined ? {} : { onTensor }), (s) => JSON.stringify(s, null, 2) + "\n")
  })

/**
 * A pickle `dis` shows: its record, the bytes it lies in, and where in them
 * it starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface PickleAt {
  readonly record: string
  readonly bytes: Uint8Array
  readonly start: number
}

/** The names of the legacy format's five pickles, in file order. */
const LEGACY_PICKLES = ["magic number", "protocol version", "sys_info", "pickle", "storage keys"]

/**
 * The pickles `dis` shows (`Container.recordPickle`). For zip archives the
 * record (default `data.pkl`); for tar files the member (default `pickle`);
 * for legacy files every pickle before the storages, each on its own; for
 * bare pickles the file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const picklesToDisassemble = (input: ByteSource | Container.Container, record?: string): Effect.Effect<Array<PickleAt>, TorchwireError> =>
  Effect.gen(function*() {
    const { record: name, bytes, count } = yield* Effect.flatMap(Container.fromInput(input), (c) => Container.recordPickle(c, record))
    if (count === 1) return [{ record: name, bytes, start: 0 }]
    const pickles: Array<PickleAt> = []
    let at = 0
    for (const pickleName of LEGACY_PICKLES) {
      pickles.push({ record: pickleName, bytes, start: at })
      at = yield* pickleEnd({ record: pickleName, bytes, start: at })
    }
    return pickles
  })

/** Where a pickle ends (just past its STOP), its opcodes decoded one at a time and none kept. */
const pickleEnd = (p: PickleAt) =>
  attempt(() => {
    let end = p.start
    for (const op of Pickle.unsafeIterateOpcodes(p.bytes, { record: p.record, start: p.start })) end = op.offset + 1
    return end
  })

/**
 * `dis`: disassembles the pickles of `picklesToDisassemble` as
 * `pickletools.dis` prints them (several pickles each under a heading).
 *
 * @since 0.1.0
 * @category constructors
 */
export const dis = (input: ByteSource | Container.Container, record?: string): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(picklesToDisassemble(input, record), (pickles) =>
    Effect.forEach(pickles, (p) =>
      attempt(() => Pickle.unsafeDisassemble(p.bytes, { record: p.record, start: p.start })).pipe(
        Effect.map((text) => (pickles.length === 1 ? text : `# ${p.record} at byte ${p.start}\n${text}`))
      )).pipe(Effect.map((texts) => texts.join("\n"))))

/**
 * `dis --json`: every opcode of the pickles of `picklesToDisassemble`, with
 * its byte offset and argument (summarized as in the JSON summary: big
 * integers as `{"int": digits}`, bytes as `{"bytes": base64}`, non-finite
 * floats as `{"float": "nan"}`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const disJson = (input: ByteSource | Container.Container, record?: string): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(picklesToDisassemble(input, record), (pickles) =>
    Effect.forEach(pickles, (p) =>
      attempt(() => {
        const opcodes: Array<{ readonly offset: number; readonly name: string; readonly arg: unknown }> = []
        let more = 0
        for (const op of Pickle.unsafeIterateOpcodes(p.bytes, { record: p.record, start: p.start })) {
          if (opcodes.length < MAX_JSON_OPCODES) opcodes.push({ offset: op.offset, name: op.name, arg: opArgJson(op.arg) })
          else more++
        }
        return { record: p.record, offset: p.start, opcodes, ...(more > 0 ? { more } : {}) }
      })).pipe(Effect.map((out) => JSON.stringify({ pickles: out }, null, 2) + "\n")))

/** Most opcodes `dis --json` lists per pickle; the rest are counted in `more`. */
const MAX_JSON_OPCODES = 1_000_000

const opArgJson = (arg: Pickle.PickleOp["arg"]): unknown => {
  if (typeof arg === "bigint") return { int: arg.toString() }
  if (arg instanceof Uint8Array) return { bytes: Summary.base64(arg) }
  if (typeof arg === "number" && !Number.isFinite(arg)) return { float: Number.isNaN(arg) ? "nan" : arg > 0 ? "inf" : "-inf" }
  return arg
}


/**
 * The `inspect` report for a TorchScript archive: the module tree with each
 * module's type, parameters, buffers and methods.
 *
 * @since 0.1.0
 * @category formatting
 */
export const moduleReport = (archive: Module.ScriptArchive, sourceName: string, size: number): string => {
  const where = archive.format === "flatbuffer" ? `bytecode version ${archive.version}` : `archive "${archive.prefix}", version ${archive.version}`
  const lines: Array<string> = [`${sourceName}: ${archive.format} ${archive.format === "flatbuffer" ? "module" : "archive"}, ${formatBytes(size)}, ${where}`]
  const walk = (m: Module.Module, name: string, indent: string, last: boolean, root: boolean) => {
    const head = root ? "" : `${indent}${last ? "└─ " : "├─ "}`
    lines.push(`${head}${root ? "" : `${name}: `}${m.type}${m.methods.length ? `  methods: ${m.methods.join(", ")}` : ""}`)
    const inner = root ? "" : indent + (last ? "   " : "│  ")
    const items: Array<readonly [string, string] | readonly [string, Module.Module]> = [
      ...m.parameters.map(([n, t]) => [n, `parameter ${tensorLine(t).replace(/^(tensor|parameter) /, "")}`] as const),
      ...m.buffers.map(([n, t]) => [n, `buffer ${tensorLine(t).replace(/^(tensor|parameter) /, "")}`] as const),
      ...m.submodules
    ]
    items.forEach(([n, v], i) => {
      const isLast = i === items.length - 1
      if (typeof v === "string") lines.push(`${inner}${isLast ? "└─ " : "├─ "}${n}: ${v}`)
      else walk(v, n, inner, isLast, false)
    })
  }
  walk(archive.module, "", "", true, true)
  const params = Module.namedParameters(archive.module)
  const buffers = Module.namedBuffers(archive.module)
  const count = (ts: ReadonlyArray<readonly [string, Tensor]>) => ts.reduce((n, [, t]) => n + t.numel, 0)
  if (archive.bytecode !== undefined) {
    lines.push(`bytecode version ${archive.bytecode.version}: ${archive.bytecode.methods.map((m) => `${m.name} (${m.instructions.length} instructions)`).join(", ")}`)
  }
  lines.push(`${group(params.length)} parameters (${group(count(params))} elements), ${group(buffers.length)} buffers (${group(count(buffers))} elements), ${archive.classes.size} classes in code/`)
  return lines.join("\n") + "\n"
}

/**
 * `code FILE [CLASS]`: the printed source of a class (by qualified or short
 * name), or of every class.
 *
 * @since 0.1.0
 * @category formatting
 */
export const code = (archive: Module.ScriptArchive, className?: string): Effect.Effect<string, TorchwireError> =>
  className === undefined
    ? Effect.succeed([...archive.code].map(([path, text]) => `# ${path}\n${text}`).join("\n"))
    : Effect.map(classesNamed(archive, className), (found) => found.map((c) => `# ${c.qualifiedName}\n${c.source}`).join("\n"))

/**
 * The classes of an archive a name picks (qualified, or the last part of
 * it); every class for no name. No class of that name is a
 * `CheckpointError(MissingRecord)` that lists the classes there are.
 *
 * @since 0.1.0
 * @category constructors
 */
export const classesNamed = (archive: Module.ScriptArchive, className?: string): Effect.Effect<Array<Module.ScriptClassInfo>, CheckpointError> => {
  const classes = [...archive.classes.values()]
  if (className === undefined) return Effect.succeed(classes)
  const found = classes.filter((c) => c.qualifiedName === className || c.qualifiedName.endsWith(`.${className}`))
  return found.length === 0
    ? Effect.fail(new CheckpointError({ reason: "MissingRecord", offset: 0, record: "code/", detail: `no class ${className}; classes: ${classes.map((c) => c.qualifiedName).join(", ")}` }))
    : Effect.succeed(found)
}

/**
 * The `scan` report: one line per global, then the verdict.
 *
 * @since 0.1.0
 * @category formatting
 */
export const scanReport = (file: string, report: Scan.Report): string => {
  const mark = { allowed: "  ok", unknown: "   ?", dangerous: "!!!!" } as const
  const lines = report.globals.map((g) => `${mark[g.class]} ${g.class.padEnd(9)} ${g.module}.${g.name}  (${g.record}, byte ${g.offset})`)
  for (const u of report.unreadable) lines.push(`   ? unreadable  ${u}`)
  for (const p of report.problems) lines.push(`   ? ambiguous   ${p.detail}  (${p.record}, byte ${p.offset})`)
  const counts = (["dangerous", "unknown", "allowed"] as const).map((c) => `${report.globals.filter((g) => g.class === c).length} ${c}`).join(", ")
  return [`${file}: ${report.verdict.toUpperCase()} (${counts})`, ...lines].join("\n") + "\n"
}
