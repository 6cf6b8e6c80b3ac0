/**
 * torch.load for zip archives (torch.save ≥ 1.6): prefix detection, the
 * version/byteorder/alignment records, data.pkl with storage persistent
 * ids resolved to lazy `data/<key>` reads.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import { Crc32 } from "../../Checksum.js"
import { attempt, CheckpointError, type TorchwireError, ZipError } from "../../Errors.js"
import type { PyValue } from "../../Value.js"
import type { ZipArchive } from "../container/zipArchive.js"
import type { CentralEntry as ZipEntry } from "../container/zipFormat.js"
import { checkpointError, type LoadContext, pickleOptions } from "./loadContext.js"
import { runUnpickle } from "./pickleAt.js"
import { zipEntryBytes } from "../container/recordBytes.js"
import { ArchiveVersion, ByteOrder, DecimalRecord, decodeRecord, text } from "../torch/records.js"
import { storagePersistentLoad } from "./storages.js"
import { type TorchRecords, torchRecords } from "../format/torchArchive.js"

/** What a torch zip archive holds besides its value. @internal */
export interface ZipCheckpointInfo {
  readonly prefix: string
  /** Record names without the prefix, in archive order. */
  readonly records: ReadonlyArray<string>
  readonly version: number
  readonly byteOrder: "little" | "big"
  readonly formatVersion: number | undefined
  readonly storageAlignment: number | undefined
  /** What the archive holds; `modeljson`: a TorchScript archive of torch 1.0-1.2 (`model.json`, no data.pkl). */
  readonly kind: "checkpoint" | "torchscript" | "mobile" | "modeljson"
}

/**
 * The failure of loading a `model.json` TorchScript archive (torch 1.0 to
 * 1.2): its module is described by model.json and attributes.pkl, which
 * neither torch 1.13 nor 2.13 reads any more ("Legacy model format is not
 * supported"); `Module.openCode` still reads its code.
 *
 * @internal
 */
export const modelJsonError = (prefix: string) =>
  checkpointError(
    "UnsupportedFormat",
    0,
    "a TorchScript archive of torch 1.0-1.2 (model.json, attributes.pkl): torch 1.13 and 2.13 do not load it either; Module.openCode (torchwire code) reads its code",
    `${prefix}/model.json`
  )


const readText = (archive: ZipArchive, entry: ZipEntry | undefined): Effect.Effect<string | undefined, TorchwireError> =>
  entry === undefined
    ? Effect.succeed(undefined)
    : entry.uncompressedSize > 4096
    ? Effect.fail(checkpointError("BadRecord", entry.localHeaderOffset, `${entry.uncompressedSize}-byte record where a short text was expected`, entry.name))
    : Effect.map(archive.read(entry), text)

/** Reads the small metadata records and validates them. @internal */
export const readZipInfo = (archive: ZipArchive) =>
  Effect.gen(function*() {
    const index = yield* torchRecords(archive)
    const { prefix, find } = index
    const kind = find("bytecode.pkl") ? "mobile" as const
      : find("constants.pkl") ? "torchscript" as const
      : find("model.json") && !find("data.pkl") ? "modeljson" as const
      : "checkpoint" as const
    const versionEntry = find(".data/version") ?? find("version")
    if (versionEntry === undefined) return yield* checkpointError("MissingRecord", 0, "archive has neither a version nor a .data/version record", `${prefix}/version`)
    const decode = <A, I>(schema: Schema.Schema<A, I>, entry: ZipEntry, value: string) =>
      attempt(() => decodeRecord(schema, value, { record: entry.name, offset: entry.localHeaderOffset }), CheckpointError)
    const version = yield* decode(ArchiveVersion, versionEntry, (yield* readText(archive, versionEntry))!)
    const orderEntry = find("byteorder")
    const byteOrder = orderEntry === undefined ? "little" as const : yield* decode(ByteOrder, orderEntry, (yield* readText(archive, orderEntry))!)
    const optionalNumber = (name: string): Effect.Effect<number | undefined, TorchwireError> =>
      Effect.flatMap(readText(archive, find(name)), (t) => t === undefined ? Effect.succeed(undefined) : decode(DecimalRecord, find(name)!, t))
    const formatVersion = yield* optionalNumber(".format_version")
    const storageAlignment = yield* optionalNumber(".storage_alignment")
    return { prefix, index, version, byteOrder, formatVersion, storageAlignment, kind }
  })

/**
 * Unpickles one pickle record of a torch archive, its storages lazy reads
 * of `<storageDir><key>` (`data/` for data.pkl, `constants/` for a
 * TorchScript archive's constants.pkl).
 *
 * @internal
 */
export const loadArchivePickle = (
  ctx: LoadContext,
  archive: ZipArchive,
  records: TorchRecords,
  info: { readonly prefix: string; readonly byteOrder: "little" | "big" },
  pickleName: string,
  storageDir: string,
  /** Persistent ids as TorchScript reads them (`storagePersistentLoad`'s `script`). */
  script = false
): Effect.Effect<PyValue, TorchwireError> =>
  Effect.gen(function*() {
    const pklEntry = records.find(pickleName)
    if (pklEntry === undefined) return yield* checkpointError("MissingRecord", 0, `archive has no ${pickleName}`, `${info.prefix}/${pickleName}`)
    if (pklEntry.uncompressedSize > ctx.maxPickleBytes) {
      return yield* checkpointError("BadRecord", pklEntry.localHeaderOffset, `${pickleName} is ${pklEntry.uncompressedSize} bytes, over the ${ctx.maxPickleBytes}-byte limit`, pklEntry.name)
    }
    const pickle = yield* archive.read(pklEntry)
    // A pickle's CRC-32 is always checked (it is small): corrupt bytes fail as CrcMismatch, not as a misleading
    // error about what they seem to say. A CRC of 0 is none (torch's compute_crc32=False writes 0s).
    if (!archive.checkCrc && pklEntry.crc32 !== 0) {
      const crc = (yield* Crc32).update(pickle, 0)
      if (crc !== pklEntry.crc32) {
        return yield* new ZipError({ reason: "CrcMismatch", offset: pklEntry.localHeaderOffset, record: pklEntry.name, detail: `CRC-32 is ${crc.toString(16)}, central directory says ${pklEntry.crc32.toString(16)}` })
      }
    }
    const persistentLoad = storagePersistentLoad(
      (key) => {
        const entry = records.find(`${storageDir}${key}`)
        return entry === undefined ? undefined : { name: entry.name, offset: entry.localHeaderOffset, bytes: zipEntryBytes(archive, entry) }
      },
      { pickleRecord: pklEntry.name, missingName: (key) => `${info.prefix}/${storageDir}${key}`, byteOrder: info.byteOrder, script }
    )
    const { value } = yield* runUnpickle(pickle, 0, pickleOptions(ctx, pklEntry.name, persistentLoad))
    return value
  })

/**
 * Loads `data.pkl` of a torch.save archive. Storages become lazy reads of
 * `data/<key>`; nothing but data.pkl and the small records is read.
 *
 * @internal
 */
export const loadZipCheckpoint = (ctx: LoadContext, archive: ZipArchive): Effect.Effect<{ readonly value: PyValue; readonly info: ZipCheckpointInfo }, TorchwireError> =>
  Effect.gen(function*() {
    const { index, ...info } = yield* readZipInfo(archive)
    if (info.kind === "modeljson") return yield* modelJsonError(info.prefix)
    const value = yield* loadArchivePickle(ctx, archive, index, info, "data.pkl", "data/")
    return { value, info: { ...info, records: [...index.records.keys()] } }
  })
