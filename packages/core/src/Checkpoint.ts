/**
 * Open any checkpoint `torch.save` has written: zip archives (1.6+, any
 * version, zip64, big-endian), the legacy stream format (0.2-1.5) and the
 * tar format (0.1.x), plus bare pickles.
 *
 * Opening reads only what describes the checkpoint (the zip directory and
 * data.pkl, or the legacy pickles); tensors are lazy and read their bytes
 * from the source when asked. By default globals are policed like torch's
 * `weights_only=True`; pass `weightsOnly: false` to get opaque objects for
 * everything else (nothing is executed either way).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { ByteSource } from "./ByteSource.js"
import * as Container from "./Container.js"
import { CheckpointError, type TorchwireError } from "./Errors.js"
import { loadLegacyCheckpoint } from "./internal/load/legacyCheckpoint.js"
import type { LoadContext, OpenOptions as LoadOptions } from "./internal/load/loadContext.js"
import { runUnpickle } from "./internal/load/pickleAt.js"
import { DEFAULT_MAX_PICKLE_BYTES, pickleOptions, policyOf } from "./internal/load/loadContext.js"
import { prefetchStorages } from "./internal/load/storages.js"
import { loadStreamCheckpoint } from "./internal/load/streamCheckpoint.js"
import { loadTarCheckpoint } from "./internal/load/tarCheckpoint.js"
import { tensorsOf } from "./internal/load/safetensorsCheckpoint.js"
import { loadZipCheckpoint } from "./internal/load/zipCheckpoint.js"
import { loadDcp } from "./internal/load/dcpCheckpoint.js"
import type { Directory } from "./Directory.js"
import { Tensor, type TensorArray, toTypedArray } from "./Torch.js"
import { PyFrozenSet, PyObject, PySet, PyTuple, type PyValue } from "./Value.js"
import * as Zip from "./Zip.js"

/**
 * The file formats torchwire recognizes (`Container.Format`).
 *
 * @since 0.1.0
 * @category models
 */
export type Format = Container.Format

/**
 * True for formats that hold a module (open them with `Module.open`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isModuleFormat = Container.isModuleFormat

/**
 * Options of `open`.
 *
 * @since 0.1.0
 * @category options
 */
export type OpenOptions = LoadOptions

/**
 * An open checkpoint: its loaded value (tensors lazy) and what the
 * container says about it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Checkpoint {
  readonly format: "zip" | "legacy" | "tar" | "pickle" | "stream" | "safetensors" | "dcp"
  /** The unpickled object; tensors read their bytes from `source` on demand. */
  readonly value: PyValue
  readonly source: ByteSource
  /** A safetensors file's `__metadata__`. */
  readonly metadata?: ReadonlyMap<string, string>
  /** Zip record names (without the archive folder), tar members, legacy storage keys, safetensors tensor names, or a distributed checkpoint's data files. */
  readonly records: ReadonlyArray<string>
  /** The archive folder of a zip checkpoint. */
  readonly prefix?: string
  /** The `version` record of a zip checkpoint. */
  readonly version?: number
  /** A distributed checkpoint's DCP version (`Metadata.version`, "1.0.0" as of torch 2.4+). */
  readonly dcpVersion?: string
  /** Byte order of the storages. */
  readonly byteOrder: "little" | "big"
  /** `.format_version` and `.storage_alignment` of torch ≥ 2.7 archives. */
  readonly formatVersion?: number
  readonly storageAlignment?: number
}

/**
 * Recognizes which format a source holds, from its first bytes (and, for
 * zip archives, their record names): the opened container, which `open`,
 * `Module.open` and `Scan.scan` take as it is (`Container.open`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const detect = (source: ByteSource, options: Container.OpenOptions = {}): Effect.Effect<Container.Container, TorchwireError> =>
  Container.open(source, options)

const context = (source: ByteSource, options: OpenOptions): LoadContext => ({
  source,
  ...policyOf(options),
  maxPickleBytes: options.maxPickleBytes ?? DEFAULT_MAX_PICKLE_BYTES
})

/**
 * A zip container's archive as `checkCrc` asks: the one recognition opened,
 * or, when that was opened with the other setting, the source opened again.
 */
