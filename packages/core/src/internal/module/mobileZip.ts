/**
 * Writes a mobile module as the lite interpreter's zip (`.ptl`), as
 * `_save_for_lite_interpreter` lays it out: `data.pkl` with its storages
 * in `data/`, the printed TorchScript in `code/`, `constants.pkl` and
 * `bytecode.pkl` sharing the storages in `constants/` (the loader resolves
 * bytecode's tensors there), `version`, and `extra/`. The pickles are
 * written as torch's C++ pickler writes them: protocol 2, lists and dicts
 * tagged with their TorchScript types (`restore_type_tag`, `build_intlist`).
 *
 * @internal
 */
import { PyGlobal, PyObject, PyTuple, type PyValue } from "../../Value.js"
import type { Storage } from "../torch/model.js"
import { pickleCheckpoint, type StorageRecord } from "../torch/pickle.js"
import { SPECIALIZED_LISTS } from "../torch/scriptTypes.js"
import type { Bytecode } from "./bytecode.js"
import { classKinds, isScriptScalar, type MobileModel, notScript, requireScriptType, sourcePath, storageId } from "./mobileModel.js"

/** The highest bytecode version of a zip (flatbuffer modules say 9 for the same bytecode). @internal */
export const ZIP_MAX_BYTECODE_VERSION = 8

/** One record to write: its name in the archive, and its bytes or the storage that holds them. @internal */
export type MobileRecord =
  | { readonly name: string; readonly bytes: Uint8Array }
  | { readonly name: string; readonly storage: Storage }

const jitPickle = (name: string) => new PyGlobal("torch.jit._pickle", name)

/** The helper the C++ pickler calls for each specialized list type (`List[int]` → `build_intlist`). */
const SPECIALIZED = new Map(Object.entries(SPECIALIZED_LISTS).map(([helper, annotation]) => [annotation, helper]))

/**
 * The value with every list and dict wrapped in the call that restores its
 * TorchScript type, as the C++ pickler writes them; shared values stay shared.
 */
const tagged = (value: PyValue, where: string, setstateClasses: ReadonlySet<string>): PyValue => {
  const done = new Map<unknown, PyValue>()
  const walk = (v: PyValue, path: string): PyValue => {
    if (isScriptScalar(v)) return v
    const known = done.get(v)
    if (known !== undefined) return known
    let out: PyValue = v
    if (Array.isArray(v) || v instanceof Map) {
      const annotation = requireScriptType(v, path)
      const plain: PyValue = Array.isArray(v)
        ? v.map((x, i) => walk(x, `${path}[${i}]`))
        : new Map([...v].map(([k, x]) => [walk(k, `${path} key`), walk(x, `${path}[${String(k)}]`)] as const))
      const helper = SPECIALIZED.get(annotation)
      out = helper !== undefined && Array.isArray(v)
        ? new PyObject(jitPickle(helper), [plain], "reduce")
        : new PyObject(jitPickle("restore_type_tag"), [plain, annotation], "reduce")
    } else if (v instanceof PyTuple) {
      out = new PyTuple(v.items.map((x, i) => walk(x, `${path}[${i}]`)))
    } else if (v instanceof PyObject) {
      const o = new PyObject(v.cls, v.args, v.how)
      done.set(v, o)
      // A field class's state is its attribute dict, not a TorchScript Dict: only its values are walked.
      const fields = v.state instanceof Map && !setstateClasses.has(v.cls.qualifiedName)
      if (fields) o.state = new Map([...(v.state as Map<PyValue, PyValue>)].map(([k, x]) => [k, walk(x, `${path}.${String(k)}`)] as const))
      else if (v.state !== undefined) o.state = walk(v.state, path)
      out = o
    } else {
      throw notScript(v, path)
    }
    done.set(v, out)
    return out
  }
  return walk(value, where)
}

/** bytecode.pkl's value: the version, then one `(name, code, schema)` tuple per method. */
const bytecodeValue = (bytecode: Bytecode): PyValue => {
  const t = (...items: Array<PyValue>) => new PyTuple(items)
  const argument = (a: { readonly name: string; readonly type: string; readonly defaultValue: PyValue }) =>
    t(t("name", a.name), t("type", a.type), t("default_value", a.defaultValue))
  return t(
    Math.min(bytecode.version, ZIP_MAX_BYTECODE_VERSION),
    ...bytecode.methods.map((m) => {
      const code = t(
        t("instructions", t(...m.instructions.map((i) => t(i.op, i.x, i.n)))),
        t("operators", t(...m.operators.map((o) => (o.numArgs === undefined ? t(o.name, o.overloadName) : t(o.name, o.overloadName, o.numArgs))))),
        t("constants", t(...m.constants)),
        t("types", t(...m.types)),
        t("register_size", m.registerSize)
      )
      return m.schema === undefined
        ? t(m.name, code)
        : t(m.name, code, t(t("arguments", t(...m.schema.arguments.map(argument))), t("returns", t(...m.schema.returns.map(argument)))))
    })
  )
}

/** Storage records under `folder/`, each once. */
const storageRecords = (folder: string, lists: ReadonlyArray<ReadonlyArray<StorageRecord>>): Array<MobileRecord> => {
  const byKey = new Map<string, Storage>()
  for (const list of lists) for (const r of list) if (!byKey.has(r.key)) byKey.set(r.key, r.storage)
  return [...byKey].map(([key, storage]) => ({ name: `${folder}/${key}`, storage }))
}

/** Keys "0", "1", ... by storage record (tensors that view one storage share its key). */
const keyer = () => {
  const keys = new Map<unknown, string>()
  return (s: Storage): string => {
    const id = storageId(s)
    let key = keys.get(id)
    if (key === undefined) keys.set(id, (key = String(keys.size)))
    return key
  }
}

/**
 * The records of a mobile archive, in torch's order, names without the
 * archive's folder. Throws `CheckpointError` (`Unconvertible`).
 *
 * @internal
 */
export const mobileRecords = (model: MobileModel): Array<MobileRecord> => {
  const setstateClasses = new Set([...classKinds(model)].flatMap(([type, kind]) => (kind.kind === "setstate" ? [type] : [])))
  const script = (value: PyValue, where: string, storageKey: (s: Storage) => string) =>
    pickleCheckpoint(tagged(value, where, setstateClasses), 2, { storageKey, dialect: "cpp" })
  const data = script(model.root, "data.pkl", keyer())
  const constantKey = keyer()
  const constants = script(new PyTuple(model.constants), "constants.pkl", constantKey)
  const bytecode = script(bytecodeValue(model.bytecode), "bytecode.pkl", constantKey)
  const encoder = new TextEncoder()
  return [
    ...[...model.extra].map(([name, bytes]) => ({ name: `extra/${name}`, bytes })),
    ...storageRecords("data", [data.storages]),
    { name: "data.pkl", bytes: data.pickle },
    ...[...model.sources].map(([qualifier, text]) => ({ name: sourcePath(qualifier), bytes: encoder.encode(text) })),
    ...storageRecords("constants", [constants.storages, bytecode.storages]),
    { name: "constants.pkl", bytes: constants.pickle },
    { name: "bytecode.pkl", bytes: bytecode.pickle },
    { name: "version", bytes: encoder.encode(`${model.operatorVersion}\n`) }
  ]
}
