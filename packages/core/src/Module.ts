/**
 * TorchScript archives (`torch.jit.save`) as a `Module`: the module tree of
 * data.pkl (qualified types, attributes, submodules), parameters and
 * buffers told apart as torch does (the `__parameters__` / `__buffers__`
 * declarations of each class's printed source), methods with their source,
 * the constants table, `extra/` files, and the `code/` sources. Nothing in
 * the archive is compiled or executed.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ByteSource } from "./ByteSource.js"
import * as Bytecode from "./Bytecode.js"
import { Crc32 } from "./Checksum.js"
import * as Container from "./Container.js"
import { attempt, CheckpointError, type TorchwireError } from "./Errors.js"
import { type ArchiveRecord, archiveStream } from "./internal/container/archiveWriter.js"
import { RecordBytes, zipEntryBytes } from "./internal/container/recordBytes.js"
import { type LoadContext, policyOf } from "./internal/load/loadContext.js"
import { parseClasses, qualifierOf, type ScriptClass } from "./internal/module/scriptSource.js"
import { encodeFlatbuffer } from "./internal/module/fbWriter.js"
import { type MobileModel, storageId, storagesOf, unconvertible } from "./internal/module/mobileModel.js"
import { mobileRecords } from "./internal/module/mobileZip.js"
import { decodeFlatbuffer } from "./internal/module/fbModule.js"
import { loadArchivePickle, modelJsonError, readZipInfo } from "./internal/load/zipCheckpoint.js"
import * as Torch from "./Torch.js"
import { contiguousStrides, Tensor } from "./Torch.js"
import { OrderedDict, PyObject, PyTuple, type PyValue } from "./Value.js"
import * as Zip from "./Zip.js"

/**
 * A TorchScript module.
 *
 * @since 0.1.0
 * @category models
 */
export interface Module {
  /** Qualified type: `__torch__.MyModule`, `__torch__.torch.nn.modules.linear.Linear`. */
  readonly type: string
  /** Every attribute as pickled, in declaration order (parameters, buffers and submodules included). */
  readonly attributes: ReadonlyMap<string, PyValue>
  /** Direct submodules, by attribute name (Sequential's "0", "1", ...). */
  readonly submodules: ReadonlyArray<readonly [string, Module]>
  /** Direct parameters, by attribute name. */
  readonly parameters: ReadonlyArray<readonly [string, Tensor]>
  /** Direct buffers, by attribute name. */
  readonly buffers: ReadonlyArray<readonly [string, Tensor]>
  /** Method names of the class, in source order. */
  readonly methods: ReadonlyArray<string>
  /** The class's printed source, when the archive has it. */
  readonly source: string | undefined
  /** The pickled object the module was built from. */
  readonly object: PyObject
}

/**
 * An opened TorchScript archive.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptArchive {
  readonly format: "torchscript" | "mobile" | "flatbuffer"
  readonly module: Module
  /** The constants table (`CONSTANTS.c0`, ... in the code). */
  readonly constants: PyValue
  /** `code/` sources by path (`code/__torch__/a.py`). */
  readonly code: ReadonlyMap<string, string>
  /** `extra/` files by name. */
  readonly extra: ReadonlyMap<string, Uint8Array>
  /** Every class defined by the sources, by qualified name. */
  readonly classes: ReadonlyMap<string, ScriptClassInfo>
  /** `version` or `.data/version`; a flatbuffer module's bytecode version. */
  readonly version: number
  /** The version the operators need: a zip's `version` record, a flatbuffer module's `operator_version`. */
  readonly operatorVersion: number
  readonly prefix: string
  /** The zip archive it was read from, and its records by name (without the folder); none for flatbuffers. */
  readonly zip: Zip.ZipArchive | undefined
  readonly records: ReadonlyMap<string, Zip.ZipEntry> | undefined
  /** The decoded bytecode.pkl of a mobile (lite-interpreter) archive. */
  readonly bytecode: Bytecode.Bytecode | undefined
}

/**
 * A class of the archive's code.
 *
 * @since 0.1.0
 * @category models
 */
