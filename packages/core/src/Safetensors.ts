/**
 * safetensors files (Hugging Face's format: a JSON header and raw tensor
 * bytes, no code). Reading is `Checkpoint.open`'s: a safetensors file opens
 * lazily (the header is the only read) as the dict of tensors
 * `safetensors.torch.load_file` returns, with `metadata`. Writing is this
 * module's: `encode` writes what `safetensors.torch.save_file` writes for
 * the same tensors, byte for byte (save_file's order, its header padding),
 * from any value torchwire opens.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { attempt, CheckpointError, type TorchwireError } from "./Errors.js"
import { streamOf } from "./internal/container/recordBytes.js"
import { encodeHeader, safetensorsDtypeOf, writeOrder } from "./internal/format/safetensors.js"
import { isContiguous } from "./internal/torch/shape.js"
import { bytes, Tensor } from "./Torch.js"
import type { PyValue } from "./Value.js"

/**
 * Options of `encode`.
 *
 * @since 0.2.0
 * @category options
 */
export interface EncodeOptions {
  /** `__metadata__`: string pairs (transformers writes `{format: "pt"}`); none by default, as save_file. */
  readonly metadata?: ReadonlyMap<string, string>
  /** Leave out values that are not tensors (numbers, strings, ...) instead of failing with their names. */
  readonly dropNonTensors?: boolean
}

/**
 * What `encode` writes: the tensors by name in file order, the names left
 * out (aliases of a tensor written under another name, and non-tensors when
 * asked), and the file's size.
 *
 * @since 0.2.0
 * @category models
 */
export interface Plan {
  readonly tensors: ReadonlyArray<readonly [string, Tensor]>
  readonly header: Uint8Array
  readonly dropped: ReadonlyArray<string>
  readonly size: number
}

/**
 * The tensors of a value by dotted name (a state_dict's keys; nested dicts
 * and a training checkpoint's state joined with `.`), and the names of the
 * leaves that are not tensors.
 */
const flatten = (value: PyValue): { readonly tensors: Array<readonly [string, Tensor]>; readonly others: Array<string> } => {
  const tensors: Array<readonly [string, Tensor]> = []
  const others: Array<string> = []
  const seen = new Set<unknown>()
  const walk = (v: PyValue, path: string) => {
    if (v instanceof Tensor) return void tensors.push([path, v])
    const entries = v instanceof Map ? [...v] : Array.isArray(v) ? v.map((x, i) => [i, x] as const) : undefined
    if (entries === undefined || seen.has(v)) return void others.push(path === "" ? "(the value itself)" : path)
    seen.add(v)
    for (const [k, x] of entries) walk(x, path === "" ? String(k) : `${path}.${String(k)}`)
  }
  walk(value, "")
  return { tensors, others }
}

/**
 * Tensors over one storage written once, as `safetensors.torch.save_model`
 * does: of the names that cover their whole storage the first by name is
 * kept, the others dropped; a storage shared by names none of which covers
 * it is an error naming them.
 */
const dedupe = (tensors: ReadonlyArray<readonly [string, Tensor]>): { readonly kept: Array<readonly [string, Tensor]>; readonly aliases: Map<string, string> } => {
  const byStorage = new Map<unknown, Array<readonly [string, Tensor]>>()
  for (const entry of tensors) {
    const key = entry[1].storage ?? entry[1]
    byStorage.set(key, [...(byStorage.get(key) ?? []), entry])
  }
  const aliases = new Map<string, string>()
  const keep = new Set<string>()
  for (const group of byStorage.values()) {
    if (group.length === 1) {
      keep.add(group[0]![0])
      continue
    }
    const complete = group.filter(([, t]) => coversStorage(t)).map(([n]) => n).sort()
    if (complete.length === 0) {
      throw new CheckpointError({ reason: "BadTensor", offset: 0, record: group[0]![0], detail: `tensors share memory but none covers it whole (safetensors stores each once): ${group.map(([n]) => n).join(", ")}` })
    }
    keep.add(complete[0]!)
    for (const [n] of group) if (n !== complete[0]) aliases.set(n, complete[0]!)
  }
  return { kept: tensors.filter(([n]) => keep.has(n)), aliases }
}

/** Whether a tensor is all of its storage, in order: its bytes are the storage's. */
const coversStorage = (t: Tensor): boolean =>
  t.storage !== undefined && t.storageOffset === 0 && t.nbytes === t.storage.nbytes && isContiguous(t.shape, t.stride)

/**
 * The tensors safetensors would store for a value (a state_dict, or any
 * dict of tensors, nested dicts flattened to dotted names), in the value's
 * order: tensors over one storage once (`aliases`: each name left out, and
 * the name written instead), non-tensors left out when asked (`others`).
 * Fails for a non-tensor leaf (listing them all, unless `dropNonTensors`)
 * and for tensors that share memory none of them covers.
 *
 * @since 0.2.0
 * @category constructors
 */
