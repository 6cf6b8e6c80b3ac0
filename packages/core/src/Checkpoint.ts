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
import { CheckpointError, type TorchwireError } from "./Errors.js"
import { LEGACY_MAGIC, loadLegacyCheckpoint } from "./internal/load/legacyCheckpoint.js"
import type { LoadContext, OpenOptions as LoadOptions } from "./internal/load/loadContext.js"
import { decodeOp, makeCursor, Op, OPCODES } from "./internal/pickle/opcodes.js"
import { runUnpickle, unpickleAt } from "./internal/load/pickleAt.js"
import { pickleOptions, policyOf } from "./internal/load/loadContext.js"
import { prefetchStorages } from "./internal/load/storages.js"
import { looksLikeStream, loadStreamCheckpoint } from "./internal/load/streamCheckpoint.js"
import { isTarHeader } from "./internal/container/tar.js"
import { loadTarCheckpoint } from "./internal/load/tarCheckpoint.js"
import { loadZipCheckpoint } from "./internal/load/zipCheckpoint.js"
import { Tensor, type TensorArray, toTypedArray } from "./Torch.js"
import { PyFrozenSet, PyGlobal, PyObject, PySet, PyTuple, type PyValue } from "./Value.js"
import * as Zip from "./Zip.js"

/**
 * The file formats torchwire recognizes.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "zip" | "legacy" | "tar" | "pickle" | "torchscript" | "mobile" | "flatbuffer" | "stream"

/**
 * True for formats that hold a module (open them with `Module.open`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isModuleFormat = (format: Format): format is "torchscript" | "mobile" | "flatbuffer" =>
  format === "torchscript" || format === "mobile" || format === "flatbuffer"

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
  readonly format: "zip" | "legacy" | "tar" | "pickle" | "stream"
  /** The unpickled object; tensors read their bytes from `source` on demand. */
  readonly value: PyValue
  readonly source: ByteSource
  /** Zip record names (without the archive folder), tar members, or legacy storage keys. */
  readonly records: ReadonlyArray<string>
  /** The archive folder of a zip checkpoint. */
  readonly prefix?: string
  /** The `version` record of a zip checkpoint. */
  readonly version?: number
  /** Byte order of the storages. */
  readonly byteOrder: "little" | "big"
  /** `.format_version` and `.storage_alignment` of torch ≥ 2.7 archives. */
  readonly formatVersion?: number
  readonly storageAlignment?: number
}

const PK = [0x50, 0x4b, 0x03, 0x04]

/**
 * Tells which format a source holds, from its first bytes (and, for zip
 * archives, their record names).
 *
 * @since 0.1.0
 * @category constructors
 */
export const detect = (source: ByteSource): Effect.Effect<Format, TorchwireError> =>
  Effect.map(sniff(source, {}), (s) => s.format)

/** Whether an archive has the record `name` under its folder (a scan: a checkpoint may hold 100k records). */
const hasRecord = (archive: Zip.ZipArchive, name: string): boolean =>
  archive.entries.some((e) => e.name.endsWith(name) && e.name.indexOf("/") === e.name.length - name.length - 1)

/** Detects the format; for zip archives also returns the opened archive, so it is read once. */
const sniff = (source: ByteSource, zipOptions: Zip.ZipOptions): Effect.Effect<{ readonly format: Format; readonly archive?: Zip.ZipArchive }, TorchwireError> =>
  Effect.gen(function*() {
    const head = yield* source.read(0, Math.min(source.size, 512))
    if (head.length >= 8 && new TextDecoder().decode(head.subarray(4, 8)) === "PTMF") return { format: "flatbuffer" as const }
    if (head.length >= 8 && new TextDecoder().decode(head.subarray(0, 8)) === "PYTORCH1") {
      return yield* new CheckpointError({ reason: "UnsupportedFormat", offset: 0, detail: "File is an unsupported archive format from the preview release." })
    }
    if (PK.every((b, i) => head[i] === b)) {
      const archive = yield* Zip.open(source, zipOptions)
      const format = hasRecord(archive, "bytecode.pkl") ? "mobile" as const : hasRecord(archive, "constants.pkl") ? "torchscript" as const : "zip" as const
      return { format, archive }
    }
    if (isTarHeader(head)) return { format: "tar" as const }
    if (looksLikeStream(head)) return { format: "stream" as const }
    if (yield* startsWithLegacyMagic(source)) return { format: "legacy" as const }
    if (looksLikePickle(head)) return { format: "pickle" as const }
    return yield* new CheckpointError({ reason: "UnknownFormat", offset: 0, record: source.name, detail: "not a torch checkpoint: no zip, tar, legacy or pickle signature" })
  })

