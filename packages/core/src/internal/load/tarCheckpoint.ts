/**
 * torch.load for the tar format of PyTorch 0.1.x: members `storages`
 * (count, then per storage a pickled (key, location, storage_type), an int64
 * element count and the bytes, then a pickled list of views), `tensors`
 * (count, then per tensor a pickled (key, storage_key, tensor_type) and
 * binary sizes/strides/offset) and `pickle` (the object, whose persistent
 * ids name tensors and storages by key).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { ByteSource } from "../../ByteSource.js"
import { attempt, CheckpointError, type SourceError, type TorchwireError } from "../../Errors.js"
import { RecordBytes } from "../container/recordBytes.js"
import { Storage, StorageType, type Tensor, viewOf } from "../torch/model.js"
import { PyTuple, type PyValue } from "../../Value.js"
import { checkpointError, DEFAULT_MAX_PICKLE_BYTES, type LoadContext, pickleOptions, policyOf } from "./loadContext.js"
import { unpickleAt } from "./pickleAt.js"
import type { TarMember } from "../container/tar.js"
import { makeTensor } from "../torch/globals.js"
import type { CallSite } from "../pickle/hooks.js"


const intOf = (v: PyValue | undefined): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) ? v : undefined)

const tupleOf = (v: PyValue, arity: number): ReadonlyArray<PyValue> | undefined =>
  v instanceof PyTuple && v.items.length === arity ? v.items : Array.isArray(v) && v.length === arity ? v : undefined

/** Where a pickle the loader reads lies: its member, its start, and its end (the member's end until it has been read). @internal */
export interface PickleSpan {
  readonly record: string
  readonly start: number
  end: number
}

/**
 * Loads a tar checkpoint from its listed members. `spans`, when given,
 * receives where each pickle the loader reads lies, as torch reads them
 * (`Scan` vets each).
 *
 * @internal
 */