const zipArchive = (container: Container.Container & { readonly _tag: "Zip" }, checkCrc: boolean | undefined) =>
  checkCrc === undefined || checkCrc === container.archive.checkCrc
    ? Effect.succeed(container.archive)
    : Zip.open(container.source, { checkCrc })

/**
 * Opens a checkpoint: a source, a container `detect` (`Container.open`)
 * recognized, or a folder (`Directory`) holding a distributed checkpoint
 * (`Dcp`; format "dcp", its `source` the `.metadata` file). The source must
 * stay readable (its Scope open) for as long as tensors are read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (input: ByteSource | Container.Container | Directory, options: OpenOptions = {}): Effect.Effect<Checkpoint, TorchwireError> =>
  isDirectory(input) ? openDirectory(input, options) : openSource(input, options)

/** Whether an input is a folder (it lists files) rather than a source or a container. */
const isDirectory = (input: ByteSource | Container.Container | Directory): input is Directory => "list" in input && "file" in input

/** A distributed checkpoint's folder, its items opened as `open` opens a source, with the same options. */
const openDirectory = (dir: Directory, options: OpenOptions): Effect.Effect<Checkpoint, TorchwireError> =>
  Effect.map(
    loadDcp(dir, (item) => Effect.map(openSource(item, options), (c) => c.value), {
      maxPickleBytes: options.maxPickleBytes ?? DEFAULT_MAX_PICKLE_BYTES,
      ...(options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes })
    }),
    (loaded): Checkpoint => ({
      format: "dcp",
      value: loaded.value,
      source: loaded.source,
      records: [...loaded.files.keys()],
      byteOrder: "little",
      ...(loaded.metadata.version === undefined ? {} : { dcpVersion: loaded.metadata.version })
    })
  )

/** `open` of a source or a recognized container. */
const openSource = (input: ByteSource | Container.Container, options: OpenOptions): Effect.Effect<Checkpoint, TorchwireError> =>
  Effect.gen(function*() {
    const container = yield* Container.fromInput(input, options.checkCrc === undefined ? {} : { checkCrc: options.checkCrc })
    const { source } = container
    const ctx = context(source, options)
    switch (container._tag) {
      case "Zip": {
        if (container.format !== "zip") return yield* moduleFormatError(container.format)
        const archive = yield* zipArchive(container, options.checkCrc)
        const { value, info } = yield* loadZipCheckpoint(ctx, archive)
        return {
          format: "zip",
          value,
          source,
          records: info.records,
          prefix: info.prefix,
          version: info.version,
          byteOrder: info.byteOrder,
          ...(info.formatVersion === undefined ? {} : { formatVersion: info.formatVersion }),
          ...(info.storageAlignment === undefined ? {} : { storageAlignment: info.storageAlignment })
        } satisfies Checkpoint
      }
      case "Legacy": {
        const { value, storageKeys } = yield* loadLegacyCheckpoint(ctx)
        return { format: "legacy", value, source, records: storageKeys, byteOrder: "little" } satisfies Checkpoint
      }
      case "Tar": {
        const { value, members } = yield* loadTarCheckpoint(ctx, container.members)
        return { format: "tar", value, source, records: members, byteOrder: "little" } satisfies Checkpoint
      }
      case "Stream": {
        const { value, records } = yield* loadStreamCheckpoint(source, options)
        return { format: "stream", value, source, records, byteOrder: "little" } satisfies Checkpoint
      }
      case "Pickle": {
        if (source.size > ctx.maxPickleBytes) {
          return yield* new CheckpointError({ reason: "BadRecord", offset: 0, detail: `pickle of ${source.size} bytes is over the limit`, record: "pickle" })
        }
        const bytes = yield* source.read(0, source.size)
        const { end, value } = yield* runUnpickle(bytes, 0, pickleOptions(ctx, "pickle"))
        if (end < bytes.length) {
          // torch would take this for a legacy checkpoint and refuse its magic number.
          return yield* new CheckpointError({
            reason: "UnknownFormat",
            offset: end,
            record: "pickle",
            detail: `${bytes.length - end} bytes follow the pickle's STOP: not a bare pickle, and not a legacy checkpoint (invalid magic number)`
          })
        }
        return { format: "pickle", value, source, records: [], byteOrder: "little" } satisfies Checkpoint
      }
      case "Flatbuffer":
        return yield* moduleFormatError(container.format)
      case "Safetensors": {
        const value = yield* tensorsOf(source, container.header)
        const { metadata } = container.header
        return {
          format: "safetensors",
          value,
          source,
          records: container.header.tensors.map((t) => t.name),
          byteOrder: "little",
          ...(metadata === undefined ? {} : { metadata })
        } satisfies Checkpoint
      }
    }
  })