export type ScriptClassInfo = ScriptClass

const utf8 = new TextDecoder()

/**
 * Builds the module tree from the pickled root object and the class table.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromObject = (object: PyObject, classes: ReadonlyMap<string, ScriptClass>): Module => {
  const type = object.cls.qualifiedName
  const cls = classes.get(type)
  const attributes = new Map<string, PyValue>()
  if (object.state instanceof Map) {
    for (const [k, v] of object.state) if (typeof k === "string") attributes.set(k, v)
  } else if (object.state instanceof PyTuple) {
    // __getstate__ output: mapped to attributes by the class's __setstate__ assignments.
    for (const [name, i] of cls?.setstateSlots ?? []) {
      const v = object.state.items[i]
      if (v !== undefined) attributes.set(name, v)
    }
  }
  const isModule = (v: PyValue): v is PyObject => v instanceof PyObject && classes.get(v.cls.qualifiedName)?.base === "Module"
  const pick = (names: ReadonlyArray<string>) =>
    names.flatMap((n) => {
      const v = attributes.get(n)
      return v instanceof Tensor ? [[n, v] as const] : []
    })
  return {
    type,
    attributes,
    submodules: [...attributes].flatMap(([n, v]) => (isModule(v) ? [[n, fromObject(v, classes)] as const] : [])),
    parameters: pick(cls?.parameters ?? []),
    buffers: pick(cls?.buffers ?? []),
    methods: cls?.methods ?? [],
    source: cls?.source,
    object
  }
}

const named = (m: Module, which: "parameters" | "buffers", prefix = ""): Array<readonly [string, Tensor]> => [
  ...m[which].map(([n, t]) => [prefix + n, t] as const),
  ...m.submodules.flatMap(([n, sub]) => named(sub, which, `${prefix}${n}.`))
]

/**
 * Every parameter of the tree with its dotted name, as `named_parameters()`.
 *
 * @since 0.1.0
 * @category getters
 */
export const namedParameters = (m: Module): Array<readonly [string, Tensor]> => named(m, "parameters")

/**
 * Every buffer of the tree with its dotted name, as `named_buffers()`.
 *
 * @since 0.1.0
 * @category getters
 */
export const namedBuffers = (m: Module): Array<readonly [string, Tensor]> => named(m, "buffers")

/**
 * The module's `state_dict()`: parameters and buffers, each module's
 * parameters before its buffers, then its submodules'.
 *
 * @since 0.1.0
 * @category getters
 */
export const stateDict = (m: Module, prefix = ""): OrderedDict => {
  const out = new OrderedDict()
  const walk = (mod: Module, p: string) => {
    for (const [n, t] of mod.parameters) out.set(p + n, t)
    for (const [n, t] of mod.buffers) out.set(p + n, t)
    for (const [n, sub] of mod.submodules) walk(sub, `${p}${n}.`)
  }
  walk(m, prefix)
  return out
}

/**
 * Opens a TorchScript archive (`torch.jit.save`, or a lite-interpreter zip
 * with bytecode.pkl) or a flatbuffer module, from a source or a container
 * `Container.open` recognized: reads its code, constants and data.pkl;
 * tensors stay lazy, read from the source on demand.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (input: ByteSource | Container.Container, options: { readonly maxFlatbufferBytes?: number } = {}): Effect.Effect<ScriptArchive, TorchwireError> =>
  byContainer(input, options, (zip) => openZip(zip.source, zip.archive))

/** A flatbuffer module opened whole, a zip archive as `onZip` reads it; a checkpoint's container a failure. */
const byContainer = <A>(
  input: ByteSource | Container.Container,
  options: { readonly maxFlatbufferBytes?: number },
  onZip: (zip: Extract<Container.Container, { readonly _tag: "Zip" }>) => Effect.Effect<A, TorchwireError>
): Effect.Effect<A | ScriptArchive, TorchwireError> =>
  Effect.flatMap(Container.fromInput(input), (container): Effect.Effect<A | ScriptArchive, TorchwireError> => {
    switch (container._tag) {
      case "Flatbuffer":
        return openFlatbuffer(container.source, options.maxFlatbufferBytes ?? 4 * 2 ** 30)
      case "Zip":
        return onZip(container)
      default:
        return notAModule(container)
    }
  })

