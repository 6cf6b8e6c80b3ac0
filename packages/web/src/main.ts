/**
 * The viewer page: open a file (picker or drop) or a URL; the scan's
 * verdict first, then the format's facts, the tree (virtualized: only the
 * rows in view are in the document), a search over tensor names, and for a
 * selected tensor its layout and, on request, its statistics and histogram,
 * computed in a worker from that tensor's bytes alone.
 */
import * as Torch from "@torchwire/core/Torch"
import { drawHistogram } from "./histogram.js"
import { type Opened, openFile, openUrl, run } from "./open.js"
import type { Stats } from "./stats.js"
import type { StatsReply, StatsRequest } from "./stats.worker.js"
import { type Node, type Row, searchTensors, visibleRows } from "./tree.js"

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const ROW_HEIGHT = 22

/** What the page shows now. */
const state = {
  opened: undefined as Opened | undefined,
  open: new Set<Node>(),
  rows: [] as Array<Row>,
  selected: undefined as Node | undefined,
  /** Which storage each tensor views, to say what shares it. */
  sharing: new Map<unknown, Array<string>>()
}

/** Says what is happening under the header. */
const status = (text: string) => void ($("status").textContent = text)

/** Shows an error: a typed error's message names the record and the byte offset. */
const showError = (e: unknown) => {
  const box = $("error")
  box.hidden = false
  box.textContent = e instanceof Error ? e.message : String(e)
  status("")
}

/** Opens an input (file or URL) and shows it, replacing what was shown. */
const show = async (label: string, opening: () => Promise<Opened>) => {
  $("error").hidden = true
  $("main").hidden = true
  $("verdict").hidden = true
  $("facts").textContent = ""
  status(`opening ${label} …`)
  const started = performance.now()
  try {
    const opened = await opening()
    state.opened = opened
    state.open = new Set()
    // A module's one root node opens at once: its members are what there is to see.
    const top = opened.root.children?.() ?? []
    if (top.length === 1 && top[0]!.children !== undefined) state.open.add(top[0]!)
    state.selected = undefined
    state.sharing = new Map()
    for (const [name, t] of opened.tensors) {
      if (t.storage !== undefined) state.sharing.set(t.storage, [...(state.sharing.get(t.storage) ?? []), name])
    }
    showVerdict(opened)
    $("facts").textContent = `${opened.name}: ${opened.facts.join(", ")}, ${formatBytes(opened.size)}; ${opened.tensors.length.toLocaleString("en-US")} tensors`
    $("main").hidden = false
    ;($("search") as HTMLInputElement).value = ""
    refreshRows()
    $("details").textContent = "Select a tensor to see its layout and statistics."
    status(`opened in ${((performance.now() - started) / 1000).toFixed(2)} s, ${formatBytes(opened.bytesRead())} read`)
  } catch (e) {
    showError(e)
  }
}

/** The scan's verdict, before anything else: every global of a file that is not safe, with its class. */
const showVerdict = (opened: Opened) => {
  const { verdict, globals, unreadable, problems } = opened.scan
  const box = $("verdict")
  box.hidden = false
  box.className = verdict
  const notable = globals.filter((g) => g.class !== "allowed")
  const lines = [
    ...notable.slice(0, 50).map((g) => `${g.class}: ${g.module}.${g.name} (${g.record}, byte ${g.offset})`),
    ...unreadable.map((u) => `unreadable: ${u}`),
    ...problems.map((p) => `problem: ${p.detail} (${p.record}, byte ${p.offset})`)
  ]
  const headline = verdict === "dangerous"
    ? "DANGEROUS: this file names code that torch.load would run. Nothing was run here; its objects are shown opaque."
    : verdict === "suspicious"
    ? "Suspicious: it names globals outside torch's weights-only allowlist, or parts of it do not read cleanly."
    : `Safe: ${globals.length} globals, all in torch's weights-only allowlist.`
  box.innerHTML = ""
  const head = document.createElement("strong")
  head.textContent = headline
  box.append(head)
  if (lines.length > 0) {
    const list = document.createElement("ul")
    for (const line of lines) list.append(Object.assign(document.createElement("li"), { textContent: line }))
    box.append(list)
  }
}

/** The rows to show: the search's matches, or the tree's open part. */
const refreshRows = () => {
  const opened = state.opened
  if (opened === undefined) return
  const query = ($("search") as HTMLInputElement).value.trim()
  state.rows = query === "" ? visibleRows(opened.root, (n) => state.open.has(n)) : searchTensors(opened.tensors, query)
  $("tree-space").style.height = `${state.rows.length * ROW_HEIGHT}px`
  renderRows()
}

/** Puts in the document only the rows in view (and a few around them). */
const renderRows = () => {
  const tree = $("tree")
  const space = $("tree-space")
  const first = Math.max(0, Math.floor(tree.scrollTop / ROW_HEIGHT) - 10)
  const last = Math.min(state.rows.length, first + Math.ceil(tree.clientHeight / ROW_HEIGHT) + 20)
  space.replaceChildren(...state.rows.slice(first, last).map((row, i) => rowElement(row, first + i)))
}