/** The failure of opening a module's file as a checkpoint. */
const moduleFormatError = (format: Format) =>
  new CheckpointError({
    reason: "UnsupportedFormat",
    offset: 0,
    detail: `a ${format} file holds a module, not a torch.save checkpoint: open it with Module.open (torch.load refuses these too)`
  })

/**
 * Every tensor reachable from a value, with a dotted path (`layer1.0.weight`,
 * `state.0.exp_avg`), in pickle order. Shared tensors appear once per path.
 *
 * @since 0.1.0
 * @category utils
 */
export const tensors = (value: PyValue): Array<readonly [string, Tensor]> => {
  const out: Array<readonly [string, Tensor]> = []
  const seen = new Set<unknown>()
  const stack: Array<readonly [string, PyValue]> = [["", value]]
  const join = (path: string, key: PyValue) => {
    const k = typeof key === "string" || typeof key === "number" || typeof key === "bigint" ? String(key) : "?"
    return path === "" ? k : `${path}.${k}`
  }
  // Only objects can hold tensors: a list of millions of numbers costs no path and no stack slot per item.
  const children: Array<readonly [string, PyValue]> = []
  const add = (path: string, key: PyValue, x: PyValue) => {
    if (x !== null && typeof x === "object") children.push([join(path, key), x])
  }
  while (stack.length > 0) {
    const [path, v] = stack.pop()!
    if (v instanceof Tensor) {
      out.push([path, v])
      continue
    }
    if (v === null || typeof v !== "object" || seen.has(v)) continue
    seen.add(v)
    children.length = 0
    if (v instanceof Map) for (const [k, x] of v) add(path, k, x)
    else if (Array.isArray(v)) v.forEach((x, i) => add(path, i, x))
    else if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) v.items.forEach((x, i) => add(path, i, x))
    else if (v instanceof PyObject) {
      if (v.state !== undefined) children.push([path, v.state])
      for (const [k, x] of v.dictItems) add(path, k, x)
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
  }
  return out
}

/**
 * Every tensor reachable from a value (as `tensors` names them), read into
 * typed arrays: what loading a state_dict's weights needs. Small storages
 * of a zip checkpoint (under 1 MiB) are read first, many per read
 * (`Zip.readMany`), in batches of about 4 MiB; then up to `concurrency`
 * storages (default 4) are read at once, so allocating one overlaps reading
 * another. Tensors over one storage (tied weights) share its buffer, as in
 * torch. Fails on the first tensor that cannot be read.
 *
 * @since 0.1.0
 * @category utils
 */
export const arrays = (
  value: PyValue,
  options: { readonly concurrency?: number } = {}
): Effect.Effect<Array<readonly [string, TensorArray]>, TorchwireError> =>
  Effect.suspend(() => {
    const list = tensors(value)
    const concurrency = options.concurrency ?? 4
    // Small storages of a zip archive first, many per read; `held` keeps their bytes while the tensors take them.
    return Effect.flatMap(prefetchStorages(list.map(([, t]) => t.storage), concurrency), (held) =>
      Effect.map(
        Effect.forEach(list, ([name, t]) => Effect.map(toTypedArray(t), (a) => [name, a] as const), { concurrency }),
        (out) => {
          void held // reachable until every tensor has taken its bytes: storages remember them weakly
          return out
        }
      ))
  })