/**
 * An archive's printed TorchScript: the `code/` sources by path and the
 * classes they define.
 *
 * @since 0.1.0
 * @category models
 */
export type ScriptCode = Pick<ScriptArchive, "code" | "classes">

/**
 * Reads only the printed TorchScript of an archive (`code/`), not its
 * pickles: what `torchwire code` shows, even for an archive whose data.pkl
 * does not load.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openCode = (input: ByteSource | Container.Container, options: { readonly maxFlatbufferBytes?: number } = {}): Effect.Effect<ScriptCode, TorchwireError> =>
  byContainer(input, options, (zip) =>
    Effect.flatMap(readZipInfo(zip.archive), (info) =>
      // A model.json archive's module does not load, its code does.
      Effect.zipRight(info.kind === "modeljson" ? Effect.void : moduleKind(info), readCode(zip.archive, info.index.records))))

/** The failure of opening as a module a container that holds a checkpoint. */
const notAModule = (container: Container.Container) =>
  Effect.fail(
    new CheckpointError({
      reason: "UnsupportedFormat",
      offset: 0,
      record: container.source.name,
      detail: `a ${container.format} file holds a torch.save checkpoint, not a module: open it with Checkpoint.open`
    })
  )

/** The kind of module a zip archive holds; a failure for a torch.save checkpoint (no constants.pkl). */
const moduleKind = (info: Effect.Effect.Success<ReturnType<typeof readZipInfo>>): Effect.Effect<"torchscript" | "mobile", CheckpointError> =>
  info.kind === "checkpoint"
    ? Effect.fail(new CheckpointError({ reason: "UnsupportedFormat", offset: 0, record: `${info.prefix}/constants.pkl`, detail: "not a TorchScript archive (no constants.pkl); open it with Checkpoint.open" }))
    : info.kind === "modeljson"
    ? modelJsonError(info.prefix)
    : Effect.succeed(info.kind)

/** The `code/` sources of a zip archive's records (and `libs/`, a model.json archive's classes), and the classes they define. */
const readCode = (archive: Zip.ZipArchive, records: ReadonlyMap<string, Zip.ZipEntry>): Effect.Effect<ScriptCode, TorchwireError> =>
  Effect.gen(function*() {
    const code = new Map<string, string>()
    for (const [name, entry] of records) {
      if ((name.startsWith("code/") || name.startsWith("libs/")) && name.endsWith(".py")) code.set(name, utf8.decode(yield* archive.read(entry)))
    }
    return { code, classes: new Map([...code].flatMap(([path, text]) => parseClasses(path, text)).map((c) => [c.qualifiedName, c])) }
  })

/** A TorchScript or mobile zip archive. */
const openZip = (source: ByteSource, archive: Zip.ZipArchive): Effect.Effect<ScriptArchive, TorchwireError> =>
  Effect.gen(function*() {
    const info = yield* readZipInfo(archive)
    const { index, prefix, byteOrder, version } = info
    const { records } = index
    const kind = yield* moduleKind(info)
    const { code, classes } = yield* readCode(archive, records)
    const extra = new Map<string, Uint8Array>()
    for (const [name, entry] of records) {
      if (name.startsWith("extra/")) extra.set(name.slice(6), yield* archive.read(entry))
    }
    // TorchScript pickles name __torch__ classes, which no Python code backs: opaque objects, never executed.
    const ctx: LoadContext = { source, ...policyOf({ weightsOnly: false }), maxPickleBytes: 1 << 30 }
    const where = { prefix, byteOrder }
    const constants = yield* loadArchivePickle(ctx, archive, index, where, "constants.pkl", "constants/", true)
    const root = yield* loadArchivePickle(ctx, archive, index, where, "data.pkl", "data/", true)
    if (!(root instanceof PyObject)) {
      return yield* new CheckpointError({ reason: "BadRecord", offset: 0, record: `${prefix}/data.pkl`, detail: "data.pkl does not hold a module object" })
    }
    const bytecode = kind !== "mobile" ? undefined : yield* Effect.flatMap(
      loadArchivePickle(ctx, archive, index, where, "bytecode.pkl", "constants/", true),
      (v) => attempt(() => Bytecode.decode(v), CheckpointError)
    )
    return { format: kind, module: fromObject(root, classes), constants, code, extra, classes, version, operatorVersion: version, prefix, zip: archive, records, bytecode }
  })