export const loadTarCheckpoint = (
  ctx: LoadContext,
  members: ReadonlyArray<TarMember>,
  spans?: Array<PickleSpan>
): Effect.Effect<{ readonly value: PyValue; readonly members: ReadonlyArray<string> }, TorchwireError> =>
  Effect.gen(function*() {
    const { source } = ctx
    const member = (name: string): Effect.Effect<TarMember, CheckpointError> => {
      const named = members.filter((x) => x.name === name)
      if (named.length > 1) {
        // tarfile (torch) reads the last of them, a first-match reader the first.
        return Effect.fail(checkpointError("Ambiguous", named[1]!.offset, `tar archive has ${named.length} ${name} members`, name))
      }
      return named.length === 0 ? Effect.fail(checkpointError("MissingRecord", 0, `tar archive has no ${name} member`, name)) : Effect.succeed(named[0]!)
    }
    const pickleIn = (m: TarMember, at: number, persistentLoad?: (pid: PyValue, site: CallSite) => PyValue) => {
      const span: PickleSpan = { record: m.name, start: at, end: m.offset + m.size }
      spans?.push(span)
      return Effect.tap(
        unpickleAt(source, at, pickleOptions(ctx, m.name, persistentLoad), Math.min(ctx.maxPickleBytes, m.offset + m.size - at)),
        (r) => void (span.end = r.end)
      )
    }
    const int64s = (m: TarMember, at: number, count: number) =>
      at + 8 * count > m.offset + m.size
        ? Effect.fail(checkpointError("BadRecord", at, `${count} int64 values run past the end of the member`, m.name))
        : Effect.map(source.read(at, 8 * count), (b) => {
          const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
          return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(8 * i, true)))
        })
    const objects = new Map<number, Storage | Tensor>()

    const storagesMember = yield* member("storages")
    const count = yield* pickleIn(storagesMember, storagesMember.offset)
    let at = count.end
    for (let i = 0; i < (intOf(count.value) ?? -1); i++) {
      const entry = yield* pickleIn(storagesMember, at)
      const [key, location, type] = tupleOf(entry.value, 3) ?? []
      if (intOf(key) === undefined || typeof location !== "string" || !(type instanceof StorageType)) {
        return yield* checkpointError("BadRecord", at, "storage header must be (key, location, storage_type)", storagesMember.name)
      }
      const [elements] = yield* int64s(storagesMember, entry.end, 1)
      const nbytes = elements! * type.dtype.itemSize
      const dataAt = entry.end + 8
      if (elements! < 0 || dataAt + nbytes > storagesMember.offset + storagesMember.size) {
        return yield* checkpointError("StorageTooShort", entry.end, `storage ${key} of ${elements} elements runs past the end of the member`, storagesMember.name)
      }
      objects.set(intOf(key)!, new Storage({ key: String(key), dtype: type.dtype, location, record: storagesMember.name, bytes: RecordBytes.SourceRange({ source, offset: dataAt, size: nbytes }) }))
      at = dataAt + nbytes
    }
    const views = yield* pickleIn(storagesMember, at)
    for (const v of Array.isArray(views.value) ? views.value : []) {
      const [target, rootKey, offset, numel] = (tupleOf(v, 4) ?? []).map(intOf)
      const root = objects.get(rootKey ?? -1)
      if (target === undefined || offset === undefined || numel === undefined || !(root instanceof Storage)) {
        return yield* checkpointError("BadRecord", at, "storage view must be (key, root_key, offset, numel) of a known storage", storagesMember.name)
      }
      const [start, end] = [offset * root.dtype.itemSize, (offset + numel) * root.dtype.itemSize]
      if (start < 0 || end > root.nbytes) return yield* checkpointError("StorageTooShort", at, `view ${target} exceeds storage ${rootKey}`, storagesMember.name)
      objects.set(target, new Storage({ key: String(target), dtype: root.dtype, location: root.location, record: root.record, bytes: viewOf(root, start, end) }))
    }

    const tensorsMember = yield* member("tensors")
    const tensorCount = yield* pickleIn(tensorsMember, tensorsMember.offset)
    at = tensorCount.end
    for (let i = 0; i < (intOf(tensorCount.value) ?? -1); i++) {
      const entry = yield* pickleIn(tensorsMember, at)
      const [key, storageKey] = (tupleOf(entry.value, 3) ?? []).map(intOf)
      const storage = objects.get(storageKey ?? -1)
      if (key === undefined || !(storage instanceof Storage)) {
        return yield* checkpointError("BadRecord", at, "tensor header must be (key, storage_key, tensor_type) of a known storage", tensorsMember.name)
      }
      const [ndim] = yield* Effect.map(source.read(entry.end, 4), (b) => [new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true)])
      if (ndim! < 0 || ndim! > 64) return yield* checkpointError("BadTensor", entry.end, `invalid dimension count ${ndim}`, tensorsMember.name)
      const fields = yield* int64s(tensorsMember, entry.end + 8, 2 * ndim! + 1)
      const site = { offset: entry.end, record: tensorsMember.name }
      const tensor = yield* attempt(
        () => makeTensor(site, storage, storage.dtype, fields[2 * ndim!]!, fields.slice(0, ndim), fields.slice(ndim, 2 * ndim!), false),
        CheckpointError
      )
      objects.set(key, tensor)
      at = entry.end + 8 + 8 * (2 * ndim! + 1)
    }

    const pickleMember = yield* member("pickle")
    const persistentLoad = (pid: PyValue, site: CallSite): PyValue => {
      if (pid instanceof PyTuple) return pid.items[0] ?? null
      const key = typeof pid === "string" ? Number(pid) : intOf(pid)
      const obj = objects.get(key ?? NaN)
      if (obj === undefined) throw checkpointError("BadPersistentId", site.offset, `persistent id ${String(pid)} names no tensor or storage`, pickleMember.name)
      return obj
    }
    const main = yield* pickleIn(pickleMember, pickleMember.offset, persistentLoad)
    return { value: main.value, members: members.map((m) => m.name) }
  })

/**
 * Where the pickles of a tar checkpoint's `storages` and `tensors` members
 * lie (interleaved with binary data, so found by walking them as torch's
 * loader does, nothing executed: unknown globals stay opaque). A pickle the
 * walk cannot read spans the rest of its member; the walk's failure, if
 * any, is returned too.
 *
 * @internal
 */
export const tarPickleSpans = (
  source: ByteSource,
  members: ReadonlyArray<TarMember>
): Effect.Effect<{ readonly spans: ReadonlyArray<PickleSpan>; readonly failure: TorchwireError | undefined }, SourceError> => {
  const spans: Array<PickleSpan> = []
  const ctx: LoadContext = { source, ...policyOf({ weightsOnly: false }), maxPickleBytes: DEFAULT_MAX_PICKLE_BYTES }
  return loadTarCheckpoint(ctx, members, spans).pipe(
    Effect.map(() => undefined),
    Effect.catchIf((e): e is Exclude<TorchwireError, SourceError> => e._tag !== "SourceError", (e) => Effect.succeed(e)),
    Effect.map((failure) => ({ spans: spans.filter((s) => s.record === "storages" || s.record === "tensors"), failure }))
  )
}
