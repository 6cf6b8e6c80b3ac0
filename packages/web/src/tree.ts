/**
 * The viewer's tree: a checkpoint's value or a module's submodules as nodes
 * whose children are made only when a node is first expanded (a list of
 * millions of numbers costs nothing until opened), the visible rows of the
 * expanded ones, and a search by dotted name over every tensor.
 */
import type * as Module from "@torchwire/core/Module"
import { Tensor } from "@torchwire/core/Torch"
import { PyFrozenSet, PyObject, PySet, PyTuple, type PyValue } from "@torchwire/core/Value"

/** One node of the tree. */
export interface Node {
  readonly label: string
  /** The dotted name of a tensor (as `Checkpoint.tensors` names it), or a module member's. */
  readonly path: string
  /** A short description: a type and size, a value. */
  readonly summary: string
  readonly tensor?: Tensor
  /** TorchScript source of a module, shown when selected. */
  readonly source?: string
  /** Children, made on first use; undefined for a leaf. */
  readonly children?: () => ReadonlyArray<Node>
}

/** A function computed on its first call only (a node's children keep their identity, which open state is kept by). */
export const once = <A>(f: () => A): (() => A) => {
  let done: { readonly value: A } | undefined
  return () => (done ??= { value: f() }).value
}

/** Most children a node lists; the rest are said in one row. */
const MAX_CHILDREN = 10_000

/** "[4, 6] float32" and the storage it views. */
export const tensorSummary = (t: Tensor): string =>
  `tensor ${t.dtype.name} [${t.shape.join(", ")}]${t.storage === undefined ? " (meta)" : ""}`

/** A scalar as Python would print it, cut short. */
const scalar = (v: PyValue): string => {
  const text = typeof v === "string" ? JSON.stringify(v) : typeof v === "bigint" ? String(v) : v === null ? "None" : typeof v === "boolean" ? (v ? "True" : "False") : String(v)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** The entries of a container value, or undefined for a leaf. */
const entriesOf = (v: PyValue): Array<readonly [string, PyValue]> | undefined => {
  if (v instanceof Map) return [...v].map(([k, x]) => [typeof k === "string" ? k : scalar(k), x] as const)
  if (Array.isArray(v)) return v.map((x, i) => [String(i), x] as const)
  if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) return v.items.map((x, i) => [String(i), x] as const)
  if (v instanceof PyObject) {
    const own: Array<readonly [string, PyValue]> = [...v.dictItems].map(([k, x]) => [scalar(k), x] as const)
    if (v.state !== undefined) own.unshift(["(state)", v.state])
    v.args.forEach((a, i) => own.push([`(arg ${i})`, a]))
    return own
  }
  return undefined
}

/** What a container value is, for its row. */
const kindOf = (v: PyValue, n: number): string => {
  const count = `${n.toLocaleString("en-US")} item${n === 1 ? "" : "s"}`
  if (v instanceof Map) return `dict (${count})`
  if (Array.isArray(v)) return `list (${count})`
  if (v instanceof PyTuple) return `tuple (${count})`
  if (v instanceof PySet || v instanceof PyFrozenSet) return `set (${count})`
  if (v instanceof PyObject) return `${v.cls.qualifiedName} object`
  return count
}

/** The node of a checkpoint value at `path`. */
export const valueNode = (label: string, path: string, v: PyValue): Node => {
  if (v instanceof Tensor) return { label, path, summary: tensorSummary(v), tensor: v }
  const entries = entriesOf(v)
  if (entries === undefined) return { label, path, summary: scalar(v) }
  return {
    label,
    path,
    summary: kindOf(v, entries.length),
    children: once(() => {
      const nodes = entries.slice(0, MAX_CHILDREN).map(([k, x]) => valueNode(k, path === "" ? k : `${path}.${k}`, x))
      if (entries.length > MAX_CHILDREN) nodes.push({ label: "…", path, summary: `${(entries.length - MAX_CHILDREN).toLocaleString("en-US")} more` })
      return nodes
    })
  }
}

/** The node of a TorchScript module: its parameters, buffers, attributes, methods and submodules. */
export const moduleNode = (label: string, path: string, m: Module.Module): Node => ({
  label,
  path,
  summary: m.type,
  ...(m.source === undefined ? {} : { source: m.source }),
  children: once(() => {
    const at = (name: string) => (path === "" ? name : `${path}.${name}`)
    return [
      ...m.parameters.map(([n, t]) => ({ label: n, path: at(n), summary: `parameter ${tensorSummary(t)}`, tensor: t })),
      ...m.buffers.map(([n, t]) => ({ label: n, path: at(n), summary: `buffer ${tensorSummary(t)}`, tensor: t })),
      // Submodules are attributes too: listed once, as submodules.
      ...[...m.attributes].filter(([n, v]) => !(v instanceof Tensor) && !m.submodules.some(([s]) => s === n)).map(([n, v]) => valueNode(n, at(n), v)),
      ...m.methods.map((n) => ({ label: `${n}()`, path: at(n), summary: "method", ...(m.source === undefined ? {} : { source: m.source }) })),
      ...m.submodules.map(([n, sub]) => moduleNode(n, at(n), sub))
    ]
  })
})

/** A row on screen: a node, its depth, whether it is open. */
export interface Row {
  readonly node: Node
  readonly depth: number
  readonly open: boolean
}

/** The visible rows: the root's children, and the children of every open node, depth first. */
export const visibleRows = (root: Node, isOpen: (n: Node) => boolean): Array<Row> => {
  const out: Array<Row> = []
  const walk = (n: Node, depth: number) => {
    for (const child of n.children?.() ?? []) {
      const open = child.children !== undefined && isOpen(child)
      out.push({ node: child, depth, open })
      if (open) walk(child, depth + 1)
    }
  }
  walk(root, 0)
  return out
}

/** The tensors whose dotted name contains `query` (case-folded), at most `limit`, as rows of their own. */
export const searchTensors = (tensors: ReadonlyArray<readonly [string, Tensor]>, query: string, limit = 10_000): Array<Row> => {
  const q = query.toLowerCase()
  return tensors
    .filter(([name]) => name.toLowerCase().includes(q))
    .slice(0, limit)
    .map(([name, t]) => ({ node: { label: name, path: name, summary: tensorSummary(t), tensor: t }, depth: 0, open: false }))
}

/** Every tensor of a module by dotted name (parameters, then buffers, module by module). */
export const moduleTensors = (m: Module.Module): Array<readonly [string, Tensor]> => {
  const out: Array<readonly [string, Tensor]> = []
  const walk = (mod: Module.Module, prefix: string) => {
    for (const [n, t] of [...mod.parameters, ...mod.buffers]) out.push([prefix + n, t])
    for (const [n, sub] of mod.submodules) walk(sub, `${prefix}${n}.`)
  }
  walk(m, "")
  return out
}