/** A flatbuffer module, read whole (verified before any access). */
const openFlatbuffer = (source: ByteSource, limit: number): Effect.Effect<ScriptArchive, TorchwireError> =>
  Effect.gen(function*() {
    if (source.size > limit) {
      return yield* new CheckpointError({ reason: "BadRecord", offset: 0, record: source.name, detail: `flatbuffer of ${source.size} bytes is over the ${limit}-byte limit` })
    }
    const bytes = yield* source.read(0, source.size)
    const contents = yield* attempt(() => decodeFlatbuffer(bytes))
    const code = new Map([...contents.sources].map(([name, text]) => [name.startsWith("code/") ? name : `code/${name}`, text] as const))
    const classes = new Map([...code].flatMap(([path, text]) => parseClasses(path, text)).map((c) => [c.qualifiedName, c]))
    return {
      format: "flatbuffer" as const,
      module: fromObject(contents.root, classes),
      constants: contents.constants,
      code,
      extra: contents.extra,
      classes,
      version: contents.bytecode.version,
      operatorVersion: contents.operatorVersion,
      prefix: "",
      zip: undefined,
      records: undefined,
      bytecode: contents.bytecode
    }
  })

/**
 * Options of `save`.
 *
 * @since 0.1.0
 * @category options
 */
export interface SaveOptions {
  /**
   * New values for parameters and buffers, by dotted name. Each must have
   * the dtype and shape of the tensor it replaces.
   */
  readonly replace?: ReadonlyMap<string, Tensor>
  /** CRC-32 implementation (default: the `Checksum.Crc32` service's). */
  readonly crc32?: (data: Uint8Array, crc: number) => number
  /**
   * The form to write (default: the archive's own). A mobile archive
   * (`.ptl`) and a flatbuffer module (`.ff`) convert to each other; a
   * TorchScript archive has no bytecode to convert (torchwire compiles
   * nothing), so it is written only as itself.
   */
  readonly format?: ScriptArchive["format"]
  /** The archive's folder when writing a zip from a flatbuffer module (default "archive"). */
  readonly prefix?: string
}

/**
 * Writes an opened module back, as a Stream of bytes torch loads, in the
 * form `options.format` names. A zip archive written as itself has every
 * record copied (code/, constants, extra/, data.pkl unchanged; deflated
 * records stored). A mobile archive and a flatbuffer module convert to each
 * other: the module object, bytecode, constants, sources, extra files and
 * storages carried over, the flatbuffer laid out as torch lays it out and
 * verified before it is returned; what the other form cannot carry exactly
 * fails with `CheckpointError` `Unconvertible`, naming it.
 *
 * Replaced parameters and buffers are written into their storages. A
 * tensor that does not span its whole storage, or whose storage another
 * tensor shares, cannot be replaced this way (a typed error says which).
 *
 * @since 0.1.0
 * @category encoding
 */
