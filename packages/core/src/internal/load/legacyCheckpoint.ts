/**
 * torch.load for the legacy stream format (`_use_new_zipfile_serialization=False`):
 * magic number, protocol version, sys_info, the main pickle, the storage
 * key list, then each storage as an int64 element count and raw bytes.
 *
 * Opening reads the pickles only: storage offsets follow from the sizes the
 * persistent ids declare, and each count is checked when its storage is read.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { TorchwireError } from "../../Errors.js"
import { RecordBytes } from "../container/recordBytes.js"
import { Storage, viewOf } from "../torch/model.js"
import { PyGlobal, PyTuple, type PyValue } from "../../Value.js"
import { checkpointError, type LoadContext, pickleOptions } from "./loadContext.js"
import { unpickleAt } from "./pickleAt.js"
import { decodeRecord, LEGACY_MAGIC, LEGACY_PROTOCOL, LegacyStoragePid, pidItems } from "../torch/records.js"
import type { CallSite } from "../pickle/hooks.js"


/** Where one storage's block lies, known once the key list is read. */
interface Block {
  readonly key: string
  readonly nbytes: number
  readonly itemSize: number
  at?: number
}

/**
 * Loads a legacy checkpoint.
 *
 * @internal
 */
export const loadLegacyCheckpoint = (ctx: LoadContext): Effect.Effect<{ readonly value: PyValue; readonly storageKeys: ReadonlyArray<string> }, TorchwireError> =>
  Effect.gen(function*() {
    const { source } = ctx
    const plain = (record: string) => pickleOptions(ctx, record)
    const magic = yield* unpickleAt(source, 0, plain("magic number"), ctx.maxPickleBytes)
    if (magic.value !== LEGACY_MAGIC) return yield* checkpointError("UnknownFormat", 0, "Invalid magic number; corrupt file?", "magic number")
    const protocol = yield* unpickleAt(source, magic.end, plain("protocol version"), ctx.maxPickleBytes)
    if (protocol.value !== LEGACY_PROTOCOL) {
      return yield* checkpointError("UnsupportedFormat", magic.end, `Invalid protocol version: ${String(protocol.value)}`, "protocol version")
    }
    const sysInfo = yield* unpickleAt(source, protocol.end, plain("sys_info"), ctx.maxPickleBytes)

    const blocks = new Map<string, Block>()
    const storages = new Map<string, Storage>()
    const readBlock = (block: Block, record: string) =>
      Effect.suspend(() => {
        const at = block.at
        if (at === undefined) return Effect.fail(checkpointError("MissingRecord", 0, `storage ${block.key} is not in the storage key list`, record))
        return Effect.flatMap(source.read(at, 8 + block.nbytes), (b) => {
          const count = new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0, true)
          return count * BigInt(block.itemSize) !== BigInt(block.nbytes)
            ? Effect.fail(checkpointError("BadRecord", at, `storage has wrong byte size: expected ${block.nbytes / block.itemSize} elements, got ${count}`, record))
            : Effect.succeed(b.subarray(8))
        })
      })
    const persistentLoad = (pid: PyValue, site: CallSite): PyValue => {
      const items = pid instanceof PyTuple ? pid.items : []
      if (items[0] === "module") return items[1] instanceof PyGlobal ? items[1] : null
      const [, type, key, location, numel, view] = decodeRecord(LegacyStoragePid, pidItems(pid), {
        record: "pickle",
        offset: site.offset,
        reason: "BadPersistentId"
      })
      const itemSize = type.untyped ? 1 : type.dtype.itemSize
      let root = storages.get(key)
      if (root === undefined) {
        const block: Block = { key, nbytes: numel * itemSize, itemSize }
        blocks.set(key, block)
        const record = `storage ${key}`
        root = new Storage({ key, dtype: type.dtype, location, record, bytes: RecordBytes.Computed({ read: readBlock(block, record), size: block.nbytes }) })
        storages.set(key, root)
      }
      if (view === null) return root
      const [viewKey, offset, size] = view
      const cachedView = storages.get(viewKey)
      if (cachedView !== undefined) return cachedView
      const start = offset * itemSize
      const end = start + size * itemSize
      if (end > root.nbytes) {
        throw checkpointError("StorageTooShort", site.offset, `view ${viewKey} [${offset}, ${offset + size}) exceeds storage ${key}`, "pickle")
      }
      const viewStorage = new Storage({ key: viewKey, dtype: type.dtype, location, record: root.record, bytes: viewOf(root, start, end) })
      storages.set(viewKey, viewStorage)
      return viewStorage
    }
    const main = yield* unpickleAt(source, sysInfo.end, pickleOptions(ctx, "pickle", persistentLoad), ctx.maxPickleBytes)
    const keyList = yield* unpickleAt(source, main.end, plain("storage keys"), ctx.maxPickleBytes)
    if (!Array.isArray(keyList.value) || !keyList.value.every((k): k is string => typeof k === "string")) {
      return yield* checkpointError("BadRecord", main.end, "storage key list is not a list of strings", "storage keys")
    }
    let at = keyList.end
    for (const key of keyList.value) {
      const block = blocks.get(key)
      if (block === undefined) return yield* checkpointError("BadRecord", at, `storage key ${JSON.stringify(key)} is not used by the pickle`, "storage keys")
      if (at + 8 + block.nbytes > source.size) {
        return yield* checkpointError("StorageTooShort", at, `storage ${key} needs ${8 + block.nbytes} bytes, the file has ${source.size - at} left`, `storage ${key}`)
      }
      block.at = at
      at += 8 + block.nbytes
    }
    return { value: main.value, storageKeys: keyList.value }
  })
