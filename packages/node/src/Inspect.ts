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
import { CheckpointError, type TorchwireError } from "@torchwire/core/Errors"
import * as Module from "@torchwire/core/Module"
import * as Numpy from "@torchwire/core/Numpy"
import type * as Shards from "@torchwire/core/Shards"
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
import { prettyJson } from "./internal/json.js"

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
  if (v instanceof PyObject) return numpyLine(v)
  return undefined
}

/** A NumPy array, scalar or dtype on one line; undefined for other objects (shown as opaque objects). */
const numpyLine = (v: PyObject): string | undefined => {
  const array = Numpy.ndarrayOf(v)
  if (array !== undefined) {
    return `ndarray ${array.dtype.str} [${array.shape.join(", ")}]${array.fortranOrder ? "  (Fortran order)" : ""}`
  }
  const s = Numpy.scalarOf(v)
  if (s !== undefined) {
    const value = typeof s.value === "boolean" ? (s.value ? "True" : "False") : typeof s.value === "string" ? JSON.stringify(s.value)
      : s.value instanceof Uint8Array ? `bytes (${s.value.length})`
      : typeof s.value === "object" ? `(${s.value.re}${s.value.im < 0 ? "-" : "+"}${Math.abs(s.value.im)}j)` : String(s.value)
    return `numpy.${s.type} ${value}`
  }
  const dtype = Numpy.dtypeOf(v)
  return dtype === undefined ? undefined : `numpy.dtype(${JSON.stringify(dtype.str)})`
}

const keyLabel = (k: PyValue): string => (typeof k === "string" ? k : scalar(k) ?? typeName(k))

/** How many items a container has (undefined for a value that is not one). */
const childCount = (v: PyValue): number | undefined => {
  if (v instanceof Map) return v.size
  if (Array.isArray(v)) return v.length
  if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) return v.items.length
  if (v instanceof PyObject) {
    const state = v.state instanceof Map ? v.state.size : v.state !== undefined ? 1 : 0
    return state + v.listItems.length + v.dictItems.size
  }
  return undefined
}

/** A container's items, labelled, one at a time: the tree shows the first few of lists of millions. */
function* childEntries(v: PyValue): Generator<readonly [string, PyValue]> {
  if (v instanceof Map) for (const [k, x] of v) yield [keyLabel(k), x]
  else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield [`[${i}]`, v[i]!]
  else if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) for (let i = 0; i < v.items.length; i++) yield [`[${i}]`, v.items[i]!]
  else if (v instanceof PyObject) {
    if (v.state instanceof Map) for (const [k, x] of v.state) yield [keyLabel(k), x]
    else if (v.state !== undefined) yield ["(state)", v.state]
    for (let i = 0; i < v.listItems.length; i++) yield [`[${i}]`, v.listItems[i]!]
    for (const [k, x] of v.dictItems) yield [keyLabel(k), x]
  }
}

/** The first `n` items of a container. */
const firstChildren = (v: PyValue, n: number): Array<readonly [string, PyValue]> => {
  const out: Array<readonly [string, PyValue]> = []
  if (n <= 0) return out
  for (const entry of childEntries(v)) {
    out.push(entry)
    if (out.length >= n) break
  }
  return out
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
    const count = childCount(v) ?? 0
    // One past the lines left is enough for the cut below to say where the output stops.
    const shown = firstChildren(v, Math.min(maxItems, maxLines - lines.length + 1))
    shown.forEach(([k, x], i) => {
      const last = i === shown.length - 1 && count <= shown.length
      const branch = last ? "└─ " : "├─ "
      const s = scalar(x)
      const sub = childCount(x)
      if (s !== undefined || sub === undefined) {
        lines.push(`${indent}${branch}${k}: ${s ?? typeName(x)}`)
      } else {
        lines.push(`${indent}${branch}${k}: ${header(x, sub)}`)
        if (depth + 1 < maxDepth) walk(x, indent + (last ? "   " : "│  "), depth + 1)
        else if (sub > 0) lines.push(`${indent}${last ? "   " : "│  "}└─ ...`)
      }
    })
    if (count > shown.length) lines.push(`${indent}└─ ... ${group(count - shown.length)} more`)
  }
  const s = scalar(value)
  const top = childCount(value)
  if (s !== undefined || top === undefined) lines.push(s ?? typeName(value))
  else {
    lines.push(header(value, top))
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
    // A distributed checkpoint's source is its .metadata: say its data files instead.
    c.format === "dcp" ? `${c.records.length} data file${c.records.length === 1 ? "" : "s"} (${c.records.join(", ")})` : formatBytes(c.source.size),
    c.dcpVersion === undefined ? undefined : `DCP version ${c.dcpVersion}`,
    c.prefix === undefined ? undefined : `archive "${c.prefix}"`,
    c.version === undefined ? undefined : `version ${c.version}`,
    `${c.byteOrder}-endian`,
    c.formatVersion === undefined ? undefined : `format_version ${c.formatVersion}`,
    c.storageAlignment === undefined ? undefined : `alignment ${c.storageAlignment}`
  ].filter(Boolean)
  const t = totals(c.value)
  return [
    `${c.source.name}: ${facts.join(", ")}`,
    ...(c.metadata === undefined ? [] : [`metadata: ${JSON.stringify(Object.fromEntries(c.metadata))}`]),
    ...renderTree(c.value, options),
    `${group(t.tensors)} tensors, ${group(t.elements)} elements, ${formatBytes(t.bytes)} of tensor data`
  ].join("\n") + "\n"
}