/**
 * Whether a file's first bytes read as the start of a pickle: PROTO (protocol
 * 2 and up), or protocol 0 and 1 opcodes up to a STOP or to the end of `head`,
 * or, more loosely, a first byte below 0x80 and a STOP byte somewhere (the
 * loader then reports where the pickle goes wrong).
 */
const looksLikePickle = (head: Uint8Array): boolean => {
  if (head.length === 0) return false
  if (head[0] === Op.PROTO) return true
  if (head[0]! < 0x80 && head.includes(Op.STOP)) return true
  const c = makeCursor(head)
  try {
    while (c.pos < c.end) {
      const info = OPCODES[head[c.pos]!]
      if (info === undefined || info.proto > 1) return false
      // Cut short inside an argument: the head is too short to say more.
      if (!decodeOp(c)) return true
    }
    return true
  } catch {
    return false
  }
}

/** True when the first pickle of the source is the legacy magic number (any protocol). */
const startsWithLegacyMagic = (source: ByteSource): Effect.Effect<boolean> =>
  unpickleAt(source, 0, { findClass: (module, name) => new PyGlobal(module, name) }, 64).pipe(
    Effect.map((r) => r.value === LEGACY_MAGIC),
    Effect.orElseSucceed(() => false)
  )

const context = (source: ByteSource, options: OpenOptions): LoadContext => ({
  source,
  ...policyOf(options),
  checkCrc: options.checkCrc ?? false,
  maxPickleBytes: options.maxPickleBytes ?? 1 << 30
})

/**
 * Opens a checkpoint. The source must stay readable (its Scope open) for as
 * long as tensors are read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (source: ByteSource, options: OpenOptions = {}): Effect.Effect<Checkpoint, TorchwireError> =>
  Effect.gen(function*() {
    const ctx = context(source, options)
    const { format, archive } = yield* sniff(source, { checkCrc: ctx.checkCrc })
    switch (format) {
      case "zip": {
        const { value, info } = yield* loadZipCheckpoint(ctx, archive!)
        return {
          format,
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
      case "legacy": {
        const { value, storageKeys } = yield* loadLegacyCheckpoint(ctx)
        return { format, value, source, records: storageKeys, byteOrder: "little" } satisfies Checkpoint
      }
      case "tar": {
        const { value, members } = yield* loadTarCheckpoint(ctx)
        return { format, value, source, records: members, byteOrder: "little" } satisfies Checkpoint
      }
      case "stream": {
        const { value, records } = yield* loadStreamCheckpoint(source, options)
        return { format, value, source, records, byteOrder: "little" } satisfies Checkpoint
      }
      case "pickle": {
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
        return { format, value, source, records: [], byteOrder: "little" } satisfies Checkpoint
      }
      default:
        return yield* new CheckpointError({
          reason: "UnsupportedFormat",
          offset: 0,
          detail: isModuleFormat(format)
            ? `a ${format} file holds a module, not a torch.save checkpoint: open it with Module.open (torch.load refuses these too)`
            : `${format} files are not supported yet`
        })
    }
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
  while (stack.length > 0) {
    const [path, v] = stack.pop()!
    if (v instanceof Tensor) {
      out.push([path, v])
      continue
    }
    if (v === null || typeof v !== "object" || seen.has(v)) continue
    seen.add(v)
    const children: Array<readonly [string, PyValue]> = []
    if (v instanceof Map) for (const [k, x] of v) children.push([join(path, k), x])
    else if (Array.isArray(v)) v.forEach((x, i) => children.push([join(path, i), x]))
    else if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) v.items.forEach((x, i) => children.push([join(path, i), x]))
    else if (v instanceof PyObject) {
      if (v.state !== undefined) children.push([path, v.state])
      for (const [k, x] of v.dictItems) children.push([join(path, k), x])
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