/** One row: a toggle for containers, the label and its summary. */
const rowElement = (row: Row, index: number): HTMLElement => {
  const el = document.createElement("div")
  el.className = `row${row.node === state.selected ? " selected" : ""}`
  el.style.top = `${index * ROW_HEIGHT}px`
  el.style.paddingLeft = `${0.5 + row.depth * 1.2}em`
  el.dataset["path"] = row.node.path
  const toggle = row.node.children === undefined ? "  " : row.open ? "▾ " : "▸ "
  el.append(toggle + row.node.label, Object.assign(document.createElement("span"), { className: "summary", textContent: row.node.summary }))
  el.onclick = () => {
    if (row.node.children !== undefined) {
      if (state.open.has(row.node)) state.open.delete(row.node)
      else state.open.add(row.node)
    }
    select(row.node)
    refreshRows()
  }
  return el
}

/** Shows a node's details: a tensor's layout (statistics on request), or a module's source. */
const select = (node: Node) => {
  state.selected = node
  const details = $("details")
  details.replaceChildren()
  const t = node.tensor
  if (t === undefined) {
    details.append(Object.assign(document.createElement("h3"), { textContent: node.path || node.label }), node.summary)
    if (node.source !== undefined) details.append(Object.assign(document.createElement("pre"), { textContent: node.source }))
    return
  }
  const shared = t.storage === undefined ? [] : (state.sharing.get(t.storage) ?? []).filter((n) => n !== node.path)
  const facts: Array<[string, string]> = [
    ["dtype", t.dtype.name],
    ["shape", `[${t.shape.join(", ")}]`],
    ["strides", `[${t.stride.join(", ")}]`],
    ["storage offset", String(t.storageOffset)],
    ["elements", t.numel.toLocaleString("en-US")],
    ["size", formatBytes(t.nbytes)],
    ["storage", t.storage === undefined ? "none (meta tensor)" : `${t.storage.record} (${formatBytes(t.storage.nbytes)})`],
    ["shares its storage with", shared.length === 0 ? "nothing" : shared.slice(0, 20).join(", ") + (shared.length > 20 ? ` and ${shared.length - 20} more` : "")],
    ...(t.quantization === undefined ? [] : [["quantization", t.quantization.scheme] as [string, string]])
  ]
  const table = document.createElement("table")
  for (const [k, v] of facts) {
    const tr = table.insertRow()
    tr.insertCell().textContent = k
    tr.insertCell().textContent = v
  }
  details.append(Object.assign(document.createElement("h3"), { textContent: node.path }), table)
  if (t.storage !== undefined && t.numel > 0) {
    const button = Object.assign(document.createElement("button"), { id: "stats-button", textContent: "Statistics and histogram" })
    button.onclick = () => void computeStats(t, details)
    details.append(button)
  }
}

let worker: Worker | undefined
let requestId = 0

/** The stats worker, started on first use (and again after a cancel ended it). */
const statsWorker = (): Worker => (worker ??= new Worker(new URL("./stats.worker.ts", import.meta.url), { type: "module" }))

/** Ends the worker's computation by ending the worker (the next use starts another). */
const stopWorker = () => {
  worker?.terminate()
  worker = undefined
}

/** Has the worker compute the statistics of a tensor's bytes (a copy is moved there: a view may share its buffer). */
const inWorker = (id: number, bytes: Uint8Array, dtype: string, onProgress: (p: number) => void): Promise<Stats> => {
  const copy = bytes.slice().buffer
  const w = statsWorker()
  return new Promise<Stats>((resolve) => {
    w.onmessage = (e: MessageEvent<StatsReply>) => {
      if (e.data.id !== id) return
      if ("progress" in e.data) onProgress(e.data.progress)
      else resolve(e.data.stats)
    }
    w.postMessage({ id, bytes: copy, dtype, bins: 64 } satisfies StatsRequest, [copy])
  })
}

/**
 * The statistics of every tensor, one after another (each read alone, its
 * bytes let go before the next), as a table; with progress and a cancel.
 */