export const tensorsOf = (value: PyValue, options: Pick<EncodeOptions, "dropNonTensors"> = {}): Effect.Effect<{
  readonly tensors: ReadonlyArray<readonly [string, Tensor]>
  readonly aliases: ReadonlyMap<string, string>
  readonly others: ReadonlyArray<string>
}, CheckpointError> =>
  attempt(() => {
    const { tensors, others } = flatten(value)
    if (others.length > 0 && options.dropNonTensors !== true) {
      const listed = others.length > 20 ? `${others.slice(0, 20).join(", ")} and ${others.length - 20} more` : others.join(", ")
      throw new CheckpointError({ reason: "BadRecord", offset: 0, record: others[0]!, detail: `safetensors holds tensors only; not tensors: ${listed} (leave them out with dropNonTensors, or convert's --drop-non-tensors)` })
    }
    const { kept, aliases } = dedupe(tensors)
    return { tensors: kept, aliases, others }
  }, CheckpointError)

/**
 * Plans the safetensors file of tensors (`tensorsOf`'s): its header and its
 * tensors in save_file's order. Fails for a dtype safetensors has no name
 * for (quantized, complex128, ...).
 *
 * @since 0.2.0
 * @category constructors
 */
export const planOf = (
  tensors: ReadonlyArray<readonly [string, Tensor]>,
  metadata: ReadonlyMap<string, string> | undefined,
  dropped: ReadonlyArray<string> = []
): Effect.Effect<Plan, CheckpointError> =>
  attempt(() => {
    const planned = tensors.map(([name, t]) => {
      const dtype = safetensorsDtypeOf.get(t.dtype.name)
      if (dtype === undefined || t.quantization !== undefined) {
        throw new CheckpointError({ reason: "UnknownDtype", offset: 0, record: name, detail: `safetensors has no dtype for ${t.quantization === undefined ? "" : "quantized "}${t.dtype.name}` })
      }
      // F4 counts elements: two a byte of torch's float4_e2m1fn_x2.
      const shape = dtype === "F4" ? [...t.shape.slice(0, -1), (t.shape.at(-1) ?? 0) * 2] : t.shape
      return { name, dtype, shape, nbytes: t.nbytes, tensor: t }
    })
    const ordered = writeOrder(planned)
    const header = encodeHeader(ordered, metadata)
    const size = ordered.reduce((n, t) => n + t.nbytes, header.length)
    return { tensors: ordered.map((t) => [t.name, t.tensor] as const), header, dropped, size }
  }, CheckpointError)

/**
 * Plans a safetensors file for a value: `tensorsOf`, then `planOf`; the
 * names left out are the aliases and (with `dropNonTensors`) the
 * non-tensors.
 *
 * @since 0.2.0
 * @category constructors
 */
export const plan = (value: PyValue, options: EncodeOptions = {}): Effect.Effect<Plan, CheckpointError> =>
  Effect.flatMap(tensorsOf(value, options), ({ aliases, others, tensors }) => planOf(tensors, options.metadata, [...aliases.keys(), ...others]))

/**
 * The file's bytes as a stream: the header, then each tensor's bytes
 * (row-major, little-endian). A tensor that is the whole of a little-endian
 * storage (a state_dict's usual tensor) streams from its file chunk by
 * chunk; any other (a view, a big-endian file's) is read whole, one at a
 * time. `readAhead: n` reads n chunks ahead of the consumer, so reads
 * overlap its writes (`NodeSave` writes take 2).
 *
 * @since 0.2.0
 * @category encoding
 */
export const toStream = (p: Plan, options: { readonly readAhead?: number } = {}): Stream.Stream<Uint8Array, TorchwireError> => {
  const chunks = Stream.concat(Stream.make(p.header), Stream.flatMap(Stream.fromIterable(p.tensors), ([, t]) => tensorChunks(t)))
  return (options.readAhead ?? 0) > 0 ? Stream.bufferChunks(chunks, { capacity: options.readAhead! }) : chunks
}

/** A tensor's bytes as chunks: its storage's, streamed, when it is all of a little-endian storage in order; else read whole. */
const tensorChunks = (t: Tensor): Stream.Stream<Uint8Array, TorchwireError> => {
  const s = t.storage
  return s !== undefined && coversStorage(t) && (s.byteOrder === "little" || t.dtype.itemSize === 1) ? streamOf(s.bytes) : Stream.fromEffect(bytes(t))
}

/**
 * `plan` then `toStream`: the safetensors file of a value.
 *
 * @since 0.2.0
 * @category encoding
 */
export const encode = (value: PyValue, options: EncodeOptions = {}): Stream.Stream<Uint8Array, TorchwireError> =>
  Stream.unwrap(Effect.map(plan(value, options), toStream))
