/**
 * What torchwire reads from TorchScript's printed class sources (`code/`):
 * the classes each file defines, their base, their `__parameters__` and
 * `__buffers__` declarations, attribute declarations and method names.
 * Nothing is compiled or run.
 *
 * @internal
 */

/** One class of a `code/` file. @internal */
export interface ScriptClass {
  /** Qualified name: `__torch__.torch.nn.modules.linear.Linear`. */
  readonly qualifiedName: string
  readonly base: string
  readonly parameters: ReadonlyArray<string>
  readonly buffers: ReadonlyArray<string>
  /** Declared attributes in order, with their type annotations. */
  readonly attributes: ReadonlyArray<readonly [string, string]>
  readonly methods: ReadonlyArray<string>
  /**
   * For classes with `__setstate__`: which attribute each element of the
   * state tuple sets, read from the printed `self.x = (state)[i]` lines
   * (nothing is run). Empty when the source does not follow that pattern.
   */
  readonly setstateSlots: ReadonlyArray<readonly [string, number]>
  /** The class's source text. */
  readonly source: string
}

/** The qualifier a `code/` file path stands for: `code/__torch__/a/b.py` → `__torch__.a.b`. @internal */
export const qualifierOf = (path: string): string => path.replace(/^code\//, "").replace(/\.py$/, "").split("/").join(".")

const names = (line: string | undefined): Array<string> => [...(line ?? "").matchAll(/"([^"]*)"/g)].map((m) => m[1]!)

/**
 * The classes a printed TorchScript source file defines.
 *
 * @internal
 */
export const parseClasses = (path: string, text: string): Array<ScriptClass> => {
  const qualifier = qualifierOf(path)
  const lines = text.split("\n")
  const out: Array<ScriptClass> = []
  for (let i = 0; i < lines.length; i++) {
    const m = /^class (\w+)\((\w*)\):\s*$/.exec(lines[i]!)
    if (m === null) continue
    let end = i + 1
    while (end < lines.length && (lines[end]!.startsWith(" ") || lines[end]!.trim() === "")) end++
    const body = lines.slice(i + 1, end)
    out.push({
      qualifiedName: `${qualifier}.${m[1]}`,
      base: m[2]!,
      parameters: names(body.find((l) => /^  __parameters__ = /.test(l))),
      buffers: names(body.find((l) => /^  __buffers__ = /.test(l))),
      attributes: body.flatMap((l) => {
        const a = /^  (\w+) : (.+)$/.exec(l)
        return a === null ? [] : [[a[1]!, a[2]!.trim()] as const]
      }),
      methods: body.flatMap((l) => {
        const d = /^  def (\w+)\(/.exec(l)
        return d === null ? [] : [d[1]!]
      }),
      setstateSlots: setstateSlots(body),
      source: lines.slice(i, end).join("\n").trimEnd() + "\n"
    })
    i = end - 1
  }
  return out
}

/** `self.<attr> = (state)[<i>]` assignments of a class's `__setstate__`. */
const setstateSlots = (body: ReadonlyArray<string>): Array<readonly [string, number]> => {
  const start = body.findIndex((l) => /^  def __setstate__\(/.test(l))
  if (start < 0) return []
  const out: Array<readonly [string, number]> = []
  for (let i = start + 1; i < body.length && !/^  def /.test(body[i]!); i++) {
    const m = /^\s+self\.(\w+) = \(?state\)?\[(\d+)\]\s*$/.exec(body[i]!)
    if (m !== null) out.push([m[1]!, Number(m[2])])
  }
  return out
}