export const save = (archive: ScriptArchive, options: SaveOptions = {}): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.unwrap(Effect.gen(function*() {
    const replaced = yield* replacements(archive, options.replace ?? new Map())
    const read = (s: Torch.Storage) => {
      const t = replaced.get(s.record)
      return t === undefined ? s.read : Torch.bytes(t)
    }
    const to = options.format ?? archive.format
    const crc32 = options.crc32 ?? (yield* Crc32).update
    const { zip, records: entries } = archive
    if (to === archive.format && zip !== undefined && entries !== undefined) {
      const records: Array<ArchiveRecord> = [...entries].map(([name, entry]) => {
        const t = replaced.get(`${archive.prefix}/${name}`)
        return { name, size: entry.uncompressedSize, data: t === undefined ? zipEntryBytes(zip, entry) : RecordBytes.Computed({ read: Torch.bytes(t), size: entry.uncompressedSize }) }
      })
      return archiveStream(archive.prefix, records, { alignment: 64, crc32 })
    }
    const model = yield* mobileModelOf(archive, to)
    if (to === "flatbuffer") {
      const storages = storagesOf(model)
      const bytes = new Map(yield* Effect.forEach(storages, (s) => Effect.map(read(s), (b) => [storageId(s), b] as const)))
      const total = [...bytes.values()].reduce((n, b) => n + b.length, 0)
      return Stream.make(yield* attempt(() => encodeFlatbuffer(model, (s) => bytes.get(storageId(s))!, total)))
    }
    const records = yield* attempt(() => mobileRecords(model))
    return archiveStream(options.prefix ?? (archive.prefix || "archive"), records.map((r): ArchiveRecord =>
      "bytes" in r
        ? { name: r.name, size: r.bytes.length, data: RecordBytes.Memory({ bytes: r.bytes }) }
        : { name: r.name, size: r.storage.nbytes, data: RecordBytes.Computed({ read: read(r.storage), size: r.storage.nbytes }) }
    ), { alignment: 64, crc32 })
  }))

/** The replaced tensors by storage record, each checked against the tensor it replaces. */
const replacements = (archive: ScriptArchive, replace: ReadonlyMap<string, Tensor>): Effect.Effect<Map<string, Tensor>, CheckpointError> =>
  Effect.gen(function*() {
    const tensors = [...namedParameters(archive.module), ...namedBuffers(archive.module)]
    const byName = new Map(tensors)
    const users = new Map<unknown, number>()
    for (const [, t] of tensors) users.set(t.storage, (users.get(t.storage) ?? 0) + 1)
    const replaced = new Map<string, Tensor>()
    for (const [name, t] of replace) {
      const old = byName.get(name)
      const bad = (detail: string) => new CheckpointError({ reason: "BadTensor", offset: 0, record: name, detail })
      if (old === undefined) return yield* new CheckpointError({ reason: "MissingRecord", offset: 0, record: name, detail: "no parameter or buffer of that name" })
      if (old.dtype !== t.dtype || old.shape.join() !== t.shape.join()) {
        return yield* bad(`replacement is ${t.dtype.name} [${t.shape}], the module has ${old.dtype.name} [${old.shape}]`)
      }
      const storage = old.storage
      if (storage === undefined || old.storageOffset !== 0 || old.nbytes !== storage.nbytes || old.stride.join() !== contiguousStrides(old.shape).join()) {
        return yield* bad("the tensor does not span its whole storage")
      }
      if ((users.get(storage) ?? 0) > 1) return yield* bad("the storage is shared with another parameter or buffer")
      replaced.set(storage.record, t)
    }
    return replaced
  })

/** A mobile archive's or flatbuffer module's contents as the writers take them; a TorchScript archive has no bytecode. */
const mobileModelOf = (archive: ScriptArchive, to: ScriptArchive["format"]): Effect.Effect<MobileModel, CheckpointError> => {
  const refuse = (why: string) => Effect.fail(unconvertible(archive.zip?.source.name ?? "archive", `a ${archive.format} archive cannot be written as ${to === "torchscript" ? "a TorchScript archive" : `a ${to} module`}: ${why}`))
  if (archive.bytecode === undefined) return refuse("it has no bytecode, and torchwire compiles no TorchScript (save it with _save_for_lite_interpreter in torch)")
  if (to === "torchscript") return refuse("mobile bytecode does not make a torch.jit.save archive")
  return Effect.succeed({
    root: archive.module.object,
    bytecode: archive.bytecode,
    operatorVersion: archive.operatorVersion,
    constants: archive.constants instanceof PyTuple ? archive.constants.items : [],
    sources: new Map([...archive.code].map(([path, text]) => [qualifierOf(path), text])),
    extra: archive.extra
  })
}