const computeAll = async () => {
  const opened = state.opened
  if (opened === undefined) return
  const id = ++requestId
  const details = $("details")
  details.replaceChildren()
  state.selected = undefined
  const progress = Object.assign(document.createElement("progress"), { max: opened.tensors.length, value: 0 })
  const cancel = Object.assign(document.createElement("button"), { id: "all-cancel", textContent: "Cancel" })
  const head = Object.assign(document.createElement("div"), { id: "all-status", textContent: `0 of ${opened.tensors.length} tensors` })
  const table = Object.assign(document.createElement("table"), { id: "all-stats" })
  const header = table.insertRow()
  for (const h of ["tensor", "dtype", "min", "max", "mean", "std", "NaN", "±Inf", "zeros"]) header.insertCell().textContent = h
  details.append(head, progress, cancel, table)
  let cancelled = false
  cancel.onclick = () => {
    cancelled = true
    stopWorker()
    head.textContent = `cancelled after ${progress.value} of ${opened.tensors.length} tensors`
  }
  const fmt = (x: number) => (Number.isNaN(x) ? "—" : Number.isInteger(x) ? x.toLocaleString("en-US") : x.toPrecision(4))
  for (const [name, t] of opened.tensors) {
    if (cancelled || id !== requestId) return
    const row = table.insertRow()
    row.insertCell().textContent = name
    row.insertCell().textContent = t.dtype.name
    if (t.storage !== undefined && t.numel > 0) {
      try {
        const s = await inWorker(id, await run(Torch.bytes(t)), t.dtype.name, () => {})
        for (const v of [s.min, s.max, s.mean, s.std, s.nan, s.inf, s.zeros]) row.insertCell().textContent = fmt(v)
      } catch (e) {
        if (cancelled) return
        row.insertCell().textContent = e instanceof Error ? e.message : String(e)
      }
    }
    progress.value++
    head.textContent = `${progress.value} of ${opened.tensors.length} tensors`
  }
}

/** Reads the tensor's bytes (only its own), then has the worker compute its statistics, with progress and a cancel. */
const computeStats = async (t: Torch.Tensor, details: HTMLElement) => {
  const id = ++requestId
  details.querySelector("#stats")?.remove()
  const box = Object.assign(document.createElement("div"), { id: "stats" })
  const progress = Object.assign(document.createElement("progress"), { max: 1, value: 0 })
  const cancel = Object.assign(document.createElement("button"), { textContent: "Cancel" })
  box.append("reading the tensor … ", progress, cancel)
  details.append(box)
  let cancelled = false
  cancel.onclick = () => {
    cancelled = true
    stopWorker()
    box.textContent = "cancelled"
  }
  try {
    const before = state.opened?.bytesRead() ?? 0
    const bytes = await run(Torch.bytes(t))
    if (cancelled || id !== requestId) return
    const read = (state.opened?.bytesRead() ?? 0) - before
    box.firstChild!.textContent = "computing … "
    // Moved to the worker: a copy of the tensor's own bytes (a view may share a buffer with others).
    const stats = await inWorker(id, bytes, t.dtype.name, (p) => void (progress.value = p))
    if (cancelled || id !== requestId) return
    showStats(box, stats, read)
  } catch (e) {
    box.textContent = e instanceof Error ? e.message : String(e)
  }
}

/** The statistics as a table and the histogram as a chart. */
const showStats = (box: HTMLElement, s: Stats, read: number) => {
  box.replaceChildren()
  const table = document.createElement("table")
  table.id = "stats-table"
  const fmt = (x: number) => (Number.isNaN(x) ? "—" : Number.isInteger(x) ? x.toLocaleString("en-US") : x.toPrecision(6))
  for (const [k, v] of [["of", s.of], ["min", fmt(s.min)], ["max", fmt(s.max)], ["mean", fmt(s.mean)], ["std", fmt(s.std)], ["NaN", fmt(s.nan)], ["±Inf", fmt(s.inf)], ["zeros", fmt(s.zeros)], ["bytes read", formatBytes(read)]] as const) {
    const tr = table.insertRow()
    tr.insertCell().textContent = k
    tr.insertCell().textContent = v
  }
  const canvas = Object.assign(document.createElement("canvas"), { id: "histogram", width: 480, height: 200 })
  box.append(table, canvas)
  drawHistogram(canvas, s.histogram, s.min, s.max)
}

/** "1.5 MiB" */
const formatBytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let i = 0
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

$("file").addEventListener("change", (e) => {
  const file = (e.target as HTMLInputElement).files?.[0]
  if (file !== undefined) void show(file.name, () => openFile(file))
})
$("url-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const url = ($("url") as HTMLInputElement).value.trim()
  if (url !== "") void show(url, () => openUrl(url))
})
const drop = $("drop")
drop.addEventListener("dragover", (e) => (e.preventDefault(), drop.classList.add("over")))
drop.addEventListener("dragleave", () => drop.classList.remove("over"))
drop.addEventListener("drop", (e) => {
  e.preventDefault()
  drop.classList.remove("over")
  const file = e.dataTransfer?.files[0]
  if (file !== undefined) void show(file.name, () => openFile(file))
})
$("tree").addEventListener("scroll", renderRows)
$("search").addEventListener("input", refreshRows)
$("all").addEventListener("click", () => void computeAll())
// A URL in the page's address (#url=...) opens at once: links to a checkpoint.
const linked = new URLSearchParams(location.hash.slice(1)).get("url")
if (linked !== null) {
  ;($("url") as HTMLInputElement).value = linked
  void show(linked, () => openUrl(linked))
}