/**
 * The `inspect` report for a sharded checkpoint (`Shards`): its shards, then
 * the tree of all their tensors by name.
 *
 * @since 0.2.0
 * @category formatting
 */
export const shardedReport = (name: string, sharded: Shards.Sharded, options: TreeOptions = {}): string => {
  const formats = [...new Set([...sharded.shards.values()].map((c) => c.format))].join(", ")
  const size = [...sharded.shards.values()].reduce((n, c) => n + c.source.size, 0)
  const t = totals(sharded.value)
  return [
    `${name}: sharded checkpoint, ${sharded.shards.size} ${formats} shard${sharded.shards.size === 1 ? "" : "s"}, ${formatBytes(size)}`,
    ...renderTree(sharded.value, options),
    `${group(t.tensors)} tensors, ${group(t.elements)} elements, ${formatBytes(t.bytes)} of tensor data`
  ].join("\n") + "\n"
}

/**
 * `inspect --json` of a sharded checkpoint: `{format: "sharded", value}`,
 * the value the dict of every shard's tensors in the index's order.
 *
 * @since 0.2.0
 * @category constructors
 */
export const shardedJson = (sharded: Shards.Sharded, progress?: (done: number, total: number) => void): Effect.Effect<string, TorchwireError> => {
  const options = hashing(progress, () => Checkpoint.tensors(sharded.value))
  return Effect.flatMap(Summary.summarize(sharded.value, options), (value) => prettyJson({ format: "sharded", value }))
}

/**
 * Summary options that report hashing progress (when there is a place to)
 * toward the bytes of `tensors`, listed as the summary visits them (a
 * shared tensor once per path).
 */
const hashing = (
  progress: ((done: number, total: number) => void) | undefined,
  tensors: () => ReadonlyArray<readonly [string, Tensor]>
): Summary.SummaryOptions => {
  if (progress === undefined) return {}
  const total = tensors().reduce((n, [, t]) => n + t.nbytes, 0)
  let done = 0
  return { onTensor: (nbytes) => progress((done += nbytes), total) }
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
        const options = hashing(progress, () => [...Module.namedParameters(archive.module), ...Module.namedBuffers(archive.module)])
        return Effect.flatMap(Summary.ofModule(archive, options), prettyJson)
      })
      : checkpointJson(container, progress))

const checkpointJson = (container: Container.Container, progress?: (done: number, total: number) => void): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(openForInspect(container), (c) => openedJson(c, progress))

/**
 * `inspect --json` of a checkpoint already open (a distributed
 * checkpoint's folder, which no single source holds).
 *
 * @since 0.3.0
 * @category constructors
 */
export const openedJson = (c: Checkpoint.Checkpoint, progress?: (done: number, total: number) => void): Effect.Effect<string, TorchwireError> =>
  Effect.flatMap(Summary.ofCheckpoint(c, hashing(progress, () => Checkpoint.tensors(c.value))), prettyJson)

export { dis, disJson, disJsonChunks, type PickleAt, picklesToDisassemble } from "./internal/disassembly.js"

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
export const code = (archive: Module.ScriptCode, className?: string): Effect.Effect<string, TorchwireError> =>
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
export const classesNamed = (archive: Module.ScriptCode, className?: string): Effect.Effect<Array<Module.ScriptClassInfo>, CheckpointError> => {
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
  if (report.repeats > 0) lines.push(`     (${group(report.repeats)} more occurrences of the globals above)`)
  if (report.unlisted > 0) lines.push(`   ? unlisted   ${group(report.unlisted)} occurrences of globals past the first 10,000 (none dangerous)`)
  for (const u of report.unreadable) lines.push(`   ? unreadable  ${u}`)
  for (const p of report.problems) lines.push(`   ? ambiguous   ${p.detail}  (${p.record}, byte ${p.offset})`)
  if (report.format === "safetensors") lines.push("     a safetensors file: a JSON header and tensor bytes, nothing that runs")
  const counts = (["dangerous", "unknown", "allowed"] as const).map((c) => `${report.globals.filter((g) => g.class === c).length} ${c}`).join(", ")
  return [`${file}: ${report.verdict.toUpperCase()} (${counts})`, ...lines].join("\n") + "\n"
}
